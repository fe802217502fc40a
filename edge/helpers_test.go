package edge

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshcdn/meshcdn/store"
)

// origin is a real HTTP origin on 127.0.0.1 counting its requests.
type origin struct {
	*httptest.Server
	hits atomic.Int64
	url  *url.URL
}

func newOrigin(t testing.TB, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(o.Close)
	u, err := url.Parse(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	o.url = u
	return o
}

// edgeEnv is a real proxy on a real socket in front of an origin.
type edgeEnv struct {
	t      testing.TB
	proxy  *Proxy
	srv    *httptest.Server
	store  *store.Store
	reg    *prometheus.Registry
	client *http.Client
	origin *origin
}

type envOpt func(*Config, *Site)

func newEdge(t testing.TB, o *origin, opts ...envOpt) *edgeEnv {
	t.Helper()
	st := store.New(store.Config{MaxBytes: 64 << 20})
	t.Cleanup(st.Close)
	reg := prometheus.NewRegistry()
	s := &Site{Name: "test", Origin: o.url, FirstByteTimeout: 5 * time.Second, BetweenBytesTimeout: 5 * time.Second}
	cfg := Config{Sites: []*Site{s}, Store: st, Registerer: reg, NodeName: "edge1"}
	for _, f := range opts {
		f(&cfg, s)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &edgeEnv{t: t, proxy: p, srv: srv, store: st, reg: reg, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}, origin: o}
}

// resp is a fully read response.
type resp struct {
	*http.Response
	body string
}

func (e *edgeEnv) do(method, path string, hdr ...string) resp {
	e.t.Helper()
	return e.doBody(method, path, nil, hdr...)
}

func (e *edgeEnv) get(path string, hdr ...string) resp {
	e.t.Helper()
	return e.do(http.MethodGet, path, hdr...)
}

func (e *edgeEnv) doBody(method, path string, body io.Reader, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp{res, string(b)}
}

// counter reads one sample of a registered metric family by labels.
func (e *edgeEnv) counter(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
		}
		return 0
	}
	return 0
}

// waitFor polls cond (no timing assertion: it only bounds a wait for a
// background event the test then checks).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gate blocks origin handlers until released (release may be called more
// than once: a test's cleanup can always release it).
type gate struct {
	ch      chan struct{}
	entered chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{ch: make(chan struct{}), entered: make(chan struct{}, 1024)} }

func (g *gate) wait(ctx context.Context) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.ch:
	case <-ctx.Done():
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.ch) }) }

// freePort returns a 127.0.0.1 address nobody listens on.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// waitCounter waits until a metric reaches want (requests are counted after
// their response is written, so a client can be faster than the count), then
// fails if it is not exactly want.
func (e *edgeEnv) waitCounter(want float64, name string, labels ...string) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.counter(name, labels...) < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := e.counter(name, labels...); got != want {
		e.t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// settle waits until no origin fetch is in flight (streamed objects are
// inserted when their body completes, after the client may have it all).
func (e *edgeEnv) settle() {
	e.t.Helper()
	waitFor(e.t, "fetches to finish", func() bool { return e.proxy.fetching.Load() == 0 })
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
