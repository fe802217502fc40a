package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshcdn/meshcdn/edge/certs"
)

// writeCert writes a self-signed pair for hosts as dir/name.crt and
// dir/name.key (renamed into place, as renewals do) and returns the
// certificate's PEM.
func writeCert(t *testing.T, dir, name string, hosts ...string) (certPair, []byte) {
	t.Helper()
	c, k, err := certs.SelfSigned(hosts, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := certPair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	for path, b := range map[string][]byte{p.Cert: c, p.Key: k} {
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	return p, c
}

// handshake connects to addr with SNI serverName and returns the name of
// the certificate served (its CN) and the negotiated ALPN protocol.
func handshake(addr, serverName string, cfg *tls.Config) (cn, proto string, err error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.ServerName = serverName
	cfg.InsecureSkipVerify = true // the test looks at the certificate itself
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0].Subject.CommonName, st.NegotiatedProtocol, nil
}

func TestHTTPSFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
		want []certPair
	}{
		{args: nil},
		{args: []string{"--https", ":8443", "--tls-cert", "a.crt", "--tls-key", "a.key", "--tls-cert", "b.crt", "--tls-key", "b.key"},
			want: []certPair{{"a.crt", "a.key"}, {"b.crt", "b.key"}}},
		{args: []string{"--https", ":8443", "--tls-cert", "a.crt", "--tls-cert", "b.crt", "--tls-key", "a.key"}, err: "2 certificates, 1 keys"},
		{args: []string{"--tls-cert", "a.crt", "--tls-key", "a.key"}, err: "needs --https"},
		{args: []string{"--https", ":8443"}, err: "needs a certificate"},
		{args: []string{"--https", "nope", "--tls-cert", "a.crt", "--tls-key", "a.key"}, err: "--https"},
	} {
		fs, f := serveFlagSet()
		if _, err := parseFlags(fs, append([]string{"--origin", "http://127.0.0.1:1"}, tc.args...)); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		c, err := nodeConfigFromFlags(f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if len(c.TLSCerts) != len(tc.want) || (len(tc.want) > 0 && (c.HTTPSListen != ":8443" || c.TLSCerts[0] != tc.want[0] || c.TLSCerts[1] != tc.want[1])) {
			t.Errorf("%v: HTTPS %q certificates %v, want %v", tc.args, c.HTTPSListen, c.TLSCerts, tc.want)
		}
	}
}

// TestServeHTTPS runs meshcdn serve with --https and three certificates
// (a default, an exact name, a wildcard): SNI picks, TLS 1.1 is refused,
// ALPN negotiates h2, requests over HTTP/2 reach the origin as https,
// SIGHUP reloads the certificates (a bad file keeps the old ones) and the
// GeoIP database alike, and a request in flight over HTTP/2 across
// SIGTERM completes.
func TestServeHTTPS(t *testing.T) {
	slowArrived, release := make(chan struct{}), make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(slowArrived)
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto")+" "+r.Header.Get("Via"))
	}))
	defer origin.Close()
	dir := t.TempDir()
	def, defPEM := writeCert(t, dir, "default", "default.test", "127.0.0.1")
	one, _ := writeCert(t, dir, "one", "one.test")
	wild, _ := writeCert(t, dir, "wild", "*.wild.test")
	p := startServe(t, origin.URL, "--https", "127.0.0.1:0", "--drain-delay", "0s",
		"--tls-cert", def.Cert, "--tls-key", def.Key,
		"--tls-cert", one.Cert, "--tls-key", one.Key,
		"--tls-cert", wild.Cert, "--tls-key", wild.Key)
	var started struct{ HTTPS string }
	for _, l := range strings.Split(p.log(), "\n") {
		if strings.Contains(l, `"node started"`) {
			_ = json.Unmarshal([]byte(l), &started)
		}
	}
	addr := started.HTTPS
	if addr == "" {
		t.Fatalf("no https address in the log:\n%s", p.log())
	}

	for sni, want := range map[string]string{"one.test": "one.test", "x.wild.test": "*.wild.test", "a.b.wild.test": "default.test", "other.test": "default.test", "": "default.test"} {
		cn, _, err := handshake(addr, sni, nil)
		if err != nil || cn != want {
			t.Errorf("SNI %q: certificate %q (%v), want %q", sni, cn, err, want)
		}
	}
	if _, _, err := handshake(addr, "one.test", &tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client was accepted")
	}
	if _, proto, err := handshake(addr, "one.test", &tls.Config{NextProtos: []string{"h2", "http/1.1"}}); err != nil || proto != "h2" {
		t.Errorf("ALPN h2 offered: negotiated %q (%v)", proto, err)
	}
	if _, proto, err := handshake(addr, "one.test", &tls.Config{NextProtos: []string{"http/1.1"}}); err != nil || proto != "http/1.1" {
		t.Errorf("ALPN http/1.1 only: negotiated %q (%v)", proto, err)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(defPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	h2 := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := h2.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.ProtoMajor, resp.Header.Get("X-Cache"), string(b)
	}
	if proto, xc, body := get("/a"); proto != 2 || xc != "MISS" || body != "https 2 drain" {
		t.Errorf("h2 GET: HTTP/%d X-Cache %s, origin saw %q", proto, xc, body)
	}

	// SIGHUP: the renewed certificate is served; the GeoIP watcher got
	// the signal too.
	writeCert(t, dir, "one", "renewed.one.test")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "TLS certificates reloaded")
	waitLog(t, p, "geoip reload")
	if cn, _, _ := handshake(addr, "renewed.one.test", nil); cn != "renewed.one.test" {
		t.Errorf("after SIGHUP: certificate %q, want renewed.one.test", cn)
	}
	// A broken renewal: refused, the old certificates keep serving.
	if err := os.WriteFile(one.Key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "certificate reload failed")
	if !strings.Contains(p.log(), one.Key) {
		t.Errorf("the reload error does not name %s", one.Key)
	}
	if cn, _, _ := handshake(addr, "renewed.one.test", nil); cn != "renewed.one.test" {
		t.Errorf("after a bad reload: certificate %q, want renewed.one.test", cn)
	}

	// Drain: an HTTP/2 request in flight across SIGTERM completes.
	slow := make(chan string, 1)
	go func() {
		resp, err := h2.Get("https://" + addr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			slow <- err.Error()
			return
		}
		slow <- resp.Proto + " " + string(b)
	}()
	<-slowArrived
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "draining")
	close(release)
	if got := <-slow; got != "HTTP/2.0 https 2 drain" {
		t.Errorf("the HTTP/2 request in flight across SIGTERM: %q", got)
	}
	if code := p.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// waitLog waits for a log line containing s (bounded: a hang fails).
func waitLog(t *testing.T, p *serveProc, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Failed TLS handshakes (scanners, old clients) are logged at debug level
// only; other server errors at warn.
func TestHandshakeErrorsLoggedAtDebug(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := handshakeLog(zap.New(core))
	l.Printf("http: TLS handshake error from 127.0.0.1:1234: EOF")
	l.Printf("http: panic serving 127.0.0.1:1234: boom")
	all := logs.All()
	if len(all) != 2 || all[0].Level != zap.DebugLevel || all[1].Level != zap.WarnLevel || all[0].Message != "http: TLS handshake error from 127.0.0.1:1234: EOF" {
		t.Fatalf("log entries: %+v", all)
	}
}

// listen.https and tls.certificates in a configuration file reach the
// node's HTTPS settings; --tls-cert/--tls-key replace the file's list.
func TestConfigFileHTTPS(t *testing.T) {
	file := writeFile(t, "c.yaml", `
listen: { https: "127.0.0.1:8443" }
tls:
  certificates:
    - { cert: /etc/a.crt, key: /etc/a.key }
    - { cert: /etc/b.crt, key: /etc/b.key }
sites:
  - name: one
    origin: { url: "http://origin:1" }
`, 0o644)
	st, err := load(t, nil, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	want := []certPair{{"/etc/a.crt", "/etc/a.key"}, {"/etc/b.crt", "/etc/b.key"}}
	if st.node.HTTPSListen != "127.0.0.1:8443" || len(st.node.TLSCerts) != 2 || st.node.TLSCerts[0] != want[0] || st.node.TLSCerts[1] != want[1] {
		t.Errorf("from the file: https %q, certificates %v; want 127.0.0.1:8443 %v", st.node.HTTPSListen, st.node.TLSCerts, want)
	}
	st, err = load(t, map[string]string{"MESHCDN_HTTPS": "127.0.0.1:9443"}, "--config", file, "--tls-cert", "/f.crt", "--tls-key", "/f.key")
	if err != nil {
		t.Fatal(err)
	}
	if st.node.HTTPSListen != "127.0.0.1:9443" || len(st.node.TLSCerts) != 1 || st.node.TLSCerts[0] != (certPair{"/f.crt", "/f.key"}) {
		t.Errorf("with flags and environment: https %q, certificates %v", st.node.HTTPSListen, st.node.TLSCerts)
	}
}
