// Package pebbletest runs Pebble, Let's Encrypt's test CA, and
// pebble-challtestsrv (its DNS server) on loopback for tests: both built
// from their module through the module proxy (go install PKG@VERSION into a
// temporary directory; the build cache makes later runs fast), without
// touching this module's go.mod. Pebble's validations are aimed at the
// nodes under test by DNS A records (PointDNS) and fixed ports (HTTPPort,
// TLSPort), so a test chooses which node the CA's validators reach.
package pebbletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

const pebbleModule = "github.com/letsencrypt/pebble/v2"
const pebbleVersion = "v2.10.3"

var (
	pebbleMu   sync.Mutex // guards the three below against Cleanup
	pebbleOnce sync.Once
	pebbleBin  string
	pebbleErr  error
)

// Cleanup removes the built binaries (from TestMain after m.Run, or
// deferred in a test); a later Start builds them again.
func Cleanup() {
	pebbleMu.Lock()
	defer pebbleMu.Unlock()
	if pebbleBin != "" {
		os.RemoveAll(pebbleBin)
	}
	pebbleOnce, pebbleBin, pebbleErr = sync.Once{}, "", nil
}

// buildPebble installs pebble and pebble-challtestsrv into a temporary
// directory (go install PKG@VERSION: the module proxy on a fresh machine,
// the build cache afterwards). It does not touch this module's go.mod.
func build(t *testing.T) string {
	t.Helper()
	pebbleMu.Lock()
	defer pebbleMu.Unlock()
	pebbleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshcdn-pebble-")
		if err != nil {
			pebbleErr = err
			return
		}
		pebbleBin = dir
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		cmd := exec.Command(goBin, "install",
			pebbleModule+"/cmd/pebble@"+pebbleVersion,
			pebbleModule+"/cmd/pebble-challtestsrv@"+pebbleVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pebbleErr = fmt.Errorf("go install pebble: %v\n%s", err, out)
		}
	})
	if pebbleErr != nil {
		t.Fatal(pebbleErr)
	}
	return pebbleBin
}

// pebble is a running Pebble with its DNS server.
type Pebble struct {
	dir       string
	Roots     *x509.CertPool // trusts Pebble's HTTPS listener (a test CA made here)
	Directory string         // the ACME directory URL
	mgmt      string         // Pebble's management URL
	dnsMgmt   string         // challtestsrv's management URL
	HTTPPort  int            // where Pebble sends HTTP-01 validations
	TLSPort   int            // and TLS-ALPN-01 validations
}

type Options struct {
	Validity int // certificate lifetime in seconds (0: 90 days)
}

func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func Start(t *testing.T, o Options) *Pebble {
	t.Helper()
	bin := build(t)
	p := &Pebble{dir: t.TempDir()}
	caPEM, certPEM, keyPEM := testCA(t, "127.0.0.1")
	p.Roots = x509.NewCertPool()
	p.Roots.AppendCertsFromPEM(caPEM)
	write := func(name string, b []byte) string {
		path := filepath.Join(p.dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	acmePort, mgmtPort, dnsPort, dnsMgmtPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	p.HTTPPort, p.TLSPort = FreePort(t), FreePort(t)
	validity := o.Validity
	if validity == 0 {
		validity = 90 * 24 * 3600
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             write("pebble.crt", certPEM),
		"privateKey":              write("pebble.key", keyPEM),
		"httpPort":                p.HTTPPort,
		"tlsPort":                 p.TLSPort,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"profiles":                map[string]any{"default": map[string]any{"description": "test", "validityPeriod": validity}},
	}}
	cj, _ := json.Marshal(cfg)
	cfgPath := write("pebble.json", cj)

	dns := exec.Command(filepath.Join(bin, "pebble-challtestsrv"),
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort),
		"-management", fmt.Sprintf("127.0.0.1:%d", dnsMgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	startProc(t, dns, "challtestsrv")
	pb := exec.Command(filepath.Join(bin, "pebble"), "-config", cfgPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	pb.Dir = p.dir
	pb.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	startProc(t, pb, "pebble")

	p.Directory = fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort)
	p.mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmtPort)
	p.dnsMgmt = fmt.Sprintf("http://127.0.0.1:%d", dnsMgmtPort)
	cl := p.Client()
	WaitFor(t, 20*time.Second, "pebble and challtestsrv to answer", func() bool {
		r, err := cl.Get(p.Directory)
		if err != nil {
			return false
		}
		r.Body.Close()
		r2, err := http.Post(p.dnsMgmt+"/clear-request-history", "application/json", bytes.NewReader([]byte(`{"host":"x"}`)))
		if err != nil {
			return false
		}
		r2.Body.Close()
		return r.StatusCode == 200
	})
	return p
}

func startProc(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && testing.Verbose() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

func (p *Pebble) Client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}}}
}

// pointDNS makes name resolve to ip (A record; no AAAA).
func (p *Pebble) PointDNS(t *testing.T, name, ip string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"host": name + ".", "addresses": []string{ip}})
	r, err := http.Post(p.dnsMgmt+"/add-a", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("add-a: HTTP %d", r.StatusCode)
	}
}

// issuerRoots are the roots of the certificates Pebble issues (made anew
// at each start), from its management interface.
func (p *Pebble) IssuerRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	r, err := p.Client().Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: %q", b)
	}
	return pool
}

// testCA makes a CA and a server certificate it signs for host (an IP).
func testCA(t *testing.T, host string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "meshcdn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(host)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func WaitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
