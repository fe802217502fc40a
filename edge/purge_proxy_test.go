package edge

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/geo"
)

// Issue 9 item 11: PURGE through a trusted proxy (a TLS terminator on the
// same host, which appends the client to X-Forwarded-For) is judged by the
// client address the proxy reports, not by the proxy's own address. Real
// sockets throughout: the client dials the terminator from one loopback
// address, the terminator dials the edge from another.
func TestPurgeThroughTrustedProxy(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	})
	pfx := func(s ...string) (out []netip.Prefix) {
		for _, v := range s {
			out = append(out, netip.MustParsePrefix(v))
		}
		return out
	}
	const proxyAddr = "127.0.0.2" // the terminator's address towards the edge
	cases := []struct {
		name     string
		trusted  []netip.Prefix
		allow    []netip.Prefix
		from     string   // the client's address towards the terminator
		direct   bool     // the client talks to the edge itself
		hdr      []string // request header fields the client sends
		status   int
		reason   string
		purgedOK bool
	}{
		// The setup: --purge-allow 127.0.0.0/8, the terminator
		// trusted, a client claiming 8.8.8.8.
		{"issue: loopback trusted and allowed, X-Forwarded-For 8.8.8.8", pfx("127.0.0.0/8"), pfx("127.0.0.0/8"), "127.0.0.1", false,
			[]string{"X-Forwarded-For", "8.8.8.8"}, 401, "missing_token", false},
		{"client not allowed, through the allowed terminator", pfx(proxyAddr + "/32"), pfx(proxyAddr+"/32", "127.0.0.4/32"), "127.0.0.3", false,
			nil, 401, "missing_token", false},
		{"client not allowed, claiming an allowed address", pfx(proxyAddr + "/32"), pfx(proxyAddr+"/32", "127.0.0.4/32"), "127.0.0.3", false,
			[]string{"X-Forwarded-For", "127.0.0.4"}, 401, "missing_token", false},
		{"client not allowed, wrong token", pfx(proxyAddr + "/32"), pfx(proxyAddr + "/32"), "127.0.0.3", false,
			[]string{"Fastly-Key", "nope"}, 403, "bad_token", false},
		{"client not allowed, with the token", pfx(proxyAddr + "/32"), pfx(proxyAddr + "/32"), "127.0.0.3", false,
			[]string{"Fastly-Key", "secret"}, 200, "", true},
		{"allowed client through the terminator", pfx(proxyAddr + "/32"), pfx("127.0.0.4/32"), "127.0.0.4", false,
			nil, 200, "", true},
		{"allowed client direct", pfx(proxyAddr + "/32"), pfx("127.0.0.4/32"), "127.0.0.4", true,
			nil, 200, "", true},
		{"untrusted peer: its X-Forwarded-For is not believed", nil, pfx("127.0.0.4/32"), "127.0.0.3", true,
			[]string{"X-Forwarded-For", "127.0.0.4"}, 401, "missing_token", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: c.trusted, PollInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			e := newEdge(t, o, func(cfg *Config, _ *Site) {
				cfg.Geo = res
				cfg.PurgeToken = "secret"
				cfg.PurgeAllow = c.allow
			})
			target := e.srv.URL
			if !c.direct {
				target = tlsTerminator(t, e.srv.URL, proxyAddr)
			}
			e.get("/obj")
			e.settle()
			status, body := requestFrom(t, c.from, "PURGE", target+"/obj", c.hdr...)
			if status != c.status {
				t.Fatalf("PURGE: %d, want %d: %s", status, c.status, body)
			}
			if c.reason != "" {
				e.waitCounter(1, "meshcdn_edge_purge_denied_total", "reason", c.reason)
			}
			if x := e.get("/obj").Header.Get("X-Cache"); (x == "MISS") != c.purgedOK {
				t.Errorf("after PURGE: X-Cache %s (purged: want %v)", x, c.purgedOK)
			}
		})
	}
}

// tlsTerminator starts a TLS reverse proxy on 127.0.0.1 in front of backend
// that dials the backend from the loopback address from and appends the
// client's address to X-Forwarded-For, as nginx or HAProxy do. It returns
// its https URL.
func tlsTerminator(t *testing.T, backend, from string) string {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		r.Host = u.Host // the site's host, as a terminator configured for it sends
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	rp.Transport = tr
	srv := httptest.NewTLSServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// requestFrom sends one request from the loopback address from (TLS
// certificates not verified: the terminator's is the test server's).
func requestFrom(t *testing.T, from, method, target string, hdr ...string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, target, from, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
