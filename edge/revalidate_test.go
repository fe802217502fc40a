package edge

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stale on arrival: "Age" beyond max-age makes a stored copy stale at once,
// so these tests need no sleeping.

// RFC 9111 §4.3.1-§4.3.4: a stale object with a validator is revalidated
// with a conditional request; a 304 freshens the stored headers (the body is
// kept); a 200 replaces the object.
func TestRevalidation(t *testing.T) {
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name      string
		validator [2]string // response field, value
		cond      [2]string // request field the origin must see, value
		answer    int       // 304 or 200
	}{
		{"etag → If-None-Match → 304", [2]string{"ETag", `"v1"`}, [2]string{"If-None-Match", `"v1"`}, 304},
		{"last-modified → If-Modified-Since → 304", [2]string{"Last-Modified", lm}, [2]string{"If-Modified-Since", lm}, 304},
		{"etag → 200 replaces", [2]string{"ETag", `"v1"`}, [2]string{"If-None-Match", `"v1"`}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			var condSeen atomic.Value
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				if n.Add(1) == 1 {
					h.Set("Cache-Control", "max-age=10")
					h.Set("Age", "20")
					h.Set(c.validator[0], c.validator[1])
					h.Set("X-Gen", "1")
					io.WriteString(w, "first body")
					return
				}
				condSeen.Store(r.Header.Get(c.cond[0]))
				h.Set("Cache-Control", "max-age=100")
				h.Set("X-Gen", "2")
				if c.answer == 304 {
					w.WriteHeader(304)
					return
				}
				io.WriteString(w, "second body")
			})
			e := newEdge(t, o)
			e.get("/r")
			e.settle()
			r := e.get("/r")
			if got, _ := condSeen.Load().(string); got != c.cond[1] {
				t.Fatalf("origin saw %s %q, want %q", c.cond[0], got, c.cond[1])
			}
			want := "first body"
			if c.answer == 200 {
				want = "second body"
			}
			if r.StatusCode != 200 || r.body != want || r.Header.Get("X-Gen") != "2" {
				t.Fatalf("after revalidation: %d %q X-Gen %q", r.StatusCode, r.body, r.Header.Get("X-Gen"))
			}
			if cs := r.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=stale; fwd-status="+strconv.Itoa(c.answer)) || !strings.Contains(cs, "stored") {
				t.Errorf("Cache-Status %q", cs)
			}
			e.settle()
			r = e.get("/r")
			if r.Header.Get("X-Cache") != "HIT" || r.body != want || r.Header.Get("X-Gen") != "2" {
				t.Errorf("freshened object: %s %q X-Gen %q", r.Header.Get("Cache-Status"), r.body, r.Header.Get("X-Gen"))
			}
			if ttl := csTTL(t, r.Header.Get("Cache-Status")); ttl < 95 || ttl > 100 {
				t.Errorf("ttl after revalidation %d", ttl)
			}
			if n.Load() != 2 {
				t.Errorf("origin requests %d", n.Load())
			}
		})
	}
}

// RFC 9111 §5.2.2.4 (no-cache): a stored no-cache response is revalidated
// before every reuse.
func TestNoCacheAlwaysRevalidates(t *testing.T) {
	var conditional atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache, max-age=100")
		w.Header().Set("ETag", `"e"`)
		if r.Header.Get("If-None-Match") == `"e"` {
			conditional.Add(1)
			w.WriteHeader(304)
			return
		}
		io.WriteString(w, "body")
	})
	e := newEdge(t, o)
	for i := range 4 {
		r := e.get("/nc")
		e.settle()
		if r.body != "body" || r.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, r.StatusCode, r.body)
		}
	}
	if conditional.Load() != 3 || o.hits.Load() != 4 {
		t.Errorf("origin requests %d (conditional %d), want 4 (3)", o.hits.Load(), conditional.Load())
	}
}

// RFC 5861 §3 (stale-while-revalidate): stale copies are served at once and
// refreshed in the background, one refresh per object at a time. The same
// for a soft-purged object (issue 2).
func TestStaleWhileRevalidate(t *testing.T) {
	for _, soft := range []bool{false, true} {
		name := "expired"
		if soft {
			name = "soft-purged"
		}
		t.Run(name, func(t *testing.T) {
			g := newGate()
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=100")
					w.Header().Set("Surrogate-Key", "k")
					if !soft {
						w.Header().Set("Age", "11")
					}
					io.WriteString(w, "v1")
					return
				}
				g.wait(r.Context())
				w.Header().Set("Cache-Control", "max-age=100")
				io.WriteString(w, "v2")
			})
			e := newEdge(t, o, func(c *Config, _ *Site) { c.PurgeAllow = loopback })
			e.get("/swr")
			e.settle()
			if soft {
				if r := e.do("PURGE", "/swr", "Fastly-Soft-Purge", "1"); !strings.Contains(r.body, `"purged":1`) {
					t.Fatalf("soft purge: %s", r.body)
				}
			}
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.get("/swr")
					cs := r.Header.Get("Cache-Status")
					if r.body != "v1" || r.Header.Get("X-Cache") != "HIT" || !strings.Contains(cs, "hit; ttl=-") || !strings.Contains(cs, "stale-while-revalidate") {
						t.Errorf("stale request: %q %s", r.body, cs)
					}
				}()
			}
			wg.Wait() // all answered while the refresh is still blocked at the origin
			<-g.entered
			if got := n.Load(); got != 2 {
				t.Errorf("origin requests %d, want 2 (one refresh)", got)
			}
			e.waitCounter(20, "meshcdn_edge_requests_total", "result", "stale")
			g.release()
			e.settle()
			if r := e.get("/swr"); r.body != "v2" || r.Header.Get("X-Cache") != "HIT" {
				t.Errorf("after the refresh: %q %s", r.body, r.Header.Get("Cache-Status"))
			}
		})
	}
}

// RFC 5861 §4 (stale-if-error) and the site default: origin 5xx, connection
// failure or timeout → the stale copy; never with must-revalidate
// (RFC 9111 §5.2.2.2); without a window the error goes through.
func TestStaleIfError(t *testing.T) {
	cases := []struct {
		name       string
		cc         string
		siteSIE    time.Duration
		failure    string // "503", "down", "timeout"
		wantStale  bool
		wantStatus int
	}{
		{"5xx with stale-if-error", "max-age=1, stale-if-error=100", 0, "503", true, 200},
		{"connection refused", "max-age=1, stale-if-error=100", 0, "down", true, 200},
		{"timeout", "max-age=1, stale-if-error=100", 0, "timeout", true, 200},
		{"site default window", "max-age=1", time.Minute, "503", true, 200},
		{"no window: 5xx passes", "max-age=1", 0, "503", false, 503},
		{"no window: origin down", "max-age=1", 0, "down", false, 502},
		{"must-revalidate", "max-age=1, must-revalidate, stale-if-error=100", 0, "503", false, 503},
		{"must-revalidate, timeout", "max-age=1, must-revalidate, stale-if-error=100", 0, "timeout", false, 504},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			block := newGate()
			t.Cleanup(block.release)
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Cache-Control", c.cc)
					w.Header().Set("Age", "2")
					w.Header().Set("ETag", `"x"`) // kept for revalidation after it expires
					io.WriteString(w, "stale body")
					return
				}
				if c.failure == "timeout" {
					block.wait(r.Context())
				}
				w.WriteHeader(503)
				io.WriteString(w, "origin error")
			})
			e := newEdge(t, o, func(_ *Config, s *Site) {
				s.DefaultSIE = c.siteSIE
				s.FirstByteTimeout = 300 * time.Millisecond
			})
			e.get("/sie")
			e.settle()
			if c.failure == "down" {
				o.Close()
			}
			r := e.get("/sie")
			if r.StatusCode != c.wantStatus {
				t.Fatalf("status %d, want %d (%q, %s)", r.StatusCode, c.wantStatus, r.body, r.Header.Get("Cache-Status"))
			}
			cs := r.Header.Get("Cache-Status")
			if c.wantStale {
				if r.body != "stale body" || r.Header.Get("X-Cache") != "HIT" || !strings.Contains(cs, "fwd=stale") || !strings.Contains(cs, "detail=stale-if-error") {
					t.Errorf("not the stale copy: %q %s", r.body, cs)
				}
				e.waitCounter(1, "meshcdn_edge_requests_total", "result", "stale")
			} else if r.body == "stale body" {
				t.Errorf("stale copy served: %s", cs)
			}
		})
	}
}

// Config.StaleCutoff: objects stored before the cutoff are stale
// (bounded staleness), so they are revalidated.
func TestStaleCutoff(t *testing.T) {
	var cutoff atomic.Int64
	var conditional atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"c"`)
		if r.Header.Get("If-None-Match") != "" {
			conditional.Add(1)
			w.WriteHeader(304)
			return
		}
		io.WriteString(w, "c")
	})
	e := newEdge(t, o, func(c *Config, _ *Site) {
		c.StaleCutoff = func() time.Time { return time.Unix(0, cutoff.Load()) }
	})
	e.get("/cut")
	e.settle()
	if r := e.get("/cut"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatal("not cached")
	}
	cutoff.Store(time.Now().UnixNano()) // after the stored copy, before its revalidation
	r := e.get("/cut")
	if r.body != "c" || conditional.Load() != 1 || !strings.Contains(r.Header.Get("Cache-Status"), "fwd=stale; fwd-status=304") {
		t.Errorf("object before the cutoff not revalidated: %s (conditional %d)", r.Header.Get("Cache-Status"), conditional.Load())
	}
	e.settle()
	if r := e.get("/cut"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("revalidated object (after the cutoff) not fresh: %s", r.Header.Get("Cache-Status"))
	}
}
