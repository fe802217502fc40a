package edge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/store"
)

// Issue 2: PURGE <url> on the edge listener only with the token
// (Fastly-Key or Authorization: Bearer) or from an allowed address;
// 401/403 otherwise, logged and counted; soft with Fastly-Soft-Purge: 1.
func TestPurgeMethod(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	})
	cases := []struct {
		name   string
		allow  []netip.Prefix
		hdr    []string
		status int
		reason string // denied metric label
	}{
		{"no token", nil, nil, 401, "missing_token"},
		{"wrong Fastly-Key", nil, []string{"Fastly-Key", "nope"}, 403, "bad_token"},
		{"wrong bearer", nil, []string{"Authorization", "Bearer nope"}, 403, "bad_token"},
		{"basic auth is not a token", nil, []string{"Authorization", "Basic c2VjcmV0"}, 401, "missing_token"},
		{"Fastly-Key", nil, []string{"Fastly-Key", "secret"}, 200, ""},
		{"bearer", nil, []string{"Authorization", "Bearer secret"}, 200, ""},
		{"allow-listed peer", loopback, nil, 200, ""},
		{"other allow-list", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, nil, 401, "missing_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []store.Purge
			var mu sync.Mutex
			e := newEdge(t, o, func(cfg *Config, _ *Site) {
				cfg.PurgeToken = "secret"
				cfg.PurgeAllow = c.allow
				st := &cfg.Store
				cfg.Purge = func(_ context.Context, p store.Purge) (PurgeResult, error) {
					mu.Lock()
					calls = append(calls, p)
					mu.Unlock()
					return PurgeResult{ID: "test/1", Purged: (*st).Purge(p)}, nil
				}
			})
			e.get("/obj?b=2&a=1")
			e.settle()
			r := e.do("PURGE", "/obj?a=1&b=2", c.hdr...)
			if r.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, c.status, r.body)
			}
			var ans purgeAnswer
			if err := json.Unmarshal([]byte(r.body), &ans); err != nil || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("answer %q: %v", r.body, err)
			}
			after := e.get("/obj?a=1&b=2")
			if c.status != 200 {
				if ans.Status != "error" || len(calls) != 0 || after.Header.Get("X-Cache") != "HIT" {
					t.Errorf("denied purge had effect: %+v, calls %d, %s", ans, len(calls), after.Header.Get("X-Cache"))
				}
				e.waitCounter(1, "meshcdn_edge_purge_denied_total", "reason", c.reason)
				if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			if ans.Status != "ok" || ans.ID != "test/1" || ans.Purged != 1 {
				t.Errorf("answer %+v", ans)
			}
			if len(calls) != 1 || len(calls[0].URLs) != 1 || calls[0].URLs[0] != e.primary("/obj?a=1&b=2") || calls[0].Soft {
				t.Errorf("Config.Purge got %+v", calls)
			}
			if after.Header.Get("X-Cache") != "MISS" {
				t.Errorf("object still cached after PURGE")
			}
		})
	}
}

// Soft purge marks the object stale: with a validator it is revalidated.
func TestSoftPurgeRevalidates(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"s"`)
		if r.Header.Get("If-None-Match") == `"s"` {
			w.WriteHeader(304)
			return
		}
		io.WriteString(w, "soft")
	})
	e := newEdge(t, o, func(c *Config, _ *Site) { c.PurgeToken = "secret" })
	e.get("/soft")
	e.settle()
	r := e.do("PURGE", "/soft", "Fastly-Key", "secret", "Fastly-Soft-Purge", "1")
	if !strings.Contains(r.body, `"purged":1`) {
		t.Fatalf("soft purge: %s", r.body)
	}
	if e.store.Stats().Objects != 1 {
		t.Error("soft purge removed the object")
	}
	r = e.get("/soft")
	if r.body != "soft" || !strings.Contains(r.Header.Get("Cache-Status"), "fwd=stale; fwd-status=304") {
		t.Errorf("after soft purge: %q %s", r.body, r.Header.Get("Cache-Status"))
	}
}

// A failing cluster purge is reported, not swallowed.
func TestPurgeMethodError(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	e := newEdge(t, o, func(c *Config, _ *Site) {
		c.PurgeAllow = loopback
		c.Purge = func(context.Context, store.Purge) (PurgeResult, error) {
			return PurgeResult{}, errors.New("cluster unavailable")
		}
	})
	r := e.do("PURGE", "/x")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "cluster unavailable") {
		t.Errorf("%d %s", r.StatusCode, r.body)
	}
}

// A PURGE of a URL longer than the cluster carries is refused with 414 and
// reaches no purge function (it is not a cluster failure).
func TestPurgeMethodURLTooLong(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	called := false
	e := newEdge(t, o, func(c *Config, _ *Site) {
		c.PurgeAllow = loopback
		c.Purge = func(context.Context, store.Purge) (PurgeResult, error) { called = true; return PurgeResult{}, nil }
	})
	r := e.do("PURGE", "/"+strings.Repeat("a", purgegate.MaxURLBytes))
	if r.StatusCode != http.StatusRequestURITooLong || !strings.Contains(r.body, "too long") || called {
		t.Errorf("%d %s (purge called: %v)", r.StatusCode, r.body, called)
	}
	r = e.do("PURGE", "/"+strings.Repeat("a", purgegate.MaxURLBytes-200))
	if r.StatusCode != http.StatusOK || !called {
		t.Errorf("a URL within the limit: %d %s", r.StatusCode, r.body)
	}
}

// RFC 9111 §4.4: a non-error response to an unsafe method invalidates the
// target URI and a same-host Location / Content-Location; RFC 9875 §3:
// Cache-Group-Invalidation purges the named groups (through Config.Purge).
func TestUnsafeMethodInvalidation(t *testing.T) {
	type answer struct {
		status int
		hdr    map[string]string
	}
	cases := []struct {
		name        string
		method      string
		target      string
		ans         answer
		invalidated []string // paths that must be gone afterwards
		kept        []string
	}{
		{"POST 200 target", "POST", "/a", answer{200, nil}, []string{"/a"}, []string{"/b", "/g1", "/g2"}},
		{"PUT 201 Location", "PUT", "/a", answer{201, map[string]string{"Location": "/b"}}, []string{"/a", "/b"}, []string{"/g1"}},
		{"PATCH Content-Location absolute same host", "PATCH", "/a", answer{200, map[string]string{"Content-Location": "http://HOST/b"}}, []string{"/a", "/b"}, []string{"/g1"}},
		{"DELETE 204 relative Location", "DELETE", "/dir/a", answer{204, map[string]string{"Location": "../b"}}, []string{"/b"}, []string{"/a"}},
		{"Location on another host is ignored", "POST", "/a", answer{303, map[string]string{"Location": "http://elsewhere.example/b"}}, []string{"/a"}, []string{"/b"}},
		{"error status invalidates nothing", "POST", "/a", answer{500, map[string]string{"Location": "/b"}}, nil, []string{"/a", "/b"}},
		{"4xx invalidates nothing", "DELETE", "/a", answer{404, nil}, nil, []string{"/a"}},
		{"unknown method is unsafe", "FROB", "/a", answer{200, nil}, []string{"/a"}, []string{"/b"}},
		{"safe extension method keeps", "PROPFIND", "/a", answer{207, nil}, nil, []string{"/a"}},
		{"Cache-Group-Invalidation", "POST", "/a", answer{200, map[string]string{"Cache-Group-Invalidation": `"grp1", "grp2"`}}, []string{"/a", "/g1", "/g2"}, []string{"/b"}},
		{"Cache-Group-Invalidation on error ignored", "POST", "/a", answer{502, map[string]string{"Cache-Group-Invalidation": `"grp1"`}}, nil, []string{"/g1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var host string
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "GET" {
					w.Header().Set("Cache-Control", "max-age=60")
					switch r.URL.Path {
					case "/g1":
						w.Header().Set("Cache-Groups", `"grp1"`)
					case "/g2":
						w.Header().Set("Cache-Groups", `"grp2", "other"`)
					}
					io.WriteString(w, r.URL.Path)
					return
				}
				for k, v := range c.ans.hdr {
					w.Header().Set(k, strings.ReplaceAll(v, "HOST", host))
				}
				w.WriteHeader(c.ans.status)
			})
			var purges []store.Purge
			var mu sync.Mutex
			e := newEdge(t, o, func(cfg *Config, _ *Site) {
				st := &cfg.Store
				cfg.Purge = func(_ context.Context, p store.Purge) (PurgeResult, error) {
					mu.Lock()
					purges = append(purges, p)
					mu.Unlock()
					return PurgeResult{ID: "test/1", Purged: (*st).Purge(p)}, nil
				}
			})
			host = strings.TrimPrefix(e.srv.URL, "http://")
			all := []string{"/a", "/b", "/dir/a", "/g1", "/g2"}
			for _, p := range all {
				e.get(p)
			}
			e.settle()
			e.do(c.method, c.target)
			checkInvalidated(t, e, c.invalidated, c.kept)
			mu.Lock()
			defer mu.Unlock()
			// URIs are invalidated on this node (RFC 9111 §4.4), groups
			// through Config.Purge (cluster-wide) under this site's scoped keys.
			wantPurge := c.ans.status < 400 && c.ans.hdr["Cache-Group-Invalidation"] != ""
			if wantPurge != (len(purges) == 1) {
				t.Fatalf("Config.Purge calls: %+v", purges)
			}
			var wantKeys []string
			if c.ans.hdr["Cache-Group-Invalidation"] != "" {
				s := e.proxy.table.Load().all[0]
				wantKeys = []string{s.groupKey("grp1"), s.groupKey("grp2")}
			}
			if wantPurge && (strings.Join(purges[0].Keys, ",") != strings.Join(wantKeys, ",") || len(purges[0].URLs) != 0) {
				t.Errorf("purged groups %q, want %q", purges[0].Keys, wantKeys)
			}
		})
	}
}

// RFC 9111 §4.4: Location naming another host must not invalidate that
// host's object even when this edge caches it.
func TestUnsafeInvalidationOtherHostKept(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			w.Header().Set("Location", "http://other.example/b")
			w.Header().Set("Content-Location", "//other.example/c")
			w.WriteHeader(201)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.Host+r.URL.Path)
	})
	e := newEdge(t, o)
	for _, p := range []string{"/b", "/c"} {
		e.get(p, "Host", "other.example")
		e.get(p, "Host", "this.example")
	}
	e.settle()
	e.do("POST", "/a", "Host", "this.example")
	for _, p := range []string{"/b", "/c"} {
		if r := e.get(p, "Host", "other.example"); r.Header.Get("X-Cache") != "HIT" || r.body != "other.example"+p {
			t.Errorf("other host's %s invalidated: %s %q", p, r.Header.Get("X-Cache"), r.body)
		}
		if r := e.get(p, "Host", "this.example"); r.Header.Get("X-Cache") != "HIT" {
			t.Errorf("this host's %s invalidated by another host's Location", p)
		}
	}
	e.do("POST", "/a", "Host", "other.example")
	for _, p := range []string{"/b", "/c"} {
		if r := e.get(p, "Host", "other.example"); r.Header.Get("X-Cache") != "MISS" {
			t.Errorf("same-host %s not invalidated", p)
		}
	}
}

// checkInvalidated: every path in gone is a MISS now, every path in kept a HIT.
func checkInvalidated(t *testing.T, e *edgeEnv, gone, kept []string) {
	t.Helper()
	for _, p := range gone {
		if r := e.get(p); r.Header.Get("X-Cache") != "MISS" {
			t.Errorf("%s still cached", p)
		}
	}
	for _, p := range kept {
		if r := e.get(p); r.Header.Get("X-Cache") != "HIT" {
			t.Errorf("%s was invalidated", p)
		}
	}
}
