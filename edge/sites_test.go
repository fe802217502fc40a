package edge

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

func newSitesProxy(t *testing.T, sites ...*Site) (*Proxy, string) {
	t.Helper()
	st := store.New(store.Config{})
	t.Cleanup(st.Close)
	p, err := New(Config{Store: st, NodeName: "n", Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, httpServer(t, p)
}

func namedOrigin(t *testing.T, name string) *origin {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "origin/1")
		w.Header().Set("X-Powered-By", "php")
		io.WriteString(w, name+" "+r.Host)
	})
}

// Wildcard hosts: below the name at any depth, not the name itself; exact
// wins over wildcard, the longer wildcard over the shorter.
func TestSitesWildcard(t *testing.T) {
	a, b, c := namedOrigin(t, "A"), namedOrigin(t, "B"), namedOrigin(t, "C")
	_, srv := newSitesProxy(t,
		&Site{Name: "a", Hosts: []string{"*.example.com"}, Origin: a.url},
		&Site{Name: "b", Hosts: []string{"*.api.example.com", "www.example.com"}, Origin: b.url},
		&Site{Name: "c", Hosts: []string{"static.api.example.com"}, Origin: c.url},
	)
	for host, want := range map[string]string{
		"x.example.com":          "A x.example.com",
		"a.b.example.com":        "A a.b.example.com",
		"www.example.com":        "B www.example.com",
		"v1.api.example.com":     "B v1.api.example.com",
		"X.Y.API.Example.com.":   "B x.y.api.example.com.",
		"static.api.example.com": "C static.api.example.com",
		"api.example.com":        "A api.example.com",
	} {
		r := doHost(t, srv, host)
		if r.StatusCode != 200 || r.body != want {
			t.Errorf("host %s: %d %q, want %q", host, r.StatusCode, r.body, want)
		}
	}
	for _, host := range []string{"example.com", "other.org", "xexample.com"} {
		if r := doHost(t, srv, host); r.StatusCode != http.StatusNotFound || !strings.Contains(r.body, "no site is configured for this host") {
			t.Errorf("host %s: %d %q, want 404", host, r.StatusCode, r.body)
		}
	}
	for _, bad := range []string{"*", "*.", "a.*.com", "**.x", "x*.com"} {
		st := store.New(store.Config{})
		if _, err := New(Config{Store: st, Sites: []*Site{{Hosts: []string{bad}, Origin: a.url}}}); err == nil {
			t.Errorf("host %q accepted", bad)
		}
		st.Close()
	}
}

// A site named as the default serves unknown hosts besides its own.
func TestSitesDefault(t *testing.T) {
	a, b := namedOrigin(t, "A"), namedOrigin(t, "B")
	_, srv := newSitesProxy(t,
		&Site{Name: "a", Hosts: []string{"a.example"}, Origin: a.url},
		&Site{Name: "b", Hosts: []string{"b.example"}, Default: true, Origin: b.url},
	)
	for host, want := range map[string]string{"a.example": "A a.example", "b.example": "B b.example", "zzz.example": "B zzz.example"} {
		if r := doHost(t, srv, host); r.StatusCode != 200 || r.body != want {
			t.Errorf("host %s: %d %q", host, r.StatusCode, r.body)
		}
	}
	st := store.New(store.Config{})
	defer st.Close()
	if _, err := New(Config{Store: st, Sites: []*Site{{Hosts: []string{"x"}, Default: true, Origin: a.url}, {Origin: b.url}}}); err == nil {
		t.Error("two default sites accepted")
	}
}

// OriginHost is what the origin sees; the cache key stays the client's Host.
func TestSiteOriginHost(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Host+" "+r.Header.Get("X-Forwarded-Host"))
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	})
	p, srv := newSitesProxy(t, &Site{Name: "a", Hosts: []string{"a.example", "b.example"}, Origin: o.url, OriginHost: "origin.internal"})
	doHost(t, srv, "a.example")
	doHost(t, srv, "a.example")
	doHost(t, srv, "b.example")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "origin.internal a.example" || seen[1] != "origin.internal b.example" {
		t.Errorf("origin saw %q, want Host origin.internal once per client host", seen)
	}
	if _, found := p.store.Lookup(store.KeyFor("a.example", "/", ""), nil); !found {
		t.Error("not stored under the client's host")
	}
}

// redirect_http: 308 to https for plain HTTP, except ACME challenges;
// requests that came over TLS or from a trusted proxy saying https are
// served.
func TestSiteRedirectHTTP(t *testing.T) {
	o := namedOrigin(t, "A")
	st := store.New(store.Config{})
	defer st.Close()
	gr, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: loopback, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Store: st, Geo: gr, Sites: []*Site{
		{Name: "a", Hosts: []string{"a.example"}, Origin: o.url, RedirectHTTP: true},
		{Name: "b", Hosts: []string{"b.example"}, Origin: o.url, RedirectHTTP: true, RedirectPort: 8443},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httpServer(t, p)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(host, path string, h ...string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv+path, nil)
		req.Host = host
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, _ := get("A.example:8080", "/p/x?q=1")
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != "https://a.example/p/x?q=1" {
		t.Errorf("plain: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = get("b.example", "/y")
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != "https://b.example:8443/y" {
		t.Errorf("port: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := get("a.example", "/.well-known/acme-challenge/tok"); res.StatusCode != 200 || body != "A a.example" {
		t.Errorf("ACME path: %d %q", res.StatusCode, body)
	}
	// The resolver trusts loopback: the test client is a trusted proxy.
	if res, body := get("a.example", "/z", "X-Forwarded-Proto", "https"); res.StatusCode != 200 || body != "A a.example" {
		t.Errorf("trusted proxy saying https: %d %q", res.StatusCode, body)
	}
	if res, _ := get("a.example", "/z", "X-Forwarded-Proto", "http"); res.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("trusted proxy saying http: %d", res.StatusCode)
	}
}

// response_remove takes the named fields off every response: hit, miss,
// pass and the edge's own.
func TestSiteResponseRemove(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "origin/1")
		w.Header().Set("X-Powered-By", "php")
		w.Header().Set("X-Kept", "1")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	})
	_, srv := newSitesProxy(t, &Site{Name: "a", Origin: o.url, ResponseRemove: []string{"server", "X-Powered-By"}})
	for i, method := range []string{"GET", "GET", "POST"} {
		req, _ := http.NewRequest(method, srv+"/r", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.Header.Get("Server") != "" || res.Header.Get("X-Powered-By") != "" || res.Header.Get("X-Kept") != "1" {
			t.Errorf("request %d (%s, %s): header %v", i, method, res.Header.Get("X-Cache"), res.Header)
		}
	}
}

// SetSites swaps the whole table: new hosts and origins at once; a bad
// table is refused and the old one keeps serving.
func TestSetSites(t *testing.T) {
	a, b := namedOrigin(t, "A"), namedOrigin(t, "B")
	p, srv := newSitesProxy(t, &Site{Name: "a", Hosts: []string{"x.example"}, Origin: a.url})
	if r := doHost(t, srv, "x.example"); r.body != "A x.example" {
		t.Fatalf("before: %q", r.body)
	}
	if err := p.SetSites([]*Site{{Name: "b", Hosts: []string{"x.example"}, Origin: b.url}, {Name: "c", Hosts: []string{"x.example"}, Origin: a.url}}); err == nil {
		t.Fatal("duplicate host accepted")
	}
	if r := doHost(t, srv, "x.example"); r.body != "A x.example" {
		t.Errorf("after a refused table: %q", r.body)
	}
	if err := p.SetSites([]*Site{{Name: "b", Hosts: []string{"x.example", "y.example"}, Origin: b.url}}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"x.example": "B x.example", "y.example": "B y.example"} {
		if r := doHost(t, srv, host); r.StatusCode != 200 || r.body != want {
			t.Errorf("after: host %s: %d %q", host, r.StatusCode, r.body)
		}
	}
	if got := p.SiteNames(); len(got) != 1 || got[0] != "b" {
		t.Errorf("SiteNames %q", got)
	}
}

// The site lookup allocates nothing for lower-case hosts, exact or
// wildcard, with or without a port.
func TestSiteForAllocs(t *testing.T) {
	o := namedOrigin(t, "A")
	p, _ := newSitesProxy(t,
		&Site{Name: "a", Hosts: []string{"a.example", "*.w.example"}, Origin: o.url},
		&Site{Name: "b", Hosts: []string{"b.example"}, Origin: o.url},
	)
	for host, want := range map[string]string{"a.example": "a", "b.example:8080": "b", "x.y.w.example": "a"} {
		var got *site
		if n := testing.AllocsPerRun(100, func() { got = p.siteFor(host) }); n != 0 || got == nil || got.name != want {
			t.Errorf("%s: %v allocations, site %v", host, n, got)
		}
	}
}
