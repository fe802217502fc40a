package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshcdn/meshcdn/cluster/autotls"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/edge/certs"
)

// acmeFlags are the per-site flags of automatic HTTPS (tls: acme) and the
// node's data directory.
type acmeFlags struct {
	tls            string
	acmeEmail      string
	acmeDirectory  string
	acmeCARoot     string
	acmeChallenges string
	dataDir        string
	acmeElsewhere  bool // another site of the file uses ACME (the HTTPS listener has certificates)
}

func addACMEFlags(fs *flag.FlagSet, f *acmeFlags) {
	fs.StringVar(&f.tls, "tls", "", "per site: `acme` = certificates from an ACME CA (Let's Encrypt by default), ordered once for the cluster and shared by every node; empty = the --tls-cert files")
	fs.StringVar(&f.acmeEmail, "acme-email", "", "per site: ACME account contact `address` (expiry notices)")
	fs.StringVar(&f.acmeDirectory, "acme-directory", autotls.LetsEncrypt, "per site: ACME directory `URL` (Let's Encrypt staging: https://acme-staging-v02.api.letsencrypt.org/directory, or any RFC 8555 CA)")
	fs.StringVar(&f.acmeCARoot, "acme-ca-root", "", "per site: PEM `file` of the CA roots trusted for the ACME directory (a private CA; empty: the system's)")
	fs.StringVar(&f.acmeChallenges, "acme-challenges", "http-01,tls-alpn-01", "per site: ACME challenge `types` in order of preference: http-01 (on --listen, port 80 for the CA), tls-alpn-01 (on --https, port 443)")
	fs.StringVar(&f.dataDir, "data-dir", "", "`directory` where the node keeps state across restarts: ACME account keys and certificates (0700/0600)")
}

// acmeConfig validates the site's ACME flags into c.
func (f *serveFlags) acmeConfig(c *nodeConfig, bad func(error)) {
	c.DataDir = f.dataDir
	switch f.tls {
	case "":
		return
	case "acme":
	default:
		bad(usagef("--tls: %q: acme, or empty for the --tls-cert files", f.tls))
		return
	}
	s := autotls.Site{Name: c.SiteName, Hosts: c.Hosts, Email: f.acmeEmail, Directory: f.acmeDirectory, Challenges: splitList(f.acmeChallenges)}
	if err := autotls.CheckSite(s); err != nil {
		if len(c.Hosts) == 0 {
			bad(usagef("--tls: acme needs the site's --hosts (the certificate's names)"))
		} else {
			bad(usagef("--tls: acme: %v", err))
		}
	}
	if err := checkDirectory(f.acmeDirectory); err != nil {
		bad(err)
	}
	if f.acmeCARoot != "" {
		pem, err := readBounded(f.acmeCARoot, maxPEMFile)
		if err != nil {
			bad(usagef("--acme-ca-root: %v", err))
		} else {
			s.CARoots = x509.NewCertPool()
			if !s.CARoots.AppendCertsFromPEM(pem) {
				bad(usagef("--acme-ca-root: %s holds no PEM certificate", f.acmeCARoot))
			}
		}
	}
	if f.dataDir == "" {
		bad(usagef("--data-dir: needed by tls: acme (the certificates are kept there, so that a restart does not order again)"))
	}
	if c.HTTPSListen == "" {
		bad(usagef("--tls: acme needs the HTTPS listener (--https, listen.https)"))
	}
	c.ACME = &s
}

// checkDirectory: an https URL, or http to a loopback address (a test CA).
func checkDirectory(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return usagef("--acme-directory: %q is not a URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() || u.Hostname() == "localhost" {
			return nil
		}
	}
	return usagef("--acme-directory: %q: the account key and certificates travel there: https only (http for a loopback test CA)", s)
}

// acmeSites collects the sites that use ACME.
func acmeSites(sites []nodeConfig) []autotls.Site {
	var out []autotls.Site
	for _, c := range sites {
		if c.ACME != nil {
			out = append(out, *c.ACME)
		}
	}
	return out
}

// startACME starts the certificate manager when sites use ACME.
func (n *node) startACME(ctx context.Context) error {
	if len(n.cfg.ACMESites) == 0 {
		return nil
	}
	m, err := autotls.New(autotls.Config{
		Sites: n.cfg.ACMESites, DataDir: filepath.Join(n.cfg.DataDir, "acme"), Cluster: n.cluster,
		Logger: n.log.Named("acme"), Registerer: n.registry, Timing: n.cfg.acmeTiming,
	})
	if err != nil {
		return usagef("--tls acme: %v", err)
	}
	n.acme = m
	go m.Run(ctx)
	return nil
}

// certSource is the HTTPS listener's certificates: a file certificate for
// the name wins, then the ACME certificate, then the default file
// certificate; TLS-ALPN-01 validations go to ACME.
type certSource struct {
	files *certs.Store     // nil: none
	acme  *autotls.Manager // nil: none
}

func (s certSource) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.acme != nil && slices.Contains(h.SupportedProtos, autotls.ALPNProto) {
		return s.acme.GetCertificate(h)
	}
	if s.files != nil {
		if c, ok := s.files.Match(h.ServerName); ok {
			return c, nil
		}
	}
	if s.acme != nil {
		if c := s.acme.Lookup(h.ServerName); c != nil {
			return c, nil
		}
	}
	if s.files != nil {
		return s.files.GetCertificate(h)
	}
	return nil, fmt.Errorf("no certificate for %q (yet)", strings.ToLower(h.ServerName))
}

// tlsConfig is the HTTPS listener's configuration, offering acme-tls/1
// when a site validates by TLS-ALPN-01.
func (n *node) tlsConfig() *tls.Config {
	src := certSource{files: n.certs, acme: n.acme}
	cfg := edge.TLSConfig(src)
	if n.acme != nil {
		cfg.NextProtos = append(cfg.NextProtos, autotls.ALPNProto)
	}
	return cfg
}

// acmeStatus is /readyz's "tls" detail (nil without ACME).
func (n *node) acmeStatus() any {
	if n.acme == nil {
		return nil
	}
	return n.acme.Status()
}

// acmeChanged reports whether two sets of ACME sites differ in what the
// certificate manager was started with (a reload cannot change them).
func acmeChanged(a, b []autotls.Site) bool {
	key := func(ss []autotls.Site) string {
		var k strings.Builder
		for _, s := range ss {
			fmt.Fprintf(&k, "%s|%v|%s|%s|%v|%t;", s.Name, s.Hosts, s.Email, s.Directory, s.Challenges, s.CARoots != nil)
		}
		return k.String()
	}
	return key(a) != key(b)
}
