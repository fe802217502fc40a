package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// staticShield is a fixed ownership for the edge's own tests: every key
// is owned by one node (the cluster's rendezvous choice is tested in
// cluster and end to end in test/). covered says whether this node has
// applied what children send.
type staticShield struct {
	self, owner string
	addr        atomic.Pointer[string]
	secret      []byte
	uncovered   atomic.Bool
	waited      atomic.Int64
}

func (s *staticShield) Owner(key, region string) (string, string, bool, bool) {
	a := s.addr.Load()
	if a == nil {
		return "", "", false, false
	}
	return s.owner, *a, s.owner == s.self, true
}
func (s *staticShield) Region() string  { return "r1" }
func (s *staticShield) Applied() string { return "v-" + s.self }
func (s *staticShield) WaitApplied(ctx context.Context, v string, d time.Duration) (bool, error) {
	s.waited.Add(1)
	if v == "bad" {
		return false, fmt.Errorf("bad vector")
	}
	return !s.uncovered.Load(), nil
}
func (s *staticShield) Secrets() [][]byte { return [][]byte{s.secret} }

// shieldPair is a child and the owner of every key, each a real proxy on a
// real socket, the owner's peer endpoint on a listener of its own (the
// admin listener's role).
type shieldPair struct {
	child, owner           *edgeEnv
	childShield, ownShield *staticShield
	peer                   *httptest.Server
}

func newShieldPair(t *testing.T, o *origin, opts ...envOpt) *shieldPair {
	t.Helper()
	secret := []byte("0123456789abcdef0123456789abcdef")
	sp := &shieldPair{
		childShield: &staticShield{self: "child", owner: "owner", secret: secret},
		ownShield:   &staticShield{self: "owner", owner: "owner", secret: secret},
	}
	with := func(sh *staticShield, name string) envOpt {
		return func(c *Config, s *Site) {
			c.Shield, c.NodeName = sh, name
			s.Shield = "cluster"
			for _, f := range opts {
				f(c, s)
			}
		}
	}
	sp.owner = newEdge(t, o, with(sp.ownShield, "owner"))
	sp.peer = httptest.NewServer(http.HandlerFunc(sp.owner.proxy.ServePeer))
	t.Cleanup(sp.peer.Close)
	addr := strings.TrimPrefix(sp.peer.URL, "http://")
	sp.childShield.addr.Store(&addr)
	sp.ownShield.addr.Store(&addr)
	sp.child = newEdge(t, o, with(sp.childShield, "child"))
	return sp
}

// A miss on the child is fetched through the owner: one origin fetch for
// both nodes; the child stores it (a hit next), the owner too; the child's
// Cache-Status lists the owner's entry, then its own; surrogate keys reach
// the child's store (a purge by key on the child removes its copy).
func TestShieldOneOriginFetch(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Surrogate-Key", "k1")
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "body")
	})
	sp := newShieldPair(t, o)
	r := sp.child.get("/a", "Host", "example.com")
	if r.StatusCode != 200 || r.body != "body" {
		t.Fatalf("child: %d %q", r.StatusCode, r.body)
	}
	cs := r.Header.Values("Cache-Status")
	if len(cs) != 2 || !strings.HasPrefix(cs[0], "owner;") || !strings.HasPrefix(cs[1], "child;") {
		t.Fatalf("Cache-Status %q: want the owner's entry, then the child's", cs)
	}
	if r.Header.Get("Surrogate-Key") != "" || r.Header.Get(hdrPeer) != "" {
		t.Fatalf("internal fields reached the client: %v", r.Header)
	}
	sp.child.settle()
	sp.owner.settle()
	if r := sp.owner.get("/a", "Host", "example.com"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("owner: %s, want a HIT", r.Header.Get("X-Cache"))
	}
	if r := sp.child.get("/a", "Host", "example.com"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("child: %s, want a HIT", r.Header.Get("X-Cache"))
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin fetches %d, want 1", n)
	}
	if got := sp.child.counter("meshcdn_edge_peer_fetches_total", "outcome", "ok"); got != 1 {
		t.Fatalf("peer fetches ok = %v", got)
	}
	if got := sp.child.counter("meshcdn_edge_origin_fetches_total", "outcome", "ok"); got != 0 {
		t.Fatalf("child origin fetches = %v", got)
	}
	if got := sp.owner.counter("meshcdn_edge_peer_requests_total", "outcome", "covered"); got != 1 {
		t.Fatalf("owner peer requests covered = %v", got)
	}
	// The owner counted its client's request only (the HIT), not the
	// child's miss it served.
	sp.owner.waitCounter(1, "meshcdn_edge_requests_total", "result", "hit")
	if got := sp.owner.counter("meshcdn_edge_requests_total", "result", "miss"); got != 0 {
		t.Fatalf("owner counted %v misses: a peer fetch is the child's request", got)
	}
	if n := sp.child.store.Purge(store.Purge{Keys: []string{"k1"}}); n != 1 {
		t.Fatalf("a purge by the surrogate key removed %d objects on the child", n)
	}
}

// Concurrent misses on the child and on the owner collapse into one
// origin fetch.
func TestShieldCollapsesChildAndOwner(t *testing.T) {
	g := newGate()
	t.Cleanup(g.release)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		g.wait(r.Context())
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "v")
	})
	sp := newShieldPair(t, o)
	var wg sync.WaitGroup
	bad := atomic.Int64{}
	for i := range 20 {
		e := sp.child
		if i%2 == 1 {
			e = sp.owner
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.get("/c", "Host", "example.com"); r.StatusCode != 200 || r.body != "v" {
				bad.Add(1)
			}
		}()
	}
	<-g.entered
	waitFor(t, "every request to wait", func() bool {
		return sp.owner.counter("meshcdn_edge_peer_requests_total", "outcome", "covered") == 1
	})
	time.Sleep(20 * time.Millisecond) // let the owner's own requests queue (the count below holds either way)
	g.release()
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests failed", bad.Load())
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin fetches %d, want 1", n)
	}
}

// An owner that has not applied every purge the child had (not covered)
// does not answer from its cache: it fetches anew.
func TestShieldUncoveredOwnerRefetches(t *testing.T) {
	var ver atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, ver.Load())
	})
	sp := newShieldPair(t, o)
	if r := sp.owner.get("/u", "Host", "example.com"); r.body != "0" {
		t.Fatal(r.body)
	}
	sp.owner.settle()
	ver.Store(1) // the origin changed; the child applied the purge, the owner not yet
	sp.ownShield.uncovered.Store(true)
	if r := sp.child.get("/u", "Host", "example.com"); r.body != "1" {
		t.Fatalf("child got %q from an owner that had not applied its purges, want 1", r.body)
	}
	if got := sp.owner.counter("meshcdn_edge_peer_requests_total", "outcome", "not_covered"); got != 1 {
		t.Fatalf("not_covered = %v", got)
	}
	// Covered again: the cache answers.
	sp.owner.settle()
	sp.ownShield.uncovered.Store(false)
	ver.Store(2)
	sp.child.store.Purge(store.Purge{All: true})
	if r := sp.child.get("/u", "Host", "example.com"); r.body != "1" {
		t.Fatalf("child got %q, want the owner's cached 1", r.body)
	}
}

// A peer fetch joins only flights the owner began after it waited for the
// child's purges: a flight already running may predate one of them.
func TestShieldPeerDoesNotJoinOlderFlight(t *testing.T) {
	g := newGate()
	t.Cleanup(g.release)
	var ver, calls atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		v := ver.Load()
		if calls.Add(1) == 1 {
			g.wait(r.Context()) // the first fetch reads v0, then stalls
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, v)
	})
	sp := newShieldPair(t, o)
	done := make(chan resp, 1)
	go func() { done <- sp.owner.get("/j", "Host", "example.com") }()
	<-g.entered
	ver.Store(1)
	// A purge is applied on the owner (the store's fence moves) and on the
	// child; then the child misses.
	sp.owner.store.Purge(store.Purge{Keys: []string{"unrelated"}})
	if r := sp.child.get("/j", "Host", "example.com"); r.body != "1" {
		t.Fatalf("child got %q: joined a flight older than its purge", r.body)
	}
	g.release()
	if r := <-done; r.body != "0" {
		t.Fatalf("owner's own request got %q", r.body)
	}
}

// Owner down, silent or answering 5xx: the child goes to the origin
// itself and the request succeeds.
func TestShieldOwnerFailures(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "ok")
	})
	cases := []struct {
		name    string
		handler http.HandlerFunc
		outcome string
	}{
		{"down", nil, peerError},
		{"silent", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, peerTimeout},
		{"5xx", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(hdrPeer, "owner")
			http.Error(w, "boom", http.StatusBadGateway)
		}, peerServerError},
		{"refuses", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) }, peerRefused},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := newShieldPair(t, o, func(cfg *Config, s *Site) { cfg.ShieldTimeout = 100 * time.Millisecond })
			addr := freePort(t)
			if c.handler != nil {
				srv := httptest.NewServer(c.handler)
				t.Cleanup(srv.Close)
				addr = strings.TrimPrefix(srv.URL, "http://")
			}
			sp.childShield.addr.Store(&addr)
			path := "/f" + strconv.Itoa(i)
			if r := sp.child.get(path, "Host", "example.com"); r.StatusCode != 200 || r.body != "ok" {
				t.Fatalf("%d %q", r.StatusCode, r.body)
			}
			if got := sp.child.counter("meshcdn_edge_peer_fetches_total", "outcome", c.outcome); got != 1 {
				for _, o := range peerOutcomes {
					t.Logf("%s %v", o, sp.child.counter("meshcdn_edge_peer_fetches_total", "outcome", o))
				}
				t.Fatalf("peer fetches %s = %v", c.outcome, got)
			}
			if got := sp.child.counter("meshcdn_edge_origin_fetches_total", "outcome", "ok"); got != 1 {
				t.Fatalf("child origin fetches ok = %v", got)
			}
		})
	}
}

// The owner refuses unsigned, wrongly signed, old and malformed peer
// fetches, without its mark (the child then goes to the origin).
func TestServePeerAuth(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secret origin") })
	sp := newShieldPair(t, o)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-2*time.Minute).Unix(), 10)
	sign := func(secret []byte, ts, uri string) string {
		return peerSignature(secret, ts, "child", "h", uri, "")
	}
	good := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"unsigned", map[string]string{hdrPeerFrom: "child", hdrPeerHost: "h", hdrPeerURI: "/x", hdrPeerTime: now}, 401},
		{"wrong secret", map[string]string{hdrPeerFrom: "child", hdrPeerHost: "h", hdrPeerURI: "/x", hdrPeerTime: now, hdrPeerSig: sign([]byte("wrong"), now, "/x")}, 401},
		{"signed for another URI", map[string]string{hdrPeerFrom: "child", hdrPeerHost: "h", hdrPeerURI: "/y", hdrPeerTime: now, hdrPeerSig: sign(good, now, "/x")}, 401},
		{"too old", map[string]string{hdrPeerFrom: "child", hdrPeerHost: "h", hdrPeerURI: "/x", hdrPeerTime: old, hdrPeerSig: sign(good, old, "/x")}, 401},
		{"bad target", map[string]string{hdrPeerFrom: "child", hdrPeerHost: "h", hdrPeerURI: "x", hdrPeerTime: now, hdrPeerSig: sign(good, now, "x")}, 400},
		{"good", map[string]string{hdrPeerFrom: "child", hdrPeerHost: "h", hdrPeerURI: "/x", hdrPeerTime: now, hdrPeerSig: sign(good, now, "/x")}, 200},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", sp.peer.URL+PeerFetchPath, nil)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.want)
		}
		if marked := res.Header.Get(hdrPeer) != ""; marked != (c.want == 200) {
			t.Errorf("%s: owner's mark %v", c.name, marked)
		}
	}
	if got := sp.owner.counter("meshcdn_edge_peer_requests_total", "outcome", "denied"); got != 4 {
		t.Errorf("denied = %v, want 4", got)
	}
}

// The owner's answer keeps the child's semantics: the origin sees the
// original client's address and geo fields (not the child's), variants
// by Vary stay apart, HEAD and Range are answered by the child.
func TestShieldKeepsClientSemantics(t *testing.T) {
	db := testGeoDB(t)
	var mu sync.Mutex
	seen := map[string]string{}
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		cc := r.Header.Get("X-Geo-Country-Code")
		mu.Lock()
		seen[cc] = r.Header.Get("X-Forwarded-For")
		mu.Unlock()
		w.Header().Set("Vary", "X-Geo-Country-Code")
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "hello from "+cc)
	})
	sp := newShieldPair(t, o, func(cfg *Config, s *Site) { cfg.Geo = testResolver(t, db) })
	for _, c := range []struct{ ip, cc string }{{"81.2.69.160", "GB"}, {"216.160.83.56", "US"}} {
		r := sp.child.get("/g", "Host", "example.com", "X-Forwarded-For", c.ip)
		if r.body != "hello from "+c.cc {
			t.Fatalf("%s: %q", c.ip, r.body)
		}
		sp.child.settle()
		sp.owner.settle()
		r = sp.child.do("HEAD", "/g", "Host", "example.com", "X-Forwarded-For", c.ip)
		if r.Header.Get("X-Cache") != "HIT" || r.body != "" {
			t.Fatalf("HEAD %s: %s %q", c.ip, r.Header.Get("X-Cache"), r.body)
		}
		r = sp.child.get("/g", "Host", "example.com", "X-Forwarded-For", c.ip, "Range", "bytes=0-4")
		if r.StatusCode != http.StatusPartialContent || r.body != "hello" {
			t.Fatalf("Range %s: %d %q", c.ip, r.StatusCode, r.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["GB"] != "81.2.69.160" || seen["US"] != "216.160.83.56" || len(seen) != 2 {
		t.Fatalf("the origin saw %v: want each client's country and address once", seen)
	}
}

// stale-if-error on the child: its stale copy hides an origin failure that
// the owner reports as 5xx (the child then asks the origin itself, which
// fails too).
func TestShieldStaleIfError(t *testing.T) {
	var fail atomic.Bool
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-if-error=3600")
		fmt.Fprint(w, "old")
	})
	sp := newShieldPair(t, o)
	if r := sp.child.get("/s", "Host", "example.com"); r.body != "old" {
		t.Fatal(r.body)
	}
	sp.child.settle()
	sp.owner.settle()
	fail.Store(true)
	time.Sleep(2100 * time.Millisecond) // max-age=1 runs out (Age counts whole seconds)
	r := sp.child.get("/s", "Host", "example.com")
	if r.StatusCode != 200 || r.body != "old" || !strings.Contains(r.Header.Get("Cache-Status"), "stale-if-error") {
		t.Fatalf("%d %q %q", r.StatusCode, r.body, r.Header.Values("Cache-Status"))
	}
}

func TestParseShield(t *testing.T) {
	for _, c := range []struct {
		in     string
		mode   shieldMode
		region string
		ok     bool
	}{
		{"", shieldOff, "", true}, {"off", shieldOff, "", true}, {"cluster", shieldCluster, "", true},
		{"region", shieldOwnRegion, "", true}, {"region:eu-west", shieldRegion, "eu-west", true},
		{"region:", 0, "", false}, {"region:a b", 0, "", false}, {"on", 0, "", false}, {"Cluster", 0, "", false},
	} {
		m, r, err := parseShield(c.in)
		if (err == nil) != c.ok || (c.ok && (m != c.mode || r != c.region)) {
			t.Errorf("parseShield(%q) = %v %q %v", c.in, m, r, err)
		}
	}
	// A site that shields needs Config.Shield.
	st := store.New(store.Config{MaxBytes: 1 << 20})
	defer st.Close()
	_, err := New(Config{Store: st, Sites: []*Site{{Name: "s", Origin: mustURL(t, "http://127.0.0.1:1"), Shield: "cluster"}}})
	if err == nil || !strings.Contains(err.Error(), "needs the cluster") {
		t.Fatalf("New without Config.Shield: %v", err)
	}
}

// With shield: region, the owner is chosen among this node's region.
func TestShieldRegionAsksForOwnRegion(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "x") })
	rs := &regionShield{staticShield: staticShield{self: "child", owner: "owner"}}
	e := newEdge(t, o, func(c *Config, s *Site) { c.Shield, s.Shield = rs, "region" })
	e.get("/r")
	e2 := newEdge(t, o, func(c *Config, s *Site) { c.Shield, s.Shield = rs, "region:far" })
	e2.get("/r")
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.asked) != 2 || rs.asked[0] != "r1" || rs.asked[1] != "far" {
		t.Fatalf("regions asked: %q", rs.asked)
	}
}

type regionShield struct {
	staticShield
	mu    sync.Mutex
	asked []string
}

func (s *regionShield) Owner(key, region string) (string, string, bool, bool) {
	s.mu.Lock()
	s.asked = append(s.asked, region)
	s.mu.Unlock()
	return "", "", false, false
}

// A slow origin does not turn shielding off: the owner acknowledges the
// peer fetch at once (102), so the child waits for it past the short
// timeout as it would wait for the origin.
func TestShieldSlowOriginStillThroughOwner(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "slow")
	})
	sp := newShieldPair(t, o, func(cfg *Config, s *Site) { cfg.ShieldTimeout = 100 * time.Millisecond })
	if r := sp.child.get("/slow", "Host", "example.com"); r.StatusCode != 200 || r.body != "slow" {
		t.Fatalf("%d %q", r.StatusCode, r.body)
	}
	if got := sp.child.counter("meshcdn_edge_peer_fetches_total", "outcome", "ok"); got != 1 {
		t.Fatalf("peer fetches ok = %v (timeout %v)", got, sp.child.counter("meshcdn_edge_peer_fetches_total", "outcome", "timeout"))
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin fetches %d, want 1 (the owner's)", n)
	}
}

// A peer fetch outlives the write timeout of the listener it is served on
// (the admin listener's suits JSON answers, not a slow large object).
func TestServePeerIgnoresListenerWriteTimeout(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "6")
		fmt.Fprint(w, "abc")
		w.(http.Flusher).Flush()
		time.Sleep(600 * time.Millisecond)
		fmt.Fprint(w, "def")
	})
	sp := newShieldPair(t, o)
	slow := httptest.NewUnstartedServer(http.HandlerFunc(sp.owner.proxy.ServePeer))
	slow.Config.WriteTimeout = 300 * time.Millisecond
	slow.Start()
	t.Cleanup(slow.Close)
	addr := strings.TrimPrefix(slow.URL, "http://")
	sp.childShield.addr.Store(&addr)
	if r := sp.child.get("/wt", "Host", "example.com"); r.body != "abcdef" {
		t.Fatalf("body %q", r.body)
	}
	if got := sp.child.counter("meshcdn_edge_peer_fetches_total", "outcome", "ok"); got != 1 {
		t.Fatalf("peer fetches ok = %v", got)
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("origin fetches %d, want 1", n)
	}
}
