package edge

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waiters is how many requests wait on the flights of primary.
func (e *edgeEnv) waiters(primary string) int {
	t := &e.proxy.flights
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, f := range t.groups[primary] {
		f.body.mu.Lock()
		n += len(f.body.readers)
		f.body.mu.Unlock()
	}
	return n
}

func (e *edgeEnv) primary(path string) string {
	return strings.TrimPrefix(e.srv.URL, "http://") + path
}

// Issue 5, request collapsing: 1 000 concurrent requests for a cold object
// cause exactly one origin request; all get the same response.
func TestCollapse1000(t *testing.T) {
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		g.wait(r.Context())
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "one body for all")
	})
	e := newEdge(t, o)
	e.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 1000
	const n = 1000
	var wg sync.WaitGroup
	var bad atomic.Int64
	var collapsed atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.srv.URL+"/cold", nil)
			res, err := e.client.Do(req)
			if err != nil {
				bad.Add(1)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "one body for all" {
				bad.Add(1)
			}
			if strings.Contains(res.Header.Get("Cache-Status"), "collapsed") {
				collapsed.Add(1)
			}
		}()
	}
	// Every request is waiting on the one fetch before the origin answers.
	waitFor(t, "1000 waiters", func() bool { return e.waiters(e.primary("/cold")) == n })
	g.release()
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests failed", bad.Load())
	}
	if got := o.hits.Load(); got != 1 {
		t.Fatalf("origin requests = %d, want exactly 1", got)
	}
	if collapsed.Load() != n-1 {
		t.Errorf("%d responses say collapsed, want %d", collapsed.Load(), n-1)
	}
	e.waitCounter(n-1, "meshcdn_edge_collapsed_total")
	if r := e.get("/cold"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("not cached afterwards")
	}
}

// barrier lets n origin requests through only together: if the edge
// serialised them, it would never open (and the requests fail).
type barrier struct {
	n    int
	mu   sync.Mutex
	seen int
	open chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, open: make(chan struct{})} }

func (b *barrier) arrive() bool {
	b.mu.Lock()
	b.seen++
	if b.seen == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// Issue 5 / Varnish hit-for-miss: when the collapsed fetch turns out
// uncacheable, the waiters go to the origin in parallel (not one after
// another), and so do later requests while the URL is remembered.
func TestHitForMissNotSerialised(t *testing.T) {
	const waiters = 8
	first := newGate()
	var bar atomic.Pointer[barrier]
	bar.Store(newBarrier(waiters))
	var calls atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		if calls.Add(1) == 1 {
			first.wait(r.Context())
			io.WriteString(w, "first")
			return
		}
		if !bar.Load().arrive() {
			w.WriteHeader(500) // serialised: the barrier never opened
			return
		}
		io.WriteString(w, "parallel")
	})
	e := newEdge(t, o)
	run := func(n int) []string {
		out := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.get("/private")
				out[i] = strconv.Itoa(r.StatusCode) + " " + r.body + " " + r.Header.Get("X-Cache")
			}()
		}
		wg.Wait()
		return out
	}
	done := make(chan []string)
	go func() { done <- run(1) }()
	waitFor(t, "the first fetch", func() bool { return e.waiters(e.primary("/private")) == 1 })
	var rest []string
	restDone := make(chan struct{})
	go func() { rest = run(waiters); close(restDone) }()
	waitFor(t, "collapsed waiters", func() bool { return e.waiters(e.primary("/private")) == 1+waiters })
	first.release()
	if got := <-done; got[0] != "200 first MISS" {
		t.Errorf("leader got %q", got[0])
	}
	<-restDone
	for _, r := range rest {
		if r != "200 parallel MISS" {
			t.Errorf("waiter got %q", r)
		}
	}
	// Later requests: straight to the origin, in parallel.
	bar.Store(newBarrier(waiters))
	for _, r := range run(waiters) {
		if r != "200 parallel MISS" {
			t.Errorf("later request got %q", r)
		}
	}
	if got := o.hits.Load(); got != 1+2*waiters {
		t.Errorf("origin requests %d, want %d", got, 1+2*waiters)
	}
	e.waitCounter(2*waiters, "meshcdn_edge_hit_for_miss_total")
	if e.store.Stats().Objects != 0 {
		t.Error("a private response was stored")
	}
}

// A URL that was uncacheable and becomes cacheable is stored again by the
// next (uncollapsed) fetch: hit-for-miss, not hit-for-pass.
func TestHitForMissRecovers(t *testing.T) {
	var private atomic.Bool
	private.Store(true)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if private.Load() {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		io.WriteString(w, "x")
	})
	e := newEdge(t, o)
	e.get("/flip")
	private.Store(false)
	e.get("/flip")
	e.settle()
	if r := e.get("/flip"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("cacheable again but not stored: %s", r.Header.Get("Cache-Status"))
	}
}

// Issue 5, streaming: a miss streams to the first client while it is being
// fetched; a client arriving meanwhile is served from the growing buffer;
// nobody waits for the whole body before the first byte.
func TestStreamingFirstByteBeforeBodyCompletes(t *testing.T) {
	half := strings.Repeat("a", 64<<10)
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(2*len(half)))
		io.WriteString(w, half)
		w.(http.Flusher).Flush()
		g.wait(r.Context()) // the second half only when the test says so
		io.WriteString(w, strings.ToUpper(half))
	})
	e := newEdge(t, o)
	open := func() (*http.Response, []byte) {
		res, err := e.client.Get(e.srv.URL + "/big")
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, len(half))
		if _, err := io.ReadFull(res.Body, first); err != nil {
			t.Fatalf("first half: %v", err)
		}
		return res, first
	}
	// Both clients get the first half while the origin is still blocked.
	a, aFirst := open()
	b, bFirst := open()
	if string(aFirst) != half || string(bFirst) != half {
		t.Fatal("first half differs")
	}
	if a.Header.Get("X-Cache") != "MISS" || b.Header.Get("Cache-Status") == "" {
		t.Errorf("headers: %v / %v", a.Header, b.Header)
	}
	g.release()
	for _, res := range []*http.Response{a, b} {
		rest, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(rest) != strings.ToUpper(half) {
			t.Errorf("second half: %d bytes, %v", len(rest), err)
		}
	}
	if o.hits.Load() != 1 {
		t.Errorf("origin requests %d", o.hits.Load())
	}
	e.settle()
	if r := e.get("/big"); r.Header.Get("X-Cache") != "HIT" || len(r.body) != 2*len(half) {
		t.Errorf("not stored after streaming: %s", r.Header.Get("Cache-Status"))
	}
}

// Issue 5: objects larger than the site's max object size are streamed to
// every client but not stored (with and without Content-Length; collapsed
// readers of a body that outgrows the limit all get every byte).
func TestOversizeObjectsStreamNotStored(t *testing.T) {
	const limit = 256 << 10
	body := make([]byte, limit+3*streamWindow+123) // fills the 1 MiB window: the fetch waits for the slower reader
	for i := range body {
		body[i] = byte(i * 7)
	}
	sum := sha256.Sum256(body)
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/known" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Write(body[:limit/2])
		w.(http.Flusher).Flush()
		if r.URL.Path == "/chunked" {
			g.wait(r.Context())
		}
		for off := limit / 2; off < len(body); off += 4096 {
			w.Write(body[off:min(off+4096, len(body))])
		}
	})
	e := newEdge(t, o, func(_ *Config, s *Site) { s.MaxObjectSize = limit })
	check := func(res *http.Response, slow bool) {
		t.Helper()
		var b []byte
		var err error
		if slow {
			buf := make([]byte, 8<<10)
			for {
				n, rerr := res.Body.Read(buf)
				b = append(b, buf[:n]...)
				if rerr != nil {
					if rerr != io.EOF {
						err = rerr
					}
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		} else {
			b, err = io.ReadAll(res.Body)
		}
		res.Body.Close()
		if err != nil || sha256.Sum256(b) != sum {
			t.Errorf("body: %d bytes, %v", len(b), err)
		}
	}
	// Known length over the limit: passed through, not stored.
	r := e.get("/known")
	if sha256.Sum256([]byte(r.body)) != sum {
		t.Error("known-length body differs")
	}
	// Unknown length, two readers attached before it outgrows the limit.
	a, err := e.client.Get(e.srv.URL + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.client.Get(e.srv.URL + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	g.release()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); check(a, false) }()
	go func() { defer wg.Done(); check(b, true) }()
	wg.Wait()
	e.settle()
	if got := e.store.Stats().Objects; got != 0 {
		t.Errorf("%d oversize objects stored", got)
	}
	if o.hits.Load() != 2 {
		t.Errorf("origin requests %d, want 2 (the chunked pair collapsed)", o.hits.Load())
	}
	// Next time: remembered as uncacheable, streamed straight through.
	for _, p := range []string{"/known", "/chunked"} {
		r := e.get(p)
		if sha256.Sum256([]byte(r.body)) != sum || r.Header.Get("X-Cache") != "MISS" {
			t.Errorf("%s again: %s", p, r.Header.Get("Cache-Status"))
		}
	}
	if !bytes.Equal(body[:4], []byte{0, 7, 14, 21}) {
		t.Fatal("test body")
	}
}

// Issue 2, purge fence through the proxy: a purge accepted while a fetch is
// in flight wins; the fetched response reaches its client but is not stored.
func TestFenceRaceThroughProxy(t *testing.T) {
	g := newGate()
	var version atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		v := version.Add(1)
		if v == 1 {
			g.wait(r.Context())
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "user/9")
		io.WriteString(w, "v"+strconv.FormatInt(v, 10))
	})
	e := newEdge(t, o, func(c *Config, _ *Site) { c.PurgeToken = "t0k" })
	done := make(chan resp)
	go func() { done <- e.get("/u/9") }()
	<-g.entered // the fetch has begun at the origin
	if r := e.do("PURGE", "/u/9", "Fastly-Key", "t0k"); r.StatusCode != 200 {
		t.Fatalf("PURGE: %d %s", r.StatusCode, r.body)
	}
	g.release()
	r := <-done
	if r.body != "v1" {
		t.Fatalf("in-flight client got %q", r.body)
	}
	// Issue 9 item 7: and it is not told the response was stored.
	if cs := r.Header.Get("Cache-Status"); strings.Contains(cs, "stored") || !strings.Contains(cs, "detail=purged") {
		t.Errorf("in-flight client's Cache-Status %q, want detail=purged and not stored", cs)
	}
	e.settle()
	e.waitCounter(1, "meshcdn_edge_fenced_total")
	if r := e.get("/u/9"); r.body != "v2" || r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after the purge: %q %s — the fenced response was stored", r.body, r.Header.Get("X-Cache"))
	}
}
