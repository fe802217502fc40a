package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/meshcdn/meshcdn/edge/certs"
)

// demoCert is the demo's self-signed certificate (ECDSA P-256, for
// localhost, 127.0.0.1 and the demo's --host), made at start. Its files
// live in a private temporary directory, removed when the demo stops:
// the nodes load them like serve's --tls-cert/--tls-key, and curl can
// trust the certificate with --cacert.
type demoCert struct {
	dir         string
	pair        certPair
	fingerprint string // SHA-256 of the certificate
	pin         string // curl --pinnedpubkey
}

func makeDemoCert(ip netip.Addr) (*demoCert, error) {
	hosts := []string{"localhost", "127.0.0.1"}
	if ip.String() != "127.0.0.1" && !ip.IsUnspecified() {
		hosts = append(hosts, ip.String())
	}
	certPEM, keyPEM, err := certs.SelfSigned(hosts, time.Now().Add(30*24*time.Hour))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("demo certificate: %w", err)
	}
	dir, err := os.MkdirTemp("", "meshcdn-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo certificate: %w", err)
	}
	c := &demoCert{dir: dir, pair: certPair{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")},
		fingerprint: certs.Fingerprint(leaf.Raw), pin: certs.PublicKeyPin(leaf)}
	for path, b := range map[string][]byte{c.pair.Cert: certPEM, c.pair.Key: keyPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			c.remove()
			return nil, fmt.Errorf("demo certificate: %w", err)
		}
	}
	return c, nil
}

func (c *demoCert) remove() { _ = os.RemoveAll(c.dir) }
