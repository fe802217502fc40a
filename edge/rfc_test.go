package edge

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// Audit findings, each on real sockets: an httptest origin behind the real
// proxy.

// RFC 9111 §4.3.4, §3.2, §5.2.2.4/§5.2.2.7: what a 304 may change in the
// stored response.
func TestRevalidation304Update(t *testing.T) {
	cases := []struct {
		name   string
		first  []string                                     // header of the first 200 (Cache-Control max-age=10 and Age 20 are added)
		answer func(w http.ResponseWriter, r *http.Request) // the later requests
		check  func(t *testing.T, revalidated, hit resp, requests int64)
	}{
		{
			name:  "RFC 9111 §5.2.2.7 private field stripped again after a 304",
			first: []string{"Cache-Control", `max-age=10, private="X-User"`, "ETag", `"v1"`, "X-User", "alice"},
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", `max-age=100, private="X-User"`)
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("X-User", "bob")
				w.WriteHeader(304)
			},
			check: func(t *testing.T, rv, hit resp, _ int64) {
				if rv.Header.Get("X-User") != "" || hit.Header.Get("X-User") != "" {
					t.Errorf("private field served from the shared copy: %q / %q", rv.Header.Get("X-User"), hit.Header.Get("X-User"))
				}
				if hit.Header.Get("X-Cache") != "HIT" || hit.body != "first" {
					t.Errorf("not freshened: %s %q", hit.Header.Get("Cache-Status"), hit.body)
				}
			},
		},
		{
			name:  "RFC 9111 §5.2.2.4 no-cache field stripped again after a 304",
			first: []string{"Cache-Control", `max-age=10, no-cache="X-Session"`, "ETag", `"v1"`, "X-Session", "s1"},
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", `max-age=100, no-cache="X-Session"`)
				w.Header().Set("X-Session", "s2")
				w.WriteHeader(304)
			},
			check: func(t *testing.T, rv, hit resp, _ int64) {
				if rv.Header.Get("X-Session") != "" || hit.Header.Get("X-Session") != "" {
					t.Errorf("no-cache field served from the shared copy: %q / %q", rv.Header.Get("X-Session"), hit.Header.Get("X-Session"))
				}
			},
		},
		{
			name:  "RFC 9111 §4.3.4 strong ETag of the 304 matches nothing: refetch, no update",
			first: []string{"ETag", `"v1"`},
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=100")
				if r.Header.Get("If-None-Match") != "" {
					w.Header().Set("ETag", `"v2"`)
					w.Header().Set("X-Gen", "304")
					w.WriteHeader(304)
					return
				}
				w.Header().Set("ETag", `"v2"`)
				w.Header().Set("X-Gen", "full")
				io.WriteString(w, "second")
			},
			check: func(t *testing.T, rv, hit resp, n int64) {
				if rv.StatusCode != 200 || rv.body != "second" || rv.Header.Get("X-Gen") != "full" || rv.Header.Get("Etag") != `"v2"` {
					t.Errorf("304 with another strong ETag updated the old body: %d %q X-Gen %q ETag %q",
						rv.StatusCode, rv.body, rv.Header.Get("X-Gen"), rv.Header.Get("Etag"))
				}
				if hit.body != "second" || hit.Header.Get("X-Cache") != "HIT" {
					t.Errorf("refetched object not stored: %q %s", hit.body, hit.Header.Get("Cache-Status"))
				}
				if n != 3 {
					t.Errorf("origin requests %d, want 3 (first, conditional, unconditional)", n)
				}
			},
		},
		{
			name:  "RFC 9111 §4.3.4 matching strong ETag updates",
			first: []string{"ETag", `"v1"`},
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=100")
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("X-Gen", "304")
				w.WriteHeader(304)
			},
			check: func(t *testing.T, rv, hit resp, n int64) {
				if rv.body != "first" || rv.Header.Get("X-Gen") != "304" || n != 2 {
					t.Errorf("not updated: %q X-Gen %q, %d origin requests", rv.body, rv.Header.Get("X-Gen"), n)
				}
			},
		},
		{
			name:  "RFC 9111 §3.2 §3.1 Proxy-Authentication-Info and Content-Length not merged",
			first: []string{"ETag", `"v1"`},
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=100")
				w.Header().Set("Proxy-Authentication-Info", `nextnonce="abc"`)
				w.Header().Set("X-Gen", "304")
				w.WriteHeader(304)
			},
			check: func(t *testing.T, rv, hit resp, _ int64) {
				for _, r := range []resp{rv, hit} {
					if r.Header.Get("Proxy-Authentication-Info") != "" {
						t.Errorf("Proxy-Authentication-Info merged from the 304")
					}
					if r.Header.Get("Content-Length") != "5" || r.body != "first" || r.Header.Get("X-Gen") != "304" {
						t.Errorf("Content-Length %q body %q X-Gen %q", r.Header.Get("Content-Length"), r.body, r.Header.Get("X-Gen"))
					}
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					h := w.Header()
					h.Set("Cache-Control", "max-age=10")
					for i := 0; i+1 < len(c.first); i += 2 {
						h.Set(c.first[i], c.first[i+1])
					}
					h.Set("Age", "20") // stale on arrival
					io.WriteString(w, "first")
					return
				}
				c.answer(w, r)
			})
			e := newEdge(t, o)
			e.get("/r")
			e.settle()
			rv := e.get("/r")
			e.settle()
			hit := e.get("/r")
			c.check(t, rv, hit, n.Load())
		})
	}
}

// RFC 9111 §5.2.2.10 (s-maxage implies proxy-revalidate), §5.2.2.8, §4.2.4
// and RFC 9213 §2.2 (a governing targeted field hides Cache-Control's
// stale windows): no stale copy is served.
func TestNoStaleWhenForbidden(t *testing.T) {
	cases := []struct {
		name      string
		hdr       []string
		failure   bool // the origin answers 503 instead of a new body
		wantStale bool
	}{
		{"RFC 9111 §5.2.2.10 s-maxage with stale-while-revalidate", []string{"Cache-Control", "s-maxage=1, stale-while-revalidate=100"}, false, false},
		{"RFC 9111 §5.2.2.10 s-maxage with stale-if-error", []string{"Cache-Control", "max-age=100, s-maxage=1, stale-if-error=100"}, true, false},
		{"RFC 9111 §5.2.2.8 proxy-revalidate with stale-while-revalidate", []string{"Cache-Control", "max-age=1, proxy-revalidate, stale-while-revalidate=100"}, false, false},
		{"RFC 9111 §5.2.2.8 proxy-revalidate with stale-if-error", []string{"Cache-Control", "max-age=1, proxy-revalidate, stale-if-error=100"}, true, false},
		{"RFC 9213 §2.2 CDN-Cache-Control governs: Cache-Control stale-while-revalidate ignored", []string{"Cdn-Cache-Control", "max-age=1", "Cache-Control", "max-age=1, stale-while-revalidate=100"}, false, false},
		{"RFC 9213 §2.2 CDN-Cache-Control governs: Cache-Control stale-if-error ignored", []string{"Cdn-Cache-Control", "max-age=1", "Cache-Control", "max-age=1, stale-if-error=100"}, true, false},
		{"RFC 9213 §2.2 Surrogate-Control governs: Cache-Control stale-while-revalidate ignored", []string{"Surrogate-Control", "max-age=1", "Cache-Control", "stale-while-revalidate=100"}, false, false},
		{"RFC 5861 §3 control: max-age with stale-while-revalidate is served stale", []string{"Cache-Control", "max-age=1, stale-while-revalidate=100"}, false, true},
		{"RFC 9213 §2.2 control: CDN-Cache-Control's own stale-while-revalidate", []string{"Cdn-Cache-Control", "max-age=1, stale-while-revalidate=100", "Cache-Control", "no-store"}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				if n.Add(1) == 1 {
					for i := 0; i+1 < len(c.hdr); i += 2 {
						h.Set(c.hdr[i], c.hdr[i+1])
					}
					h.Set("Age", "2") // stale on arrival
					h.Set("ETag", `"e"`)
					io.WriteString(w, "stale")
					return
				}
				if c.failure {
					w.WriteHeader(503)
					io.WriteString(w, "down")
					return
				}
				h.Set("Cache-Control", "max-age=100")
				io.WriteString(w, "new")
			})
			e := newEdge(t, o)
			e.get("/s")
			e.settle()
			r := e.get("/s")
			e.settle()
			if gotStale := r.body == "stale"; gotStale != c.wantStale {
				t.Errorf("stale served = %v, want %v: %d %q %s", gotStale, c.wantStale, r.StatusCode, r.body, r.Header.Get("Cache-Status"))
			}
			if !c.wantStale && c.failure && r.StatusCode != 503 {
				t.Errorf("status %d, want the origin's 503", r.StatusCode)
			}
		})
	}
}

// RFC 5861 §3-4 with a soft purge: the stale windows count from the purge,
// so once the window after the purge has passed the object is no longer
// served stale, even though its original lifetime has not ended.
func TestSoftPurgeGraceFromPurge(t *testing.T) {
	cases := []struct {
		name    string
		cc      string
		failure bool
	}{
		{"RFC 5861 §3 stale-while-revalidate window from the purge", "max-age=600, stale-while-revalidate=1", false},
		{"RFC 5861 §4 stale-if-error window from the purge", "max-age=600, stale-if-error=1", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Cache-Control", c.cc)
					w.Header().Set("ETag", `"p"`)
					io.WriteString(w, "old")
					return
				}
				if c.failure {
					w.WriteHeader(503)
					return
				}
				w.Header().Set("Cache-Control", "max-age=600")
				io.WriteString(w, "new")
			})
			e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.PurgeAllow = loopback })
			e.get("/p")
			e.settle()
			if r := e.do("PURGE", "/p", "Fastly-Soft-Purge", "1"); !strings.Contains(r.body, `"purged":1`) {
				t.Fatalf("soft purge: %s", r.body)
			}
			time.Sleep(1100 * time.Millisecond) // past the 1 s window after the purge
			r := e.get("/p")
			if r.body == "old" {
				t.Fatalf("soft-purged object served stale after its window: %d %s", r.StatusCode, r.Header.Get("Cache-Status"))
			}
			want := 200
			if c.failure {
				want = 503
			}
			if r.StatusCode != want {
				t.Errorf("status %d, want %d", r.StatusCode, want)
			}
		})
	}
}

// RFC 9111 §5.2.2.2: a copy that must be revalidated, with the origin
// unreachable, is answered with 504 (Gateway Timeout), not 502.
func TestMustRevalidateOriginDown(t *testing.T) {
	cases := []struct {
		name string
		cc   string
		want int
	}{
		{"RFC 9111 §5.2.2.2 must-revalidate, origin down: 504", "max-age=1, must-revalidate", 504},
		{"RFC 9111 §5.2.2.8 proxy-revalidate, origin down: 504", "max-age=1, proxy-revalidate", 504},
		{"RFC 9111 §5.2.2.10 s-maxage, origin down: 504", "s-maxage=1", 504},
		{"RFC 9110 §15.6.3 no revalidation requirement, origin down: 502", "max-age=1", 502},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", c.cc)
				w.Header().Set("Age", "2")
				w.Header().Set("ETag", `"m"`)
				io.WriteString(w, "body")
			})
			e := newEdge(t, o)
			e.get("/m")
			e.settle()
			o.Close()
			r := e.get("/m")
			if r.StatusCode != c.want || r.body == "body" {
				t.Fatalf("status %d (%q), want %d", r.StatusCode, r.body, c.want)
			}
			if cs := r.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=origin-unreachable") {
				t.Errorf("Cache-Status %q", cs)
			}
		})
	}
}

// RFC 9875 §3: Cache-Group-Invalidation invalidates the groups of the same
// origin (here: site) only; a purge by key still reaches every site's
// group of that name.
func TestCacheGroupInvalidationScopedToSite(t *testing.T) {
	cases := []struct {
		name              string
		act               func(e *edgeEnv)
		wantA, wantB, ung string // X-Cache afterwards of a.example/g, b.example/g, a.example/u
	}{
		{"RFC 9875 §3 POST on site A invalidates A's group, not B's", func(e *edgeEnv) {
			e.do("POST", "/post", "Host", "a.example")
		}, "MISS", "HIT", "HIT"},
		{"RFC 9875 §3 POST on site B invalidates B's group, not A's", func(e *edgeEnv) {
			e.do("POST", "/post", "Host", "b.example")
		}, "HIT", "MISS", "HIT"},
		{"purge by plain group name reaches both sites", func(e *edgeEnv) {
			if _, err := e.proxy.purge(context.Background(), store.Purge{Keys: []string{"grp"}}); err != nil {
				e.t.Fatal(err)
			}
		}, "MISS", "MISS", "HIT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "POST" {
					w.Header().Set("Cache-Group-Invalidation", `"grp"`)
					return
				}
				w.Header().Set("Cache-Control", "max-age=600")
				if r.URL.Path == "/g" {
					w.Header().Set("Cache-Groups", `"grp"`)
				}
				io.WriteString(w, r.Host+r.URL.Path)
			})
			e := newEdge(t, o, func(cfg *Config, s *Site) {
				s.Name, s.Hosts = "a", []string{"a.example"}
				cfg.Sites = append(cfg.Sites, &Site{Name: "b", Hosts: []string{"b.example"}, Origin: o.url})
			})
			for _, h := range []string{"a.example", "b.example"} {
				e.get("/g", "Host", h)
				e.get("/u", "Host", h)
			}
			e.settle()
			c.act(e)
			if r := e.get("/g", "Host", "a.example"); r.Header.Get("X-Cache") != c.wantA {
				t.Errorf("site A's grouped object: %s, want %s", r.Header.Get("X-Cache"), c.wantA)
			}
			if r := e.get("/g", "Host", "b.example"); r.Header.Get("X-Cache") != c.wantB {
				t.Errorf("site B's grouped object: %s, want %s", r.Header.Get("X-Cache"), c.wantB)
			}
			if r := e.get("/u", "Host", "a.example"); r.Header.Get("X-Cache") != c.ung {
				t.Errorf("ungrouped object: %s, want %s", r.Header.Get("X-Cache"), c.ung)
			}
		})
	}
}

// RFC 9111 §4.4: invalidation after an unsafe method uses the same-origin
// rule (scheme, host and port), on this node only (no cluster purge).
func TestUnsafeInvalidationSameOrigin(t *testing.T) {
	cases := []struct {
		name        string
		location    string // HOST is replaced by the edge's host:port
		invalidated []string
		kept        []string
	}{
		{"RFC 9111 §4.4 Location with another scheme is another origin", "https://HOST/b", []string{"/a"}, []string{"/b"}},
		{"RFC 9111 §4.4 Location with another port is another origin", "http://127.0.0.1:1/b", []string{"/a"}, []string{"/b"}},
		{"RFC 9111 §4.4 same-origin Location", "http://HOST/b?x=1", []string{"/a", "/b?x=1"}, []string{"/b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var host string
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "POST" {
					w.Header().Set("Location", strings.ReplaceAll(c.location, "HOST", host))
					w.WriteHeader(201)
					return
				}
				w.Header().Set("Cache-Control", "max-age=60")
				io.WriteString(w, r.URL.String())
			})
			var mu sync.Mutex
			var purges []store.Purge
			e := newEdge(t, o, func(cfg *Config, _ *Site) {
				st := cfg.Store
				cfg.Purge = func(_ context.Context, p store.Purge) (PurgeResult, error) {
					mu.Lock()
					purges = append(purges, p)
					mu.Unlock()
					return PurgeResult{ID: "test/1", Purged: st.Purge(p)}, nil
				}
			})
			host = strings.TrimPrefix(e.srv.URL, "http://")
			for _, p := range []string{"/a", "/b", "/b?x=1"} {
				e.get(p)
			}
			e.settle()
			e.do("POST", "/a")
			checkInvalidated(t, e, c.invalidated, c.kept)
			mu.Lock()
			defer mu.Unlock()
			// The URIs are invalidated on this node only: no cluster purge.
			if len(purges) != 0 {
				t.Errorf("Config.Purge calls %+v, want none", purges)
			}
		})
	}
}

// RFC 9111 §4.4 with the purge fence: a GET already at the origin when an
// unsafe request invalidates its URL must not re-insert the old response.
func TestUnsafeInvalidationFencesInflightGet(t *testing.T) {
	g := newGate()
	var version atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			version.Add(1)
			w.WriteHeader(204)
			return
		}
		v := version.Load()
		if r.Header.Get("X-Block") == "1" {
			g.wait(r.Context())
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "v"+strconv.FormatInt(v, 10))
	})
	e := newEdge(t, o)
	done := make(chan resp, 1)
	go func() { done <- e.get("/f", "X-Block", "1") }()
	<-g.entered // the GET read version 0 and waits at the origin
	if r := e.do("PUT", "/f"); r.StatusCode != 204 {
		t.Fatalf("PUT: %d", r.StatusCode)
	}
	g.release()
	if r := <-done; r.body != "v0" {
		t.Fatalf("in-flight GET: %q", r.body)
	}
	e.settle()
	if r := e.get("/f"); r.body != "v1" || r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("the pre-PUT response was stored after the invalidation: %q %s", r.body, r.Header.Get("Cache-Status"))
	}
}

// Unkeyed request headers (cache poisoning): a cache fetch does not pass
// the client's X-Forwarded-Host, X-Forwarded-Server, X-Original-URL or
// X-Rewrite-URL to the origin; X-Forwarded-Host is the request's Host. A pass
// request (nothing stored) keeps the URL overrides, not the forwarding
// fields (TestUnkeyedFieldsNotStored has the whole list).
func TestUnkeyedHeadersNotForwarded(t *testing.T) {
	cases := []struct {
		name   string
		field  string
		method string
		want   string // what the origin sees; HOST = the request's Host
	}{
		{"X-Forwarded-Host replaced by Host on a cache fetch", "X-Forwarded-Host", "GET", "HOST"},
		{"X-Forwarded-Server dropped on a cache fetch", "X-Forwarded-Server", "GET", ""},
		{"X-Original-URL dropped on a cache fetch", "X-Original-URL", "GET", ""},
		{"X-Rewrite-URL dropped on a cache fetch", "X-Rewrite-URL", "GET", ""},
		{"pass request: X-Forwarded-Host is the Host", "X-Forwarded-Host", "POST", "HOST"},
		{"pass request keeps X-Original-URL", "X-Original-URL", "POST", "evil.example"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var seen atomic.Value
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				seen.Store(r.Header.Get(c.field))
				w.Header().Set("Cache-Control", "max-age=60")
				io.WriteString(w, "link to //"+r.Header.Get(c.field)+"/x")
			})
			e := newEdge(t, o)
			e.do(c.method, "/u", c.field, "evil.example", "Host", "site.example")
			want := strings.ReplaceAll(c.want, "HOST", "site.example")
			if got, _ := seen.Load().(string); got != want {
				t.Errorf("origin saw %s %q, want %q", c.field, got, want)
			}
			if c.method == "GET" {
				e.settle()
				if r := e.get("/u", "Host", "site.example"); strings.Contains(r.body, "evil") {
					t.Errorf("poisoned: %q", r.body)
				}
			}
		})
	}
}

// The hit-for-miss table is bounded in entries and in bytes: it keeps
// hashes, not URLs, so long URLs cost nothing extra.
func TestHitForMissTableBounded(t *testing.T) {
	var ft flightTable
	ft.init()
	prefix := strings.Repeat("x", 1024)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	n := maxHitForMiss + maxHitForMiss/16
	for i := range n {
		ft.markHitForMiss("example.com/"+prefix+strconv.Itoa(i), false, time.Minute)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if len(ft.hfm) > maxHitForMiss {
		t.Errorf("%d entries, limit %d", len(ft.hfm), maxHitForMiss)
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 16<<20 {
		t.Errorf("table of %d entries holds %d MiB (URLs of 1 KiB each are retained)", len(ft.hfm), grown>>20)
	}
	last := "example.com/" + prefix + strconv.Itoa(n-1)
	ft.mu.Lock()
	hit := ft.hitForMissLocked(last, false, time.Now())
	ft.mu.Unlock()
	if !hit {
		t.Error("latest entry forgotten")
	}
	ft.clearHitForMiss(last, false)
	ft.mu.Lock()
	hit = ft.hitForMissLocked(last, false, time.Now())
	ft.mu.Unlock()
	if hit {
		t.Error("cleared entry still remembered")
	}
	runtime.KeepAlive(&ft)
}

// RFC 9110 §15.4.5: a 304 the edge generates carries the caching metadata
// but not the representation metadata of the body.
func TestNotModifiedFields(t *testing.T) {
	cases := []struct {
		name string
		hit  bool // answered from a stored object (else on the miss, from the stream)
	}{
		{"RFC 9110 §15.4.5 304 from a stored object", true},
		{"RFC 9110 §15.4.5 304 on a miss", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				h.Set("Cache-Control", "max-age=60")
				h.Set("ETag", `"nm"`)
				h.Set("Last-Modified", "Wed, 01 May 2024 10:00:00 GMT")
				h.Set("Expires", "Wed, 01 May 2099 10:00:00 GMT")
				h.Set("Vary", "Accept-Encoding")
				h.Set("Content-Location", "/nm.gz")
				h.Set("Content-Type", "text/plain")
				h.Set("Content-Encoding", "gzip")
				h.Set("Content-Language", "en")
				io.WriteString(w, "pretend-gzip")
			})
			e := newEdge(t, o)
			if c.hit {
				e.get("/nm")
				e.settle()
			}
			r := e.get("/nm", "If-None-Match", `"nm"`)
			if r.StatusCode != 304 || r.body != "" {
				t.Fatalf("%d %q", r.StatusCode, r.body)
			}
			for _, k := range []string{"Cache-Control", "Etag", "Last-Modified", "Expires", "Vary", "Content-Location", "Age", "X-Cache", "Cache-Status", "Via"} {
				if len(r.Header[k]) == 0 {
					t.Errorf("304 lacks %s", k)
				}
			}
			for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Language", "Content-Length", "Accept-Ranges"} {
				if v, ok := r.Header[k]; ok {
					t.Errorf("304 carries %s: %q", k, v)
				}
			}
		})
	}
}

// RFC 9110 §14.2: a Range request for a URL the cache cannot store (hit-for-
// miss: uncacheable or larger than the object limit) is forwarded with its
// Range instead of fetching, and sending, the whole body.
func TestRangeForwardedWhenNotStorable(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	cases := []struct {
		name string
		cc   string
		max  int64 // site MaxObjectSize
	}{
		{"RFC 9110 §14.2 uncacheable (no-store) URL", "no-store", 0},
		{"RFC 9110 §14.2 URL too large to store", "max-age=60", 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ranges sync.Map
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				ranges.Store(n.Add(1), r.Header.Get("Range"))
				w.Header().Set("Cache-Control", c.cc)
				w.Header().Set("ETag", `"big"`)
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
			})
			e := newEdge(t, o, func(_ *Config, s *Site) { s.MaxObjectSize = c.max })
			if r := e.get("/big"); r.StatusCode != 200 || r.body != body {
				t.Fatalf("first: %d, %d bytes", r.StatusCode, len(r.body))
			}
			e.settle()
			r := e.get("/big", "Range", "bytes=10-19")
			if r.StatusCode != 206 || r.body != "0123456789" || r.Header.Get("Content-Range") != "bytes 10-19/1000" {
				t.Errorf("range: %d %q Content-Range %q", r.StatusCode, r.body, r.Header.Get("Content-Range"))
			}
			if got, _ := ranges.Load(int64(2)); got != "bytes=10-19" {
				t.Errorf("origin saw Range %q", got)
			}
			// Still remembered as not storable: the next range goes through too.
			e.settle()
			if r := e.get("/big", "Range", "bytes=0-4"); r.StatusCode != 206 || r.body != "01234" {
				t.Errorf("second range: %d %q", r.StatusCode, r.body)
			}
			if got, _ := ranges.Load(int64(3)); got != "bytes=0-4" {
				t.Errorf("origin saw Range %q", got)
			}
		})
	}
}

// RFC 9111 §3.3 / §3.4: a 206 that answers a forwarded Range is part of a
// body; it is never stored as the object, even when it carries freshness,
// so a later full GET gets the whole body.
func TestForwardedRangePartialNotStored(t *testing.T) {
	body := strings.Repeat("abcdefghij", 100)
	var cacheable atomic.Bool
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if cacheable.Load() {
			w.Header().Set("Cache-Control", "max-age=60")
		} else {
			w.Header().Set("Cache-Control", "no-store")
		}
		w.Header().Set("ETag", `"v"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
	})
	e := newEdge(t, o)
	e.get("/r") // remembered as uncacheable
	e.settle()
	cacheable.Store(true)
	r := e.get("/r", "Range", "bytes=0-9")
	if r.StatusCode != 206 || r.body != "abcdefghij" || !strings.Contains(r.Header.Get("Cache-Status"), "fwd-status=206") {
		t.Fatalf("range: %d %q %s", r.StatusCode, r.body, r.Header.Get("Cache-Status"))
	}
	e.settle()
	if st := e.store.Stats(); st.Objects != 0 {
		t.Fatalf("the 206 was stored: %+v", st)
	}
	r = e.get("/r")
	if r.StatusCode != 200 || r.body != body {
		t.Fatalf("full GET after a forwarded range: %d, %d bytes (%s)", r.StatusCode, len(r.body), r.Header.Get("Cache-Status"))
	}
}

// RFC 9110 §14.2 on a miss: one range of a body whose length is known is
// answered (206) as soon as the fetch has reached it, while the origin is
// still sending the rest; the whole object is stored all the same. Several
// ranges, or an unknown length, are cut from the complete body.
func TestRangeOfMissStreams(t *testing.T) {
	part := strings.Repeat("0123456789abcdef", 4<<10) // 64 KiB
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"s"`)
		w.Header().Set("Content-Length", strconv.Itoa(2*len(part)))
		io.WriteString(w, part)
		w.(http.Flusher).Flush()
		g.wait(r.Context()) // the second half only when the test says so
		io.WriteString(w, strings.ToUpper(part))
	})
	e := newEdge(t, o)
	got := make(chan resp, 1)
	go func() { got <- e.get("/s", "Range", "bytes=100-199") }()
	select {
	case r := <-got:
		if r.StatusCode != 206 || r.body != part[100:200] || r.Header.Get("Content-Range") != "bytes 100-199/"+strconv.Itoa(2*len(part)) ||
			r.Header.Get("Content-Length") != "100" {
			t.Fatalf("range of a streaming miss: %d %q %v", r.StatusCode, r.body, r.Header)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the range waited for the whole body")
	}
	// A range in the second half waits for it, then streams too.
	second := make(chan resp, 1)
	go func() { second <- e.get("/s", "Range", "bytes=-10") }()
	g.release()
	if r := <-second; r.StatusCode != 206 || r.body != strings.ToUpper(part)[len(part)-10:] {
		t.Fatalf("suffix range: %d %q", r.StatusCode, r.body)
	}
	e.settle()
	if r := e.get("/s"); r.Header.Get("X-Cache") != "HIT" || r.body != part+strings.ToUpper(part) {
		t.Errorf("not stored whole: %s, %d bytes", r.Header.Get("Cache-Status"), len(r.body))
	}
	if o.hits.Load() != 1 {
		t.Errorf("origin requests: %d", o.hits.Load())
	}
}

// RFC 9111 §4.4 behind a TLS-terminating proxy: the request's scheme is the
// one the trusted proxy states, so an https Location of the same host is the
// same origin and is invalidated.
func TestUnsafeInvalidationBehindTLSProxy(t *testing.T) {
	var host string
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			w.Header().Set("Location", "https://"+host+"/b")
			w.WriteHeader(201)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Path)
	})
	res, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: loopback, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = res })
	host = strings.TrimPrefix(e.srv.URL, "http://")
	e.get("/b", "X-Forwarded-Proto", "https")
	e.settle()
	e.do("POST", "/a", "X-Forwarded-Proto", "https")
	if r := e.get("/b", "X-Forwarded-Proto", "https"); r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("the https Location behind a trusted TLS proxy was not invalidated: %s", r.Header.Get("Cache-Status"))
	}
}

// RFC 9111 §4.2.2 heuristic freshness through the proxy: 10 % of the time
// since Last-Modified, for a status cacheable by default, at most the site's
// default TTL (an operator's "an hour when the origin says nothing" is not
// turned into a day because a resource is old).
func TestHeuristicCappedByDefaultTTL(t *testing.T) {
	cases := []struct {
		name    string
		lastMod time.Duration // before now
		status  int
		ttl     int // seconds in Cache-Status (±10), 0 = not stored
	}{
		{"RFC 9111 §4.2.2 10% of 10 h is 1 h", 10 * time.Hour, 200, 3600},
		{"RFC 9111 §4.2.2 capped at the default TTL (2 h)", 100 * 24 * time.Hour, 200, 7200},
		{"RFC 9111 §4.2.2 no heuristic for 302", 10 * time.Hour, 302, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Last-Modified", time.Now().Add(-c.lastMod).UTC().Format(http.TimeFormat))
				if c.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(c.status)
				io.WriteString(w, "x")
			})
			e := newEdge(t, o, func(_ *Config, s *Site) { s.DefaultTTL = 2 * time.Hour })
			r := e.get("/h")
			cs := r.Header.Get("Cache-Status")
			if c.ttl == 0 {
				if strings.Contains(cs, "stored") {
					t.Fatalf("stored: %s", cs)
				}
				return
			}
			m := regexp.MustCompile(`ttl=(-?\d+)`).FindStringSubmatch(cs)
			if !strings.Contains(cs, "stored") || m == nil {
				t.Fatalf("Cache-Status %q, want stored with a ttl", cs)
			}
			if got, _ := strconv.Atoi(m[1]); got < c.ttl-10 || got > c.ttl {
				t.Fatalf("ttl %d, want about %d (%s)", got, c.ttl, cs)
			}
		})
	}
}
