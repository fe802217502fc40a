package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// csParam returns a parameter of this cache's Cache-Status member.
func csParam(v, name string) (string, bool) {
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		k, val, _ := strings.Cut(part, "=")
		if k == name {
			return val, true
		}
	}
	return "", false
}

func csTTL(t *testing.T, v string) int {
	t.Helper()
	s, ok := csParam(v, "ttl")
	if !ok {
		t.Fatalf("Cache-Status %q has no ttl", v)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("Cache-Status %q: bad ttl", v)
	}
	return n
}

// RFC 9111 §3 (storing), §4 (reuse); RFC 9211 (Cache-Status); issue 2 (X-Cache, Age).
func TestMissThenHit(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello "+r.URL.RawQuery)
	})
	e := newEdge(t, o)
	r1 := e.get("/a?x=1&b=2")
	if r1.StatusCode != 200 || r1.body != "hello x=1&b=2" {
		t.Fatalf("miss: %d %q", r1.StatusCode, r1.body)
	}
	if got := r1.Header.Get("X-Cache"); got != "MISS" {
		t.Errorf("X-Cache on miss = %q", got)
	}
	// The ttl is 60 s less the age (the origin's Date has 1 s resolution).
	if got := r1.Header.Get("Cache-Status"); got != "edge1; fwd=uri-miss; fwd-status=200; ttl=60; stored" &&
		got != "edge1; fwd=uri-miss; fwd-status=200; ttl=59; stored" {
		t.Errorf("Cache-Status on miss = %q", got)
	}
	// The query is normalised (parameters sorted): same object.
	r2 := e.get("/a?b=2&x=1")
	if r2.Header.Get("X-Cache") != "HIT" || r2.body != r1.body {
		t.Fatalf("second request: X-Cache %q body %q", r2.Header.Get("X-Cache"), r2.body)
	}
	if cs := r2.Header.Get("Cache-Status"); !strings.HasPrefix(cs, "edge1; hit; ttl=") || csTTL(t, cs) > 60 || csTTL(t, cs) < 55 {
		t.Errorf("Cache-Status on hit = %q", cs)
	}
	if age, err := strconv.Atoi(r2.Header.Get("Age")); err != nil || age < 0 || age > 5 {
		t.Errorf("Age on hit = %q", r2.Header.Get("Age"))
	}
	if r2.Header.Get("Content-Length") != strconv.Itoa(len(r1.body)) || r2.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("hit headers: %v", r2.Header)
	}
	if n := o.hits.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
	e.waitCounter(1, "meshcdn_edge_requests_total", "result", "hit", "site", "test")
	e.waitCounter(1, "meshcdn_edge_requests_total", "result", "miss")
	e.waitCounter(1, "meshcdn_edge_origin_fetches_total", "outcome", "ok")
	e.waitCounter(1, "meshcdn_edge_origin_fetch_duration_seconds")
	e.waitCounter(2, "meshcdn_edge_requests_by_continent_total", "continent", "XX")
}

// Freshness for a shared cache, first present wins (issue 2; RFC 9111
// §4.2.1; RFC 9213; W3C Edge Architecture): Surrogate-Control >
// CDN-Cache-Control > s-maxage > max-age > Expires > heuristic > default;
// no-store, private, Set-Cookie → not stored (RFC 9111 §3, §5.2.2);
// malformed Cache-Control (RFC 9111 §4.2.1: invalid max-age = stale).
func TestFreshnessAndStorability(t *testing.T) {
	date := time.Now().UTC()
	cases := []struct {
		name       string
		status     int
		hdr        map[string]string
		defaultTTL time.Duration
		stored     bool
		ttl        int // expected ttl (seconds) on the hit, when stored
	}{
		{"surrogate-control wins over no-store", 200, map[string]string{"Surrogate-Control": "max-age=100", "Cache-Control": "no-store"}, 0, true, 100},
		{"cdn-cache-control over cache-control", 200, map[string]string{"CDN-Cache-Control": "max-age=200", "Cache-Control": "max-age=10"}, 0, true, 200},
		{"s-maxage over max-age", 200, map[string]string{"Cache-Control": "max-age=10, s-maxage=300"}, 0, true, 300},
		{"max-age", 200, map[string]string{"Cache-Control": "max-age=400"}, 0, true, 400},
		{"expires", 200, map[string]string{"Date": date.Format(http.TimeFormat), "Expires": date.Add(500 * time.Second).Format(http.TimeFormat)}, 0, true, 500},
		{"invalid expires is expired", 200, map[string]string{"Expires": "yesterday-ish"}, time.Hour, false, 0},
		{"default ttl", 200, nil, 30 * time.Second, true, 30},
		{"no freshness, no default", 200, nil, 0, false, 0},
		{"heuristic", 200, map[string]string{"Date": date.Format(http.TimeFormat), "Last-Modified": date.Add(-1000 * time.Second).Format(http.TimeFormat)}, time.Hour, true, 100},
		{"404 cacheable by default", 404, nil, 30 * time.Second, true, 30},
		{"500 not cacheable by default", 500, nil, 30 * time.Second, false, 0},
		{"500 with explicit freshness", 500, map[string]string{"Cache-Control": "max-age=20"}, 0, true, 20},
		{"no-store", 200, map[string]string{"Cache-Control": "max-age=60, no-store"}, 0, false, 0},
		{"private", 200, map[string]string{"Cache-Control": "private, max-age=60"}, 0, false, 0},
		{"set-cookie", 200, map[string]string{"Cache-Control": "max-age=60", "Set-Cookie": "a=b"}, 0, false, 0},
		{"malformed max-age is stale", 200, map[string]string{"Cache-Control": "max-age=abc"}, 0, false, 0},
		{"garbage around a valid directive", 200, map[string]string{"Cache-Control": ",, max-age=70, =, \"x\", foo=, ;;"}, 0, true, 70},
		{"duplicate directive: first wins", 200, map[string]string{"Cache-Control": "max-age=80, max-age=10"}, 0, true, 80},
		{"negative max-age is stale", 200, map[string]string{"Cache-Control": "max-age=-5"}, 0, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.hdr {
					w.Header()[k] = []string{v}
				}
				w.WriteHeader(c.status)
				io.WriteString(w, "body")
			})
			e := newEdge(t, o, func(_ *Config, s *Site) { s.DefaultTTL = c.defaultTTL })
			first := e.get("/f")
			if first.StatusCode != c.status {
				t.Fatalf("status %d", first.StatusCode)
			}
			second := e.get("/f")
			if hit := second.Header.Get("X-Cache") == "HIT"; hit != c.stored {
				t.Fatalf("second request X-Cache %q, Cache-Status %q; want stored=%v", second.Header.Get("X-Cache"), second.Header.Get("Cache-Status"), c.stored)
			}
			if c.stored {
				if got := csTTL(t, second.Header.Get("Cache-Status")); got > c.ttl || got < c.ttl-5 {
					t.Errorf("ttl %d, want about %d", got, c.ttl)
				}
				if second.StatusCode != c.status || second.body != "body" {
					t.Errorf("hit: %d %q", second.StatusCode, second.body)
				}
			}
		})
	}
}

// Issue 2: Via (appended), X-Forwarded-For (the client address: a client's
// own value is not passed on), X-Forwarded-Proto set; hop-by-hop
// fields removed in both directions (RFC 9110 §7.6.1, §7.6.3).
func TestForwardingHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	})
	e := newEdge(t, o)
	for _, path := range []string{"/h", "/h"} { // miss, then hit
		r := e.get(path, "X-Forwarded-For", "203.0.113.9", "Connection", "X-Client-Hop", "X-Client-Hop", "1", "Via", "1.1 upstream")
		if r.Header.Get("X-Internal") != "" || r.Header.Get("Keep-Alive") != "" {
			t.Errorf("%s: hop-by-hop response fields reached the client: %v", r.Header.Get("X-Cache"), r.Header)
		}
		if got := r.Header.Get("Via"); got != "1.1 edge1" {
			t.Errorf("%s: response Via = %q", r.Header.Get("X-Cache"), got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("origin X-Forwarded-For = %q", got)
	}
	if got := seen.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("origin X-Forwarded-Proto = %q", got)
	}
	if got := seen.Get("Via"); got != "1.1 upstream, 1.1 edge1" {
		t.Errorf("origin Via = %q", got)
	}
	if seen.Get("X-Client-Hop") != "" {
		t.Errorf("field named in the client's Connection reached the origin")
	}
	// A request that already passed this node is a loop (RFC 9110 §7.6.3).
	r := e.get("/loop", "Via", "1.1 edge1")
	if r.StatusCode != http.StatusLoopDetected {
		t.Errorf("looping request: %d", r.StatusCode)
	}
}

// Issue 2: Surrogate-Key, Surrogate-Control and Cache-Groups stripped from
// client responses unless the request carries the debug header.
func TestSurrogateHeadersStripped(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Surrogate-Key", "k1 k2")
		w.Header().Set("Surrogate-Control", "max-age=60")
		w.Header().Set("Cache-Groups", `"g1"`)
		io.WriteString(w, "x")
	})
	for _, name := range []string{"default", "custom"} {
		t.Run(name, func(t *testing.T) {
			debug := "Meshcdn-Debug"
			e := newEdge(t, o, func(c *Config, _ *Site) {
				if name == "custom" {
					c.DebugHeader = "x-cdn-debug"
					debug = "X-Cdn-Debug"
				}
			})
			for i, want := range []string{"MISS", "HIT"} {
				plain := e.get("/s" + name)
				if i == 0 && plain.Header.Get("X-Cache") != want {
					t.Fatalf("X-Cache %q", plain.Header.Get("X-Cache"))
				}
				for _, f := range []string{"Surrogate-Key", "Surrogate-Control", "Cache-Groups"} {
					if plain.Header.Get(f) != "" {
						t.Errorf("%s: %s visible without debug header", want, f)
					}
				}
				dbg := e.get("/s"+name, debug, "1")
				if dbg.Header.Get("Surrogate-Key") != "k1 k2" || dbg.Header.Get("Surrogate-Control") != "max-age=60" || dbg.Header.Get("Cache-Groups") != `"g1"` {
					t.Errorf("debug response lacks surrogate fields: %v", dbg.Header)
				}
			}
		})
	}
}

// Issue 2: Surrogate-Key and Cache-Groups (RFC 9875) tag the object; keys
// over 1024 B or headers over 16 KiB are ignored and counted, never a crash.
func TestSurrogateKeysAndLimits(t *testing.T) {
	long := strings.Repeat("k", 1025)
	huge := strings.Repeat("key ", 5000) // 20 000 B > 16 KiB
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/long":
			w.Header().Set("Surrogate-Key", "short "+long)
		case "/huge":
			w.Header().Set("Surrogate-Key", huge)
		case "/groups":
			w.Header().Set("Cache-Groups", `"g1", "g2", "`+long+`"`)
		}
		io.WriteString(w, r.URL.Path)
	})
	e := newEdge(t, o)
	for _, p := range []string{"/long", "/huge", "/groups"} {
		if r := e.get(p); r.StatusCode != 200 {
			t.Fatalf("%s: %d", p, r.StatusCode)
		}
		if r := e.get(p); r.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("%s not cached despite bad keys", p)
		}
	}
	e.settle()
	// 1 long key, 5000 keys of an oversize header, 1 long group.
	if got := e.counter("meshcdn_edge_surrogate_keys_dropped_total"); got != 5002 {
		t.Errorf("dropped keys counted %v, want 5002", got)
	}
	if n := e.store.Purge(store.Purge{Keys: []string{"short"}}); n != 1 {
		t.Errorf("purge by the valid key dropped %d", n)
	}
	if n := e.store.Purge(store.Purge{Keys: []string{"g2"}}); n != 1 {
		t.Errorf("purge by a cache group dropped %d", n)
	}
	if n := e.store.Purge(store.Purge{Keys: []string{long}}); n != 0 {
		t.Errorf("an oversize key was indexed")
	}
}

// Issue 2: a pass cookie and unsafe methods pass; GET/HEAD with a body
// pass; other cookies don't. (Authorization does not pass since issue 9:
// see TestAuthorizationSharedWithPermission.)
func TestPassRules(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
	e := newEdge(t, o, func(_ *Config, s *Site) { s.PassCookie = regexp.MustCompile(`^_session$`) })
	cases := []struct {
		name, method string
		body         string
		hdr          []string
		fwd          string // Cache-Status fwd when passed; "" = cached
	}{
		{"plain GET", "GET", "", nil, ""},
		{"other cookie", "GET", "", []string{"Cookie", "theme=dark; _sessionx=1"}, ""},
		{"pass cookie", "GET", "", []string{"Cookie", "theme=dark; _session=abc"}, "bypass"},
		{"POST", "POST", "data", nil, "method"},
		{"GET with body", "GET", "data", nil, "bypass"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/p" + strconv.Itoa(i)
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			e.doBody(c.method, path, body, c.hdr...)
			var rs resp
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			rs = e.doBody(c.method, path, body, c.hdr...)
			if want := c.method + " " + path + " " + c.body; rs.body != want {
				t.Errorf("body %q, want %q", rs.body, want)
			}
			if c.fwd == "" {
				if rs.Header.Get("X-Cache") != "HIT" {
					t.Errorf("not cached: %v", rs.Header)
				}
				return
			}
			if rs.Header.Get("X-Cache") != "PASS" {
				t.Errorf("X-Cache %q, want PASS", rs.Header.Get("X-Cache"))
			}
			if fwd, _ := csParam(rs.Header.Get("Cache-Status"), "fwd"); fwd != c.fwd {
				t.Errorf("Cache-Status %q, want fwd=%s", rs.Header.Get("Cache-Status"), c.fwd)
			}
			e.settle()
			if e.store.Stats().Objects != 2 { // "plain GET" and "other cookie"
				t.Errorf("a passed response was stored: %d objects", e.store.Stats().Objects)
			}
		})
	}
	e.waitCounter(6, "meshcdn_edge_requests_total", "result", "pass")
}

// Issue 5: every method reaches the origin untouched, including unknown and
// extension methods with bodies; only GET/HEAD come from the cache.
func TestExtensionMethodsPassThrough(t *testing.T) {
	type got struct{ method, body, ct string }
	var mu sync.Mutex
	var seen []got
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, got{r.Method, string(b), r.Header.Get("Content-Type")})
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(207)
		io.WriteString(w, "multi "+r.Method)
	})
	e := newEdge(t, o)
	for _, m := range []string{"M-SEARCH", "PROPFIND", "MKCOL", "PURGEX", "OPTIONS", "DELETE", "PUT"} {
		for range 2 {
			r := e.doBody(m, "/dav/x", strings.NewReader("<xml>"+m+"</xml>"), "Content-Type", "text/xml")
			if r.StatusCode != 207 || r.body != "multi "+m || r.Header.Get("X-Cache") != "PASS" {
				t.Errorf("%s: %d %q %q", m, r.StatusCode, r.body, r.Header.Get("X-Cache"))
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 14 {
		t.Fatalf("origin saw %d requests, want 14", len(seen))
	}
	for _, s := range seen {
		if s.body != "<xml>"+s.method+"</xml>" || s.ct != "text/xml" {
			t.Errorf("%s reached the origin altered: %+v", s.method, s)
		}
	}
	if e.store.Stats().Objects != 0 {
		t.Errorf("non-GET responses were stored")
	}
}

// Issue 2: sites by host name; a default site; unknown hosts without a
// default site are refused (404).
func TestSites(t *testing.T) {
	a := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "A "+r.Host) })
	b := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "B "+r.Host) })
	st := store.New(store.Config{})
	defer st.Close()
	p, err := New(Config{Store: st, NodeName: "n", Sites: []*Site{
		{Name: "a", Hosts: []string{"a.example", "www.a.example"}, Origin: a.url},
		{Name: "b", Hosts: []string{"B.example"}, Origin: b.url},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httpServer(t, p)
	for host, want := range map[string]string{"a.example": "A a.example", "WWW.A.example:8080": "A www.a.example:8080", "b.example.": "B b.example."} {
		r := doHost(t, srv, host)
		if r.StatusCode != 200 || r.body != want {
			t.Errorf("host %s: %d %q", host, r.StatusCode, r.body)
		}
	}
	if r := doHost(t, srv, "c.example"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown host: %d", r.StatusCode)
	}
	// Configuration errors.
	for name, sites := range map[string][]*Site{
		"no origin":      {{Name: "x"}},
		"bad scheme":     {{Origin: mustURL(t, "ftp://x")}},
		"two defaults":   {{Origin: a.url}, {Origin: b.url}},
		"duplicate host": {{Hosts: []string{"x"}, Origin: a.url}, {Hosts: []string{"X"}, Origin: b.url}},
		"bad vary geo":   {{Origin: a.url, VaryGeo: []string{"a b"}}},
	} {
		if _, err := New(Config{Store: st, Sites: sites}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Config{Sites: []*Site{{Origin: a.url}}}); err == nil {
		t.Error("no store: accepted")
	}
}

func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func doHost(t *testing.T, base, host string) resp {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res, string(b)}
}

// The origin URL's path is a prefix of every request path.
func TestOriginPathPrefix(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
	})
	e := newEdge(t, o, func(_ *Config, s *Site) {
		u := *o.url
		u.Path = "/base/"
		s.Origin = &u
	})
	if r := e.get("/a%2Fb/c?q=1"); r.body != "/base/a%2Fb/c?q=1" {
		t.Errorf("origin saw %q", r.body)
	}
	_ = url.URL{}
}

// RFC 9211 §2: a Cache-Status from a cache in front of the origin is kept;
// this cache's member follows it.
func TestCacheStatusChained(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "OriginCache; fwd=uri-miss")
		if r.Method == "GET" {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		io.WriteString(w, "x")
	})
	e := newEdge(t, o)
	for _, c := range []struct{ method, want string }{
		{"GET", "OriginCache; fwd=uri-miss, edge1; fwd=uri-miss; fwd-status=200; ttl="},
		{"GET", "OriginCache; fwd=uri-miss, edge1; hit; ttl="},
		{"POST", "OriginCache; fwd=uri-miss, edge1; fwd=method; fwd-status=200"},
	} {
		r := e.do(c.method, "/chain")
		e.settle()
		if got := strings.Join(r.Header.Values("Cache-Status"), ", "); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: Cache-Status %q, want prefix %q", c.method, got, c.want)
		}
	}
}

// RFC 9111 §4.2.3: the origin's Age (and an old Date) count toward the
// object's age; Age on hits grows from there and ttl shrinks accordingly.
func TestAgeFromOrigin(t *testing.T) {
	old := time.Now().Add(-40 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name   string
		hdr    map[string]string
		minAge int
	}{
		{"Age field", map[string]string{"Age": "30"}, 30},
		{"old Date (apparent age)", map[string]string{"Date": old}, 39},
		{"both: the larger wins", map[string]string{"Age": "10", "Date": old}, 39},
		{"no Date", map[string]string{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=100")
				for k, v := range c.hdr {
					w.Header().Set(k, v)
				}
				if _, ok := c.hdr["Date"]; !ok {
					w.Header()["Date"] = nil // suppress the server's Date
				}
				io.WriteString(w, "aged")
			})
			e := newEdge(t, o)
			e.get("/age")
			e.settle()
			r := e.get("/age")
			age, err := strconv.Atoi(r.Header.Get("Age"))
			if err != nil || age < c.minAge || age > c.minAge+3 {
				t.Errorf("Age %q, want about %d", r.Header.Get("Age"), c.minAge)
			}
			if ttl := csTTL(t, r.Header.Get("Cache-Status")); ttl > 100-c.minAge || ttl < 100-c.minAge-4 {
				t.Errorf("ttl %d, want about %d", ttl, 100-c.minAge)
			}
		})
	}
}

// X-Forwarded-Proto is this hop's scheme, unless the peer is a trusted proxy
// (a TLS-terminating load balancer) that says "http" or "https"; from anyone
// else the client's value is replaced.
func TestForwardedProtoFromTrustedProxy(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Forwarded-Proto"))
		mu.Unlock()
		io.WriteString(w, "ok") // no freshness: every request reaches the origin
	})
	cases := []struct {
		name    string
		trusted []netip.Prefix
		sent    string
		want    string
	}{
		{"trusted proxy says https", loopback, "https", "https"},
		{"trusted proxy says http", loopback, "http", "http"},
		{"trusted proxy sends garbage", loopback, "gopher", "http"},
		{"untrusted client says https", nil, "https", "http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: c.trusted, PollInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = r })
			mu.Lock()
			seen = nil
			mu.Unlock()
			e.get("/p", "X-Forwarded-Proto", c.sent)
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != c.want {
				t.Errorf("origin saw X-Forwarded-Proto %q, want %q", seen, c.want)
			}
		})
	}
}

// An origin whose answer depends on the scheme says Vary: X-Forwarded-Proto
// (RFC 9110 §12.5.5): behind a trusted TLS-terminating proxy the edge keeps
// one variant per scheme, and each is a hit the second time (the lookup sees
// the value the fetch sent). Without the header from a trusted proxy a
// request is http.
func TestVaryForwardedProto(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Forwarded-Proto")
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	})
	r, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: loopback, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = r })
	for _, c := range []struct{ sent, body, cache string }{
		{"https", "https", "MISS"},
		{"", "http", "MISS"},
		{"https", "https", "HIT"},
		{"", "http", "HIT"},
		{"http", "http", "HIT"},
	} {
		var res resp
		if c.sent == "" {
			res = e.get("/v")
		} else {
			res = e.get("/v", "X-Forwarded-Proto", c.sent)
		}
		e.settle()
		if res.body != c.body || res.Header.Get("X-Cache") != c.cache {
			t.Errorf("X-Forwarded-Proto %q: %q %s, want %q %s", c.sent, res.body, res.Header.Get("X-Cache"), c.body, c.cache)
		}
	}
}
