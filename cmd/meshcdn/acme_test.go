package main

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/cluster/autotls"
	"github.com/meshcdn/meshcdn/edge/certs"
)

// tls: acme in a configuration file: the ACME sites reach the node's
// configuration, and the HTTPS listener needs no certificate file.
func TestConfigACME(t *testing.T) {
	caPEM, _, err := certs.SelfSigned([]string{"ca.internal"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	root := writeFile(t, "root.pem", string(caPEM), 0o644)
	file := writeFile(t, "c.yaml", `node: { data_dir: /var/lib/meshcdn }
listen: { https: ":8443" }
sites:
  - name: shop
    hosts: [shop.example.com, www.shop.example.com]
    origin: { url: "http://a:1" }
    tls: acme
    acme:
      email: ops@example.com
      directory: https://ca.internal/dir
      ca_root: `+root+`
      challenges: [tls-alpn-01]
  - name: plain
    hosts: [b.example.com]
    origin: { url: "http://b:1" }
`, 0o644)
	st, err := load(t, nil, "--config", file, "--check")
	if err != nil {
		t.Fatal(err)
	}
	a := st.node.ACMESites
	if len(a) != 1 || a[0].Name != "shop" || len(a[0].Hosts) != 2 || a[0].Email != "ops@example.com" ||
		a[0].Directory != "https://ca.internal/dir" || a[0].CARoots == nil || len(a[0].Challenges) != 1 || a[0].Challenges[0] != autotls.TLSALPN01 {
		t.Errorf("ACME sites %+v", a)
	}
	if st.node.DataDir != "/var/lib/meshcdn" || len(st.node.TLSCerts) != 0 || st.node.HTTPSListen != ":8443" {
		t.Errorf("data dir %q, certificates %v, https %q", st.node.DataDir, st.node.TLSCerts, st.node.HTTPSListen)
	}

	// Flags: one site, Let's Encrypt by default, both challenges.
	st, err = load(t, nil, "--origin", "http://o:1", "--https", ":8443", "--hosts", "a.example.com", "--tls", "acme", "--data-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a := st.node.ACMESites; len(a) != 1 || a[0].Directory != autotls.LetsEncrypt || len(a[0].Challenges) != 2 {
		t.Errorf("flags: ACME sites %+v", a)
	}
}

// Hostile ACME settings: every problem reported at its line, in terms of
// the configuration.
func TestConfigACMEErrors(t *testing.T) {
	notPEM := writeFile(t, "junk.pem", "junk", 0o644)
	file := writeFile(t, "bad.yaml", `sites:
  - name: a
    hosts: ["*.a.example.com"]
    origin: { url: "http://a:1" }
    tls: acme
  - name: b
    hosts: [b.example.com]
    origin: { url: "http://b:1" }
    tls: acme
    acme:
      directory: http://ca.example.com/dir
      ca_root: `+notPEM+`
      challenges: [dns-01]
      email: "me at example"
  - name: c
    origin: { url: "http://c:1" }
    tls: automatic
`, 0o644)
	_, err := load(t, nil, "--config", file)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		file + `:5: sites[0].tls: acme: host "*.a.example.com": wildcard names need the DNS-01 challenge`,
		"--data-dir: needed by tls: acme",
		file + `:5: sites[0].tls: acme needs the HTTPS listener (--https, listen.https)`,
		file + `:11: sites[1].acme.directory: "http://ca.example.com/dir": the account key and certificates travel there: https only`,
		file + `:12: sites[1].acme.ca_root: ` + notPEM + ` holds no PEM certificate`,
		file + `:9: sites[1].tls: acme: challenge "dns-01": one of http-01, tls-alpn-01`,
		file + `:17: sites[2].tls: "automatic": acme, or empty for the --tls-cert files`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// --https without certificate files and without ACME still needs one.
	_, err = load(t, nil, "--origin", "http://o:1", "--https", ":8443")
	if err == nil || !strings.Contains(err.Error(), "--https needs a certificate") {
		t.Errorf("--https alone: %v", err)
	}
}

// A file certificate for a name wins over ACME; the default file
// certificate does not; TLS-ALPN-01 validations go to ACME.
func TestCertSourcePrecedence(t *testing.T) {
	dir := t.TempDir()
	pair := func(name string, hosts ...string) certs.Pair {
		c, k, err := certs.SelfSigned(hosts, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return certs.Pair{Cert: writeFile(t, name+".crt", string(c), 0o600), Key: writeFile(t, name+".key", string(k), 0o600)}
	}
	files, err := certs.New(certs.Config{Pairs: []certs.Pair{pair("default", "default.test"), pair("file", "both.example.com")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := autotls.New(autotls.Config{DataDir: dir, Sites: []autotls.Site{
		{Name: "both", Hosts: []string{"both.example.com"}}, {Name: "acme", Hosts: []string{"acme.example.com"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	src := certSource{files: files, acme: m}
	get := func(name string, protos ...string) string {
		c, err := src.GetCertificate(&tls.ClientHelloInfo{ServerName: name, SupportedProtos: protos})
		if err != nil {
			return "error"
		}
		return c.Leaf.Subject.CommonName
	}
	if got := get("both.example.com"); got != "both.example.com" {
		t.Errorf("file certificate for the name: got %q", got)
	}
	if got := get("acme.example.com"); got != "default.test" {
		t.Errorf("no ACME certificate yet: got %q, want the default file one", got)
	}
	if got := get("acme.example.com", autotls.ALPNProto); got != "error" {
		t.Errorf("a TLS-ALPN-01 validation without a challenge got %q", got)
	}
	if _, err := (certSource{acme: m}).GetCertificate(&tls.ClientHelloInfo{ServerName: "acme.example.com"}); err == nil {
		t.Error("no certificate at all, and no error")
	}
}
