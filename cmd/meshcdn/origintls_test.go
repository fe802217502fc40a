package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate and key (PEM) for a client.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), cert
}

// TLS to the origin per site: the CA file is trusted (the system roots are
// not enough for a private CA), and the client certificate is presented
// to an origin that requires one.
func TestServeOriginTLS(t *testing.T) {
	clientPEM, clientKey, clientCert := selfSigned(t, "meshcdn-edge")
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	origin.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	origin.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	origin.StartTLS()
	t.Cleanup(origin.Close)
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw})), 0o644)
	cert := writeFile(t, "client.pem", string(clientPEM), 0o644)
	key := writeFile(t, "client.key", string(clientKey), 0o600)

	file := writeFile(t, "c.yaml", fmt.Sprintf(nodeYAML, "16MiB")+`sites:
  - name: private
    hosts: [p.example]
    origin: { url: "`+origin.URL+`", ca_file: `+ca+`, cert_file: `+cert+`, key_file: `+key+` }
  - name: nocert
    hosts: [n.example]
    origin: { url: "`+origin.URL+`", ca_file: `+ca+` }
  - name: noca
    hosts: [s.example]
    origin: { url: "`+origin.URL+`" }
`, 0o644)
	n := startFromConfig(t, file, nopLogger())
	if r := getHost(t, n.edgeAddr, "p.example", "/"); r.code != 200 || r.body != "hello meshcdn-edge" {
		t.Errorf("with CA and client certificate: %+v", r)
	}
	for _, host := range []string{"n.example", "s.example"} {
		if r := getHost(t, n.edgeAddr, host, "/"); r.code != http.StatusBadGateway {
			t.Errorf("%s: %+v, want 502", host, r)
		}
	}

	// Files that are not what they should be are configuration errors.
	bad := writeFile(t, "bad.yaml", `sites:
  - name: x
    origin: { url: "http://o:1", ca_file: `+key+` }
  - name: y
    hosts: [y.example]
    origin: { url: "https://o:1", cert_file: `+cert+` }
`, 0o644)
	_, err := load(t, nil, "--config", bad)
	if err == nil || !strings.Contains(err.Error(), bad+":3: sites[0].origin.ca_file: "+key+" holds no PEM certificate") ||
		!strings.Contains(err.Error(), "sites[1].origin.cert_file: --origin-cert-file and --origin-key-file go together") {
		t.Errorf("bad TLS files: %v", err)
	}
}
