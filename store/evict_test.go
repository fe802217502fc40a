package store

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// scanHotSet inserts hot objects (hitting each twice if hit), then a
// one-pass scan of cold objects ten times the budget, and returns how many
// hot objects survived.
func scanHotSet(t *testing.T, hot int, hit bool) (survived int) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	for i := range hot {
		mustInsert(t, s, mk(clk, fmt.Sprint("hot/", i), 1000, "hot"))
	}
	if hit {
		for range 2 {
			for i := range hot {
				if !has(s, fmt.Sprint("hot/", i)) {
					t.Fatalf("hot/%d missing before the scan", i)
				}
			}
		}
	}
	for i := range 10 * (1 << 20) / 1000 {
		mustInsert(t, s, mk(clk, fmt.Sprint("cold/", i), 1000, "cold"))
	}
	for i := range hot {
		if has(s, fmt.Sprint("hot/", i)) {
			survived++
		}
	}
	checkInvariants(t, s)
	return survived
}

func TestHotSetSurvivesScan(t *testing.T) {
	for _, hot := range []int{50, 250} { // ~7% and ~37% of the budget
		if got := scanHotSet(t, hot, true); got != hot {
			t.Errorf("%d hot objects: %d survived a scan of cold objects", hot, got)
		}
		// Control: the same objects, never hit, are flushed by the scan.
		if got := scanHotSet(t, hot, false); got != 0 {
			t.Errorf("%d objects never hit: %d survived the scan", hot, got)
		}
	}
}

// When the working set changes, the old hot set (no longer hit) makes room
// for the new one: the main queue's frequencies decay.
func TestWorkingSetShift(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	const n = 350 // ~55% of the budget: two sets cannot both stay
	insertHit := func(prefix string, round int) {
		for i := range n {
			p := fmt.Sprint(prefix, i)
			if !has(s, p) {
				mustInsert(t, s, mk(clk, p, 1000))
			}
			has(s, p)
		}
		for i := range 300 {
			mustInsert(t, s, mk(clk, fmt.Sprint("cold/", round, "/", i), 1000))
		}
	}
	for r := range 3 {
		insertHit("a/", r)
	}
	for r := range 6 {
		insertHit("b/", 10+r)
	}
	a, b := 0, 0
	for i := range n {
		if has(s, fmt.Sprint("a/", i)) {
			a++
		}
		if has(s, fmt.Sprint("b/", i)) {
			b++
		}
	}
	t.Logf("after the shift: %d of the new set, %d of the old set stored", b, a)
	if b != n || a > n/2 {
		t.Fatalf("after the shift: %d of the new set, %d of the old set stored", b, a)
	}
}

// present reports whether o is stored, without counting as a hit.
func present(s *Store, o *Object) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storedLocked(o)
}

// An object evicted from the small queue unhit and inserted again soon
// after goes straight to the main queue (its ghost was remembered).
func TestGhostReadmits(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 200 << 10})
	first := mk(clk, "g", 1000)
	mustInsert(t, s, first)
	for i := 0; present(s, first); i++ {
		mustInsert(t, s, mk(clk, fmt.Sprint("c/", i), 1000))
	}
	g := mk(clk, "g", 1000)
	mustInsert(t, s, g)
	s.mu.Lock()
	q := g.queue
	s.mu.Unlock()
	if q != qMain {
		t.Fatalf("re-inserted object went to queue %d, want main", q)
	}
	other := mk(clk, "never-seen", 1000)
	mustInsert(t, s, other)
	if other.queue != qSmall {
		t.Fatalf("new object went to queue %d, want small", other.queue)
	}
}

// Expired objects are evicted before live ones, and counted as expired.
func TestEvictionPrefersExpired(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 100 << 10})
	live := mk(clk, "live", 1000)
	mustInsert(t, s, live)
	has(s, "live")
	for i := 0; s.Stats().Bytes+3000 < s.cfg.MaxBytes; i++ {
		o := mk(clk, fmt.Sprint("e/", i), 1000)
		o.Lifetime = 60e9
		mustInsert(t, s, o)
	}
	clk.Add(61e9)
	before := s.Stats()
	mustInsert(t, s, mk(clk, "new", 5000))
	st := s.Stats()
	if st.Evictions != before.Evictions || st.Expired == before.Expired || !has(s, "live") {
		t.Fatalf("before %+v after %+v", before, st)
	}
}

// A flood of distinct objects from several goroutines, with a reader
// watching the byte count all along: it never exceeds the budget.
func TestBudgetFlood(t *testing.T) {
	const budget = 2 << 20
	s, clk := newTestStore(t, Config{MaxBytes: budget, MaxObjectBytes: 64 << 10})
	done := make(chan struct{})
	watched := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				watched <- n
				return
			default:
			}
			if b := s.Stats().Bytes; b > budget {
				t.Errorf("bytes %d over budget %d", b, budget)
			}
			n++
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 3000 {
				o := mk(clk, fmt.Sprintf("flood/%d/%d?q=%d", g, i, r.IntN(1e6)), r.IntN(64<<10),
					fmt.Sprint("k/", r.IntN(1000)), fmt.Sprint("u/", g, "/", i))
				for j := range r.IntN(20) {
					o.Header.Set(fmt.Sprint("X-Field-", j), "some value")
				}
				if err := s.Insert(o, s.Fence()); err != nil {
					t.Error(err)
					return
				}
				if b := s.Stats().Bytes; b > budget {
					t.Errorf("bytes %d over budget after insert", b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	t.Logf("reader checked the budget %d times; %+v", <-watched, s.Stats())
	checkInvariants(t, s)
}

// The budget counts at least what the objects and the store's structures
// really take on the heap, for the shapes that stress the fixed overheads:
// empty bodies, many small headers, many distinct surrogate keys, variants.
func TestBudgetCountsRealMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	shapes := []struct {
		name string
		mk   func(i int) *Object
	}{
		{"bare", func(i int) *Object {
			return &Object{Primary: fmt.Sprint("example.com/", i), ResponseTime: epoch, Lifetime: 1 << 62}
		}},
		{"small", func(i int) *Object {
			return &Object{Primary: fmt.Sprint("example.com/u/", i), ResponseTime: epoch, Lifetime: 1 << 62,
				Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"v":1}`),
				Keys: []string{fmt.Sprint("user/", i), fmt.Sprint("company/", i%10)}}
		}},
		{"many-headers-keys", func(i int) *Object {
			h := http.Header{}
			for j := range 12 {
				h.Set(fmt.Sprint("X-Header-", j), fmt.Sprint("value ", i))
			}
			keys := make([]string, 8)
			for j := range keys {
				keys[j] = fmt.Sprint("key/", i, "/", j)
			}
			return &Object{Primary: fmt.Sprint("example.com/m/", i), ResponseTime: epoch, Lifetime: 1 << 62,
				Header: h, Keys: keys}
		}},
		{"wide-header", func(i int) *Object {
			h := http.Header{}
			for j := range 9 + i%40 { // 9 to 48 fields: tables of 16 to 64 slots
				h.Set(fmt.Sprint("X-Wide-", j), fmt.Sprint(i))
			}
			return &Object{Primary: fmt.Sprint("example.com/w/", i), ResponseTime: epoch, Lifetime: 1 << 62, Header: h}
		}},
		{"variants", func(i int) *Object {
			return &Object{Primary: fmt.Sprint("example.com/v/", i/4), Secondary: fmt.Sprint("gzip|", i%4),
				Vary: []string{"Accept-Encoding", "X-Geo-Country-Code"}, ResponseTime: epoch, Lifetime: 1 << 62,
				Header: http.Header{"Etag": {`"x"`}}, Keys: []string{fmt.Sprint("k", i/4)}}
		}},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 1 << 30})
			clk.Store(epoch.UnixNano())
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.HeapAlloc
			const n = 30000
			for i := range n {
				if err := s.Insert(sh.mk(i), s.Fence()); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			real := int64(ms.HeapAlloc) - int64(before)
			counted := s.Stats().Bytes
			t.Logf("%s: heap grew %d B (%d/object), budget counts %d B (%d/object)", sh.name, real, real/n, counted, counted/n)
			if counted < real {
				t.Errorf("budget counts %d B, the heap grew %d B", counted, real)
			}
			runtime.KeepAlive(s)
		})
	}
}
