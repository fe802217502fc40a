package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/meshcdn/meshcdn/edge/certs"
)

// The demo's certificate: ECDSA P-256 for localhost, 127.0.0.1 and the
// demo's host, loadable by the nodes, its fingerprint and pin printed with
// curl lines for both schemes, its files removed at the end.
func TestDemoCertificate(t *testing.T) {
	c, err := makeDemoCert(netip.MustParseAddr("127.0.0.9"))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(c.pair.Cert, c.pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", leaf.PublicKeyAlgorithm)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "127.0.0.9"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate not valid for %s: %v", h, err)
		}
	}
	if c.fingerprint != certs.Fingerprint(leaf.Raw) || len(c.fingerprint) != 95 || !strings.HasPrefix(c.pin, "sha256//") {
		t.Errorf("fingerprint %q, pin %q", c.fingerprint, c.pin)
	}
	var out bytes.Buffer
	printDemo(&out, netip.MustParseAddr("127.0.0.9"), "", c)
	for _, want := range []string{c.fingerprint, "--cacert " + c.pair.Cert, "--pinnedpubkey '" + c.pin + "'", "https://127.0.0.9:8441", "http://127.0.0.9:8081"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo text lacks %q", want)
		}
	}
	c.remove()
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("the certificate directory is still there: %v", err)
	}
}
