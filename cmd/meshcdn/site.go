package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/meshcdn/meshcdn/cluster/autotls"
	"github.com/meshcdn/meshcdn/edge"
)

// siteSettings are the per-site settings of a nodeConfig beyond the origin
// and caching fields it always had: the flags of one site, or one entry of
// a configuration file's sites:.
type siteSettings struct {
	SiteName       string
	Hosts          []string // empty: every host (the default site)
	OriginHost     string   // Host sent to the origin; "" = the client's
	OriginTLS      *tls.Config
	RedirectHTTP   bool
	RedirectPort   int
	ResponseRemove []string
	Shield         string        // edge.Site.Shield
	ACME           *autotls.Site // tls: acme (acme.go); nil = certificate files
}

// Bounds of the per-site settings.
const (
	maxHostsPerSite = 256
	maxRemoved      = 64
	maxPEMFile      = 1 << 20
)

// siteConfig validates the per-site flags of f into c, reporting each
// problem to bad.
func (f *serveFlags) siteConfig(c *nodeConfig, bad func(error)) {
	if !validSiteName(f.siteName) {
		bad(usagef("--site-name: %q must be 1-64 letters, digits, '-', '_' or '.'", f.siteName))
	}
	c.SiteName = f.siteName
	c.Hosts = splitList(f.hosts)
	if len(c.Hosts) > maxHostsPerSite {
		bad(usagef("--hosts: at most %d names", maxHostsPerSite))
	}
	for _, h := range c.Hosts {
		if !validHostName(strings.TrimPrefix(h, "*.")) || strings.HasPrefix(h, ".") {
			bad(usagef("--hosts: %q is not a host name or a wildcard such as *.example.com", h))
		}
	}
	if f.originHost != "" && !validHostName(strings.TrimSuffix(f.originHost, portSuffix(f.originHost))) {
		bad(usagef("--origin-host: %q is not a host name (with an optional :PORT)", f.originHost))
	}
	c.OriginHost = f.originHost
	if f.redirectPort < 0 || f.redirectPort > 65535 {
		bad(usagef("--redirect-port must be between 0 (the default, 443) and 65535"))
	}
	c.RedirectHTTP, c.RedirectPort = f.redirectHTTP, f.redirectPort
	if err := edge.CheckShield(f.shield); err != nil {
		bad(usagef("--shield: %v", err))
	}
	c.Shield = f.shield
	c.ResponseRemove = splitList(f.responseRemove)
	if len(c.ResponseRemove) > maxRemoved {
		bad(usagef("--response-remove: at most %d header names", maxRemoved))
	}
	for _, h := range c.ResponseRemove {
		if !validHeaderName(h) {
			bad(usagef("--response-remove: %q is not a header field name", h))
		}
	}
	var err error
	if c.OriginTLS, err = originTLS(f.originCAFile, f.originCertFile, f.originKeyFile); err != nil {
		bad(err)
	} else if c.OriginTLS != nil && c.Origin != nil && c.Origin.Scheme != "https" {
		bad(usagef("--origin-ca-file and --origin-cert-file need an https:// --origin"))
	}
}

// portSuffix is ":PORT" at the end of a host, or "".
func portSuffix(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[i:]
	}
	return ""
}

func validSiteName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// originTLS builds the TLS client configuration for an origin: CA roots
// from caFile (PEM; "" = the system's), a client certificate from
// certFile and keyFile (both or neither). nil when nothing is set.
func originTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := readBounded(caFile, maxPEMFile)
		if err != nil {
			return nil, usagef("--origin-ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--origin-ca-file: %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, usagef("--origin-cert-file and --origin-key-file go together (the client certificate and its key)")
	}
	if certFile != "" {
		certPEM, err := readBounded(certFile, maxPEMFile)
		if err != nil {
			return nil, usagef("--origin-cert-file: %v", err)
		}
		keyPEM, err := readBounded(keyFile, maxPEMFile)
		if err != nil {
			return nil, usagef("--origin-key-file: %v", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, usagef("--origin-cert-file: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// edgeSite is the edge's Site for c's site settings.
func edgeSite(c nodeConfig) *edge.Site {
	name := c.SiteName
	if name == "" {
		name = "default"
	}
	return &edge.Site{
		Name:                    name,
		Hosts:                   c.Hosts,
		Origin:                  c.Origin,
		OriginHost:              c.OriginHost,
		OriginTLS:               c.OriginTLS,
		RedirectHTTP:            c.RedirectHTTP,
		RedirectPort:            c.RedirectPort,
		ResponseRemove:          c.ResponseRemove,
		Shield:                  c.Shield,
		DefaultTTL:              c.DefaultTTL,
		DefaultSWR:              c.DefaultSWR,
		DefaultSIE:              c.DefaultSIE,
		HonorClientCacheControl: c.HonorClientCacheControl,
		PassCookie:              c.PassCookie,
		MaxObjectSize:           c.MaxObjectSize,
		ConnectTimeout:          min(5*time.Second, c.OriginTimeout),
		FirstByteTimeout:        c.OriginTimeout,
		BetweenBytesTimeout:     c.OriginTimeout,
		VaryGeo:                 c.VaryGeo,
		GeoCountryHeader:        c.GeoCountryHeader,
		GeoContinentHeader:      c.GeoContinentHeader,
		StoreCloseDelimited:     c.StoreCloseDelimited,
		MaxOriginConns:          c.OriginMaxConns,
		OriginQueue:             c.OriginQueue,
		ClientBodyDeadline:      c.ClientBodyDeadline,
		ClientBodyTimeout:       c.ClientBodyTimeout,
		ClientBodyMinRate:       c.ClientBodyMinRate,
		ClientBodyBuffer:        c.ClientBodyBuffer,
	}
}
