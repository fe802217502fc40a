package edge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshcdn/meshcdn/edge/certs"
)

// tlsEnv is an edgeEnv whose proxy also serves HTTPS (HTTP/2 and HTTP/1.1
// by ALPN) the way meshcdn serve does: TLSConfig, ServeProtocols, ServeTLS.
type tlsEnv struct {
	*edgeEnv
	tlsURL string
	h2, h1 *http.Client // over TLS: HTTP/2, HTTP/1.1 only
}

func newTLSEdge(t *testing.T, o *origin, opts ...envOpt) *tlsEnv {
	t.Helper()
	e := newEdge(t, o, opts...)
	certPEM, keyPEM, err := certs.SelfSigned([]string{"www.test", "127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pair := certs.Pair{Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "k.pem")}
	if err := os.WriteFile(pair.Cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pair.Key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := certs.New(certs.Config{Pairs: []certs.Pair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.proxy, TLSConfig: TLSConfig(src), Protocols: ServeProtocols(),
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := func(h2 bool) *http.Client {
		p := new(http.Protocols)
		p.SetHTTP1(!h2)
		p.SetHTTP2(h2)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2,
			Protocols: p, DisableCompression: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &tlsEnv{edgeEnv: e, tlsURL: "https://" + ln.Addr().String(), h2: client(true), h1: client(false)}
}

// call sends one request with c to base+path; hdr are name/value pairs
// ("Host" sets the request's host).
func call(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp{res, string(b)}
}

// seenHeaders records the request header the origin got, per path.
type seenHeaders struct {
	mu sync.Mutex
	m  map[string]http.Header
}

func (s *seenHeaders) put(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]http.Header{}
	}
	s.m[r.URL.Path] = r.Header.Clone()
}

func (s *seenHeaders) get(path string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[path]
}

// TestH2SharesTheCacheWithHTTP1: one object cached by a request over
// HTTP/2 is a hit for HTTP/1.1 over TLS and for plain HTTP (no Vary on the
// scheme), and the origin's view of a fetch does not depend on the client's
// protocol, except Via, which names the protocol of each hop.
func TestH2SharesTheCacheWithHTTP1(t *testing.T) {
	var seen seenHeaders
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		seen.put(r)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "body of %s", r.URL.Path)
	})
	e := newTLSEdge(t, o)
	h := []string{"Host", "www.test", "Accept-Encoding", "gzip", "User-Agent", "ua"}
	r := call(t, e.h2, "GET", e.tlsURL+"/a", nil, h...)
	if r.ProtoMajor != 2 || r.Header.Get("X-Cache") != "MISS" || r.body != "body of /a" {
		t.Fatalf("h2 first: proto %d X-Cache %q body %q", r.ProtoMajor, r.Header.Get("X-Cache"), r.body)
	}
	e.settle()
	r = call(t, e.h1, "GET", e.tlsURL+"/a", nil, h...)
	if r.ProtoMajor != 1 || r.Header.Get("X-Cache") != "HIT" || r.body != "body of /a" {
		t.Fatalf("HTTP/1.1 over TLS after h2: proto %d X-Cache %q body %q", r.ProtoMajor, r.Header.Get("X-Cache"), r.body)
	}
	r = call(t, e.client, "GET", e.srv.URL+"/a", nil, h...)
	if r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("plain HTTP after h2: X-Cache %q", r.Header.Get("X-Cache"))
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin fetched %d times, want 1", n)
	}

	// The same fetch made for an HTTP/1.1 client over TLS: the same
	// header at the origin, Via aside.
	call(t, e.h1, "GET", e.tlsURL+"/b", nil, h...)
	a, b := seen.get("/a").Clone(), seen.get("/b").Clone()
	if got := a.Get("Via"); got != "2 edge1" {
		t.Errorf("origin Via for an h2 client: %q, want \"2 edge1\"", got)
	}
	if got := b.Get("Via"); got != "1.1 edge1" {
		t.Errorf("origin Via for an HTTP/1.1 client: %q, want \"1.1 edge1\"", got)
	}
	a.Del("Via")
	b.Del("Via")
	if fa, fb := fmt.Sprint(a), fmt.Sprint(b); fa != fb {
		t.Errorf("the origin's view depends on the client's protocol:\n h2:       %s\n HTTP/1.1: %s", fa, fb)
	}
}

// TestForwardedProtoOverTLS: the origin learns the scheme the client used,
// whatever the client claims.
func TestForwardedProtoOverTLS(t *testing.T) {
	var seen seenHeaders
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { seen.put(r) })
	e := newTLSEdge(t, o)
	for _, tc := range []struct {
		name, url string
		c         *http.Client
		want      string
	}{
		{"h2", e.tlsURL + "/h2", e.h2, "https"},
		{"h1tls", e.tlsURL + "/h1tls", e.h1, "https"},
		{"plain", e.srv.URL + "/plain", e.client, "http"},
	} {
		claim := "https"
		if tc.want == "https" {
			claim = "http"
		}
		call(t, tc.c, "GET", tc.url, nil, "X-Forwarded-Proto", claim)
		path := tc.url[strings.LastIndex(tc.url, "/"):]
		if got := seen.get(path)["X-Forwarded-Proto"]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: origin got X-Forwarded-Proto %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVaryForwardedProtoKeepsSchemesApart: an origin that varies on
// X-Forwarded-Proto gets one variant per scheme, each a hit afterwards.
func TestVaryForwardedProtoKeepsSchemesApart(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Forwarded-Proto")
		io.WriteString(w, "scheme "+r.Header.Get("X-Forwarded-Proto"))
	})
	e := newTLSEdge(t, o)
	host := []string{"Host", "www.test"}
	for i, want := range []struct {
		c           *http.Client
		base, body  string
		xcache      string
		originCalls int64
	}{
		{e.client, e.srv.URL, "scheme http", "MISS", 1},
		{e.h2, e.tlsURL, "scheme https", "MISS", 2},
		{e.client, e.srv.URL, "scheme http", "HIT", 2},
		{e.h2, e.tlsURL, "scheme https", "HIT", 2},
		{e.h1, e.tlsURL, "scheme https", "HIT", 2},
	} {
		r := call(t, want.c, "GET", want.base+"/v", nil, host...)
		if r.body != want.body || r.Header.Get("X-Cache") != want.xcache || o.hits.Load() != want.originCalls {
			t.Errorf("request %d: %q X-Cache %s, origin calls %d; want %q %s %d", i, r.body, r.Header.Get("X-Cache"), o.hits.Load(), want.body, want.xcache, want.originCalls)
		}
		e.settle()
	}
}

// unsized hides a reader's length, so that the client sends the body
// without Content-Length (HTTP/2 DATA frames, chunked on HTTP/1.1).
type unsized struct{ io.Reader }

// TestH2RequestBodyWithoutLength: a POST over HTTP/2 without
// Content-Length reaches the origin whole.
func TestH2RequestBodyWithoutLength(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %d %s", r.ContentLength, len(b), b[:10])
	})
	e := newTLSEdge(t, o)
	body := strings.Repeat("0123456789", 10000)
	r := call(t, e.h2, "POST", e.tlsURL+"/post", unsized{strings.NewReader(body)})
	if r.ProtoMajor != 2 || r.StatusCode != 200 || r.body != "-1 100000 0123456789" {
		t.Fatalf("h2 POST: proto %d status %d body %q", r.ProtoMajor, r.StatusCode, r.body)
	}
	r = call(t, e.h2, "POST", e.tlsURL+"/post", strings.NewReader(body))
	if r.StatusCode != 200 || r.body != "100000 100000 0123456789" {
		t.Fatalf("h2 POST with a length: status %d body %q", r.StatusCode, r.body)
	}
}

// TestH2RangeAndHead: Range, conditional requests and HEAD are answered from the cache over
// HTTP/2 as over HTTP/1.1.
func TestH2RangeAndHead(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, "0123456789abcdefghij")
	})
	e := newTLSEdge(t, o)
	call(t, e.h2, "GET", e.tlsURL+"/r", nil)
	e.settle()
	r := call(t, e.h2, "GET", e.tlsURL+"/r", nil, "Range", "bytes=5-9")
	if r.ProtoMajor != 2 || r.StatusCode != 206 || r.body != "56789" || r.Header.Get("Content-Range") != "bytes 5-9/20" || r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("h2 Range: %d %q Content-Range %q X-Cache %q", r.StatusCode, r.body, r.Header.Get("Content-Range"), r.Header.Get("X-Cache"))
	}
	if etag := r.Header.Get("Etag"); etag == "" {
		r = call(t, e.h2, "GET", e.tlsURL+"/r", nil, "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	} else {
		r = call(t, e.h2, "GET", e.tlsURL+"/r", nil, "If-None-Match", etag)
	}
	if r.StatusCode != 304 || r.body != "" {
		t.Errorf("h2 conditional GET: %d %q", r.StatusCode, r.body)
	}
	r = call(t, e.h2, "HEAD", e.tlsURL+"/r", nil)
	if r.StatusCode != 200 || r.body != "" || r.ContentLength != 20 || r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("h2 HEAD: %d %q Content-Length %d X-Cache %q", r.StatusCode, r.body, r.ContentLength, r.Header.Get("X-Cache"))
	}
	if n := o.hits.Load(); n != 1 {
		t.Errorf("origin fetched %d times, want 1", n)
	}
}

// TestH2TruncatedBodyResetsOnlyItsStream: an origin body that breaks off
// reaches an HTTP/2 client as an error on that stream (not a clean end),
// and the connection serves the next request.
func TestH2TruncatedBodyResetsOnlyItsStream(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "fine")
			return
		}
		w.Header().Set("Content-Length", "100000")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the origin dies mid-body
	})
	e := newTLSEdge(t, o)
	res, err := e.h2.Get(e.tlsURL + "/cut")
	if err != nil {
		t.Fatal(err)
	}
	if res.ProtoMajor != 2 {
		t.Fatalf("proto %d", res.ProtoMajor)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("truncated body read %d bytes with no error", len(b))
	}
	var reused bool
	req, _ := http.NewRequest("GET", e.tlsURL+"/ok", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	res, err = e.h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "fine" || !reused {
		t.Fatalf("next request: %q on a reused connection: %v", b, reused)
	}
}

// TestH2TrailersAndTE: an origin's trailers reach HTTP/2 and HTTP/1.1
// clients alike, and the client's TE (hop-by-hop, "trailers" allowed in
// HTTP/2) is not sent to the origin.
func TestH2TrailersAndTE(t *testing.T) {
	var seen seenHeaders
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		seen.put(r)
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "data")
		w.Header().Set("X-Checksum", "abc")
	})
	e := newTLSEdge(t, o)
	var got []string
	for _, c := range []*http.Client{e.h2, e.h1, e.client} {
		base := e.tlsURL
		if c == e.client {
			base = e.srv.URL
		}
		r := call(t, c, "POST", base+"/t", strings.NewReader("x"), "TE", "trailers")
		got = append(got, fmt.Sprintf("%d %s %q", r.StatusCode, r.body, r.Trailer.Get("X-Checksum")))
		if te := seen.get("/t").Get("TE"); te != "" {
			t.Errorf("origin got TE %q", te)
		}
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Errorf("trailers differ by protocol: h2 %s, HTTP/1.1 over TLS %s, plain %s", got[0], got[1], got[2])
	}
}

// TestAccessLogProtocol: the access log says which protocol and whether
// TLS carried each request.
func TestAccessLogProtocol(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	core, logs := observer.New(zap.InfoLevel)
	e := newTLSEdge(t, o, func(c *Config, _ *Site) { c.Logger = zap.New(core) })
	call(t, e.h2, "GET", e.tlsURL+"/h2", nil)
	call(t, e.h1, "GET", e.tlsURL+"/h1", nil)
	call(t, e.client, "GET", e.srv.URL+"/plain", nil)
	want := map[string]string{"/h2": "HTTP/2.0 true", "/h1": "HTTP/1.1 true", "/plain": "HTTP/1.1 false"}
	waitFor(t, "three access log lines", func() bool { return logs.FilterMessage("request").Len() == 3 })
	for _, l := range logs.FilterMessage("request").All() {
		m := l.ContextMap()
		if got := fmt.Sprint(m["proto"], " ", m["tls"]); got != want[m["path"].(string)] {
			t.Errorf("%s: proto, tls = %s, want %s", m["path"], got, want[m["path"].(string)])
		}
	}
}
