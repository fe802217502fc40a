package edge

import (
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 9 item 17 / RFC 9111 §3.5: a response to a request with
// Authorization is stored and shared when the field that governs this
// cache says public, s-maxage or must-revalidate; otherwise it reaches only
// the client that asked. Requests with Authorization are looked up like any
// other.
func TestAuthorizationSharedWithPermission(t *testing.T) {
	headers := map[string][]string{
		"/public":          {"Cache-Control", "public, max-age=60"},
		"/s-maxage":        {"Cache-Control", "s-maxage=60"},
		"/must-revalidate": {"Cache-Control", "max-age=60, must-revalidate"},
		"/cdn-public":      {"Cdn-Cache-Control", "public, max-age=60", "Cache-Control", "private"},
		"/max-age":         {"Cache-Control", "max-age=60"},
		"/cdn-governs":     {"Cdn-Cache-Control", "max-age=60", "Cache-Control", "public, max-age=60"},
		"/surrogate":       {"Surrogate-Control", "max-age=60", "Cache-Control", "public"},
		"/sc-adds":         {"Surrogate-Control", "must-revalidate", "Cache-Control", "max-age=60"},
	}
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		kv := headers[r.URL.Path]
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		io.WriteString(w, "for "+r.Header.Get("Authorization"))
	})
	e := newEdge(t, o)
	for _, c := range []struct {
		path   string
		shared bool
	}{
		{"/public", true}, {"/s-maxage", true}, {"/must-revalidate", true}, {"/cdn-public", true},
		// A Surrogate-Control that does not govern adds its
		// must-revalidate to the governing directives, and it counts.
		{"/sc-adds", true},
		{"/max-age", false},
		// The targeted field governs (RFC 9213 §2.2): Cache-Control's
		// public beside it gives no permission.
		{"/cdn-governs", false}, {"/surrogate", false},
	} {
		t.Run(c.path, func(t *testing.T) {
			a := e.get(c.path, "Authorization", "Bearer alice")
			if a.body != "for Bearer alice" || a.Header.Get("X-Cache") != "MISS" {
				t.Fatalf("first request: %s %q %s", a.Header.Get("X-Cache"), a.body, a.Header.Get("Cache-Status"))
			}
			e.settle()
			b := e.get(c.path, "Authorization", "Bearer bob")
			anon := e.get(c.path)
			if c.shared {
				for _, r := range []resp{b, anon} {
					if r.Header.Get("X-Cache") != "HIT" || r.body != "for Bearer alice" {
						t.Errorf("not shared: %s %q %s", r.Header.Get("X-Cache"), r.body, r.Header.Get("Cache-Status"))
					}
				}
				return
			}
			if b.Header.Get("X-Cache") != "MISS" || b.body != "for Bearer bob" {
				t.Errorf("bob got %s %q", b.Header.Get("X-Cache"), b.body)
			}
			if d, _ := csParam(a.Header.Get("Cache-Status"), "detail"); d != "authorization" {
				t.Errorf("Cache-Status %q, want detail=authorization", a.Header.Get("Cache-Status"))
			}
			if anon.body != "for " {
				t.Errorf("anonymous request got %q", anon.body)
			}
		})
	}
}

// A request with Authorization is answered from a stored response only
// when its directives permit reuse for such requests (public, s-maxage,
// must-revalidate), whoever it was fetched for. Otherwise it goes to the
// origin, and the stored copy stays for the anonymous requests.
func TestAuthorizationReusesOnlySharedObjects(t *testing.T) {
	for _, c := range []struct {
		cc     string
		shared bool
	}{
		{"max-age=60", false},
		{"public, max-age=60", true},
		{"s-maxage=60", true},
		{"max-age=60, must-revalidate", true},
	} {
		t.Run(c.cc, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", c.cc)
				io.WriteString(w, "for "+r.Header.Get("Authorization"))
			})
			e := newEdge(t, o)
			e.get("/page")
			e.settle()
			r := e.get("/page", "Authorization", "Bearer alice")
			if c.shared {
				if r.Header.Get("X-Cache") != "HIT" || r.body != "for " || o.hits.Load() != 1 {
					t.Fatalf("%s %q %s, origin requests %d: want the shared copy", r.Header.Get("X-Cache"), r.body, r.Header.Get("Cache-Status"), o.hits.Load())
				}
				return
			}
			if r.Header.Get("X-Cache") != "MISS" || r.body != "for Bearer alice" {
				t.Fatalf("alice got %s %q %s: the anonymous copy answered a request with credentials", r.Header.Get("X-Cache"), r.body, r.Header.Get("Cache-Status"))
			}
			if fwd, _ := csParam(r.Header.Get("Cache-Status"), "fwd"); fwd != "request" {
				t.Errorf("Cache-Status %q, want fwd=request", r.Header.Get("Cache-Status"))
			}
			e.settle()
			if a := e.get("/page"); a.Header.Get("X-Cache") != "HIT" || a.body != "for " {
				t.Errorf("anonymous after alice: %s %q: the shared copy was replaced or dropped", a.Header.Get("X-Cache"), a.body)
			}
		})
	}
}

// A request with Authorization that arrives while an anonymous response is
// streaming into the cache does not join it unless it is shared: it goes
// to the origin by itself.
func TestAuthorizationNotCollapsedOntoAnonymousFetch(t *testing.T) {
	gate := newGate()
	release := gate.release
	t.Cleanup(release)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Header.Get("Authorization") != "" {
			io.WriteString(w, "for "+r.Header.Get("Authorization"))
			return
		}
		w.Header().Set("Content-Length", "9")
		io.WriteString(w, "anon")
		w.(http.Flusher).Flush()
		gate.wait(r.Context())
		io.WriteString(w, "ymous")
	})
	e := newEdge(t, o)
	anon := make(chan string, 1)
	go func() {
		res, err := e.client.Get(e.srv.URL + "/page")
		if err != nil {
			anon <- err.Error()
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			anon <- string(b) + ": " + err.Error()
			return
		}
		anon <- string(b)
	}()
	<-gate.entered // the anonymous body is streaming in
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/page", nil)
	req.Header.Set("Authorization", "Bearer alice")
	// Bounded: joining the anonymous stream would wait for the gate.
	c := &http.Client{Transport: e.client.Transport, Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("alice: %v (waiting on the anonymous response?)", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "for Bearer alice" {
		t.Errorf("alice got %q (%s)", b, res.Header.Get("Cache-Status"))
	}
	release()
	if a := <-anon; a != "anonymous" {
		t.Errorf("anonymous got %q", a)
	}
}

// An authorised response that may not be stored marks the URL
// uncacheable for authorised requests only: they then go to the origin in
// parallel, while anonymous requests still collapse into one fetch and are
// stored.
func TestAuthorizationHitForMissScoped(t *testing.T) {
	const n = 6
	var bar atomic.Pointer[barrier]
	anon := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			anon.wait(r.Context())
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, "anonymous")
			return
		}
		w.Header().Set("Cache-Control", "max-age=60") // no permission
		if b := bar.Load(); b != nil && !b.arrive() {
			w.WriteHeader(500) // serialised: the barrier never opened
			return
		}
		io.WriteString(w, "for "+r.Header.Get("Authorization"))
	})
	e := newEdge(t, o)
	if r := e.get("/page", "Authorization", "Bearer first"); r.body != "for Bearer first" {
		t.Fatalf("first: %q", r.body)
	}
	// Authorised requests: straight to the origin, in parallel.
	bar.Store(newBarrier(n))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := "Bearer u" + strconv.Itoa(i)
			if r := e.get("/page", "Authorization", tok); r.StatusCode != 200 || r.body != "for "+tok {
				t.Errorf("%s got %d %q", tok, r.StatusCode, r.body)
			}
		}()
	}
	wg.Wait()
	hfm := e.counter("meshcdn_edge_hit_for_miss_total")
	// Anonymous requests: one collapsed fetch, stored.
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.get("/page"); r.body != "anonymous" {
				t.Errorf("anonymous got %q", r.body)
			}
		}()
	}
	waitFor(t, "collapsed anonymous waiters", func() bool { return e.waiters(e.primary("/page")) == n })
	anon.release()
	wg.Wait()
	if got := o.hits.Load(); got != 1+n+1 {
		t.Errorf("origin requests %d, want %d", got, 1+n+1)
	}
	if got := e.counter("meshcdn_edge_hit_for_miss_total"); got != hfm {
		t.Errorf("anonymous requests went through hit-for-miss (%v → %v)", hfm, got)
	}
	e.settle()
	if r := e.get("/page"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("anonymous response not stored: %s", r.Header.Get("Cache-Status"))
	}
}

// An authorised revalidation of a shared stale copy whose answer may not
// be shared neither reaches the anonymous requests collapsed onto it nor
// removes the shared copy.
func TestAuthorizationRevalidationNotShared(t *testing.T) {
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		auth := r.Header.Get("Authorization")
		if auth != "" {
			g.wait(r.Context())
			w.Header().Set("Cache-Control", "max-age=60") // no permission
			w.Header().Set("X-User", auth)
		} else {
			w.Header().Set("Cache-Control", "public, max-age=0") // reusable for alice too
		}
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body v1")
	})
	e := newEdge(t, o)
	e.get("/doc") // stored, stale at once, with a validator
	e.settle()
	var wg sync.WaitGroup
	var alice, anon resp
	wg.Add(1)
	go func() { defer wg.Done(); alice = e.get("/doc", "Authorization", "Bearer alice") }()
	waitFor(t, "alice's revalidation", func() bool { return e.waiters(e.primary("/doc")) == 1 })
	wg.Add(1)
	go func() { defer wg.Done(); anon = e.get("/doc") }()
	waitFor(t, "a collapsed anonymous request", func() bool { return e.waiters(e.primary("/doc")) == 2 })
	g.release()
	wg.Wait()
	if alice.body != "body v1" || alice.Header.Get("X-User") != "Bearer alice" {
		t.Errorf("alice got %q %v", alice.body, alice.Header)
	}
	if anon.body != "body v1" || anon.Header.Get("X-User") != "" {
		t.Errorf("anonymous request got %q with X-User %q", anon.body, anon.Header.Get("X-User"))
	}
	// Alice alone: her 304 leaves the shared copy in place, which the next
	// anonymous request revalidates (304) instead of fetching anew.
	e.settle()
	e.get("/doc", "Authorization", "Bearer alice")
	e.settle()
	r := e.get("/doc")
	if r.Header.Get("X-User") != "" || r.body != "body v1" {
		t.Errorf("after: X-User %q, body %q", r.Header.Get("X-User"), r.body)
	}
	if fs, _ := csParam(r.Header.Get("Cache-Status"), "fwd-status"); fs != "304" {
		t.Errorf("the shared copy was dropped: %s", r.Header.Get("Cache-Status"))
	}
}

// With Vary: Authorization the variant key holds no credential in clear.
func TestVaryAuthorizationHashed(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Authorization, Cookie")
		io.WriteString(w, "for "+r.Header.Get("Authorization"))
	})
	e := newEdge(t, o)
	const user, pass = "alice", "s3cret-password"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	for _, want := range []string{"MISS", "HIT"} {
		if r := e.get("/v", "Authorization", basic, "Cookie", "sid=session-token"); r.Header.Get("X-Cache") != want || r.body != "for "+basic {
			t.Fatalf("alice: %s %q, want %s", r.Header.Get("X-Cache"), r.body, want)
		}
		e.settle()
	}
	if r := e.get("/v", "Authorization", "Bearer bob", "Cookie", "sid=session-token"); r.Header.Get("X-Cache") != "MISS" || r.body != "for Bearer bob" {
		t.Fatalf("bob: %s %q", r.Header.Get("X-Cache"), r.body)
	}
	h := http.Header{"Authorization": {basic}, "Cookie": {"sid=session-token"}}
	obj, _ := e.store.Lookup(e.primary("/v"), func(v []string) string { return secondaryKey(v, h) })
	if obj == nil {
		t.Fatal("alice's variant not found")
	}
	for _, secret := range []string{basic, basic[6:], pass, "session-token"} {
		if strings.Contains(obj.Secondary, secret) {
			t.Errorf("the variant key %q holds %q", obj.Secondary, secret)
		}
	}
}

// The same for a full answer to the authorised revalidation: it neither
// replaces nor removes the shared copy (any client can send a credential
// the origin refuses).
func TestAuthorizationRefusalKeepsSharedCopy(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "bad credentials")
			return
		}
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=0")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body v1")
	})
	e := newEdge(t, o)
	e.get("/doc")
	e.settle()
	if r := e.get("/doc", "Authorization", "Bearer junk"); r.StatusCode != 401 {
		t.Fatalf("status %d", r.StatusCode)
	}
	e.settle()
	r := e.get("/doc")
	if fs, _ := csParam(r.Header.Get("Cache-Status"), "fwd-status"); fs != "304" || r.body != "body v1" {
		t.Errorf("the shared copy was dropped: %s %q", r.Header.Get("Cache-Status"), r.body)
	}
}
