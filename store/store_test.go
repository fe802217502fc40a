package store

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"
)

func TestInsertLookupReplace(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	if o, found := s.Lookup("a.com/x", noVary); o != nil || found {
		t.Fatalf("empty store: got %v %v", o, found)
	}
	o1 := mk(clk, "a.com/x", 10, "k1", "k2")
	mustInsert(t, s, o1)
	if o, found := s.Lookup("a.com/x", noVary); o != o1 || !found {
		t.Fatalf("lookup: got %p %v, want %p", o, found, o1)
	}
	if o1.Size() <= 10 {
		t.Fatalf("size %d does not count overhead", o1.Size())
	}
	o2 := mk(clk, "a.com/x", 20, "k2", "k3")
	mustInsert(t, s, o2)
	if o, _ := s.Lookup("a.com/x", noVary); o != o2 {
		t.Fatal("replacement not returned")
	}
	st := s.Stats()
	if st.Objects != 1 || st.Bytes != o2.Size() || st.SurrogateKeys != 2 {
		t.Fatalf("stats after replace: %+v (size %d)", st, o2.Size())
	}
	if n := s.Purge(Purge{Keys: []string{"k1"}}); n != 0 {
		t.Fatalf("purge of the replaced object's key removed %d", n)
	}
	if n := s.Purge(Purge{Keys: []string{"k3"}}); n != 1 || has(s, "a.com/x") {
		t.Fatalf("purge k3: %d, still there %v", n, has(s, "a.com/x"))
	}
	checkInvariants(t, s)
}

func TestInsertErrors(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20, MaxObjectBytes: 1000})
	if err := s.Insert(nil, s.Fence()); !errors.Is(err, ErrNilObject) {
		t.Fatalf("nil: %v", err)
	}
	if err := s.Insert(mk(clk, "big", 1001), s.Fence()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	mustInsert(t, s, mk(clk, "exact", 1000))
	old := mk(clk, "old", 10)
	old.ResponseTime = clockTime(clk).Add(-2 * time.Hour)
	if err := s.Insert(old, s.Fence()); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	o := mk(clk, "twice", 10)
	mustInsert(t, s, o)
	if err := s.Insert(o, s.Fence()); !errors.Is(err, ErrInserted) {
		t.Fatalf("second insert: %v", err)
	}
	s.Delete(o)
	if err := s.Insert(o, s.Fence()); !errors.Is(err, ErrInserted) {
		t.Fatalf("insert after delete: %v", err)
	}
	// An object refused by the fence may be inserted again later.
	f := s.Fence()
	s.Purge(Purge{URLs: []string{"retry"}})
	r := mk(clk, "retry", 10)
	if err := s.Insert(r, f); !errors.Is(err, ErrFenced) {
		t.Fatalf("fenced: %v", err)
	}
	if err := s.Insert(r, s.Fence()); err != nil {
		t.Fatalf("retry with a new fence: %v", err)
	}
	if st := s.Stats(); st.TooLarge != 1 || st.Fenced != 1 || st.Objects != 2 {
		t.Fatalf("stats: %+v", st)
	}
	// A store whose budget is smaller than one object refuses it.
	tiny, clk2 := newTestStore(t, Config{MaxBytes: 300})
	if err := tiny.Insert(mk(clk2, "x", 1), tiny.Fence()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("object over the whole budget: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	c := s.Config()
	if c.MaxBytes != 256<<20 || c.MaxObjectBytes != 32<<20 || c.MaxVariants != 200 || c.PurgeLog != 4096 {
		t.Fatalf("defaults: %+v", c)
	}
	s2 := New(Config{MaxBytes: 1000, MaxObjectBytes: 5000, MaxVariants: -1, PurgeLog: -5})
	defer s2.Close()
	if c := s2.Config(); c.MaxObjectBytes != 1000 || c.MaxVariants != 200 || c.PurgeLog != 4096 {
		t.Fatalf("clamped: %+v", c)
	}
}

// variant builds an object of primary varying on fields, variant key sk.
func variant(clk interface{ Load() int64 }, primary string, fields []string, sk string, keys ...string) *Object {
	now := time.Unix(0, clk.Load())
	return &Object{Primary: primary, Secondary: sk, Vary: fields, Status: 200, Header: http.Header{},
		Body: []byte(sk), Keys: keys, ResponseTime: now, RequestTime: now, Lifetime: time.Hour}
}

func TestVariants(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20, MaxVariants: 3})
	ae := []string{"Accept-Encoding"}
	gz := variant(clk, "u", ae, "gzip", "k")
	br := variant(clk, "u", ae, "br", "k")
	id := variant(clk, "u", ae, "", "k")
	for _, o := range []*Object{gz, br, id} {
		mustInsert(t, s, o)
	}
	var seen []string
	pick := func(want string) func([]string) string {
		return func(vary []string) string {
			seen = append(seen[:0], vary...)
			return want
		}
	}
	for _, o := range []*Object{gz, br, id} {
		if got, found := s.Lookup("u", pick(o.Secondary)); got != o || !found {
			t.Fatalf("variant %q: got %v", o.Secondary, got)
		}
	}
	if fmt.Sprint(seen) != "[Accept-Encoding]" {
		t.Fatalf("callback got vary %v", seen)
	}
	if got, found := s.Lookup("u", pick("zstd")); got != nil || !found {
		t.Fatalf("vary miss: got %v found %v", got, found)
	}
	// Same variant key replaces that variant only.
	gz2 := variant(clk, "u", ae, "gzip", "k")
	mustInsert(t, s, gz2)
	if got, _ := s.Lookup("u", pick("gzip")); got != gz2 || s.Stats().Objects != 3 {
		t.Fatalf("replace variant: %v, %d objects", got, s.Stats().Objects)
	}
	// The cap evicts the oldest (br, now that gzip was replaced).
	zs := variant(clk, "u", ae, "zstd", "k")
	mustInsert(t, s, zs)
	if got, _ := s.Lookup("u", pick("br")); got != nil {
		t.Fatal("oldest variant not evicted by the cap")
	}
	if st := s.Stats(); st.Objects != 3 || st.Evictions != 1 {
		t.Fatalf("after cap: %+v", st)
	}
	checkInvariants(t, s)
	// A response with another Vary replaces all variants.
	geo := variant(clk, "u", []string{"Accept-Encoding", "X-Geo-Country-Code"}, "gzip|DE", "other")
	mustInsert(t, s, geo)
	if st := s.Stats(); st.Objects != 1 || st.SurrogateKeys != 1 {
		t.Fatalf("after vary change: %+v", st)
	}
	if got, _ := s.Lookup("u", pick("gzip|DE")); got != geo || fmt.Sprint(seen) != "[Accept-Encoding X-Geo-Country-Code]" {
		t.Fatalf("after vary change: %v %v", got, seen)
	}
	// And no Vary at all replaces them too; Secondary is then ignored.
	plain := variant(clk, "u", nil, "ignored")
	mustInsert(t, s, plain)
	called := false
	if got, _ := s.Lookup("u", func([]string) string { called = true; return "x" }); got != plain || called {
		t.Fatalf("no vary: got %v, callback called %v", got, called)
	}
	if got, _ := s.Lookup("u", nil); got != plain {
		t.Fatal("nil callback on a URL without Vary")
	}
	if s.Stats().Objects != 1 {
		t.Fatalf("objects %d", s.Stats().Objects)
	}
}

func TestRemoveDelete(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	ae := []string{"Accept-Encoding"}
	a := variant(clk, "p", ae, "a", "k1", "k2")
	b := variant(clk, "p", ae, "b", "k2", "k3")
	c := mk(clk, "q", 5, "k3")
	for _, o := range []*Object{a, b, c} {
		mustInsert(t, s, o)
	}
	s.Delete(a)
	s.Delete(a) // twice is harmless
	s.Delete(nil)
	other, oclk := newTestStore(t, Config{})
	foreign := mk(oclk, "q", 5)
	mustInsert(t, other, foreign)
	s.Delete(foreign) // another store's object: no effect here
	if !has(other, "q") || !has(s, "q") {
		t.Fatal("Delete of a foreign object removed something")
	}
	if st := s.Stats(); st.Objects != 2 || st.SurrogateKeys != 2 {
		t.Fatalf("after delete: %+v", st)
	}
	if n := s.Remove("p"); n != 1 {
		t.Fatalf("Remove p: %d", n)
	}
	if n := s.Remove("p"); n != 0 {
		t.Fatalf("Remove p again: %d", n)
	}
	if st := s.Stats(); st.Objects != 1 || st.SurrogateKeys != 1 || st.Purged != 0 {
		t.Fatalf("after remove: %+v", st)
	}
	// Remove is not a purge: it does not fence.
	f := s.Fence()
	s.Remove("q")
	if err := s.Insert(mk(clk, "q", 5), f); err != nil {
		t.Fatalf("insert after Remove: %v", err)
	}
	checkInvariants(t, s)
}

func TestPurgeKinds(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 8 << 20})
	for i := range 100 {
		o := mk(clk, fmt.Sprintf("h/%d", i), 10, fmt.Sprintf("user/%d", i), fmt.Sprintf("company/%d", i%10), "all")
		o.ResponseTime = clockTime(clk).Add(time.Duration(i) * time.Second)
		mustInsert(t, s, o)
	}
	// Many keys in one call; an object tagged with two of them counts once.
	if n := s.Purge(Purge{Keys: []string{"company/1", "company/2", "user/1", "user/99", "nope"}}); n != 21 {
		t.Fatalf("purge keys: %d, want 21", n)
	}
	if has(s, "h/1") || has(s, "h/12") || has(s, "h/99") || !has(s, "h/3") {
		t.Fatal("wrong objects purged by keys")
	}
	checkInvariants(t, s)
	// URLs (primary keys), including missing ones and duplicates.
	if n := s.Purge(Purge{URLs: []string{"h/3", "h/4", "h/4", "h/1", "none"}}); n != 2 {
		t.Fatalf("purge urls: %d", n)
	}
	// Before: ResponseTime strictly before.
	if n := s.Purge(Purge{Before: clockTime(clk).Add(10 * time.Second)}); n != 6 { // 0,5,6,7,8,9
		t.Fatalf("purge before: %d", n)
	}
	if has(s, "h/9") || !has(s, "h/10") {
		t.Fatal("wrong objects purged by Before")
	}
	// Soft: marked, still stored, counted once.
	if n := s.Purge(Purge{Keys: []string{"company/5"}, Soft: true}); n != 9 {
		t.Fatalf("soft purge: %d", n)
	}
	o, _ := s.Lookup("h/15", noVary)
	if o == nil || !o.SoftPurged() || o.TTL(clockTime(clk)) >= 0 {
		t.Fatalf("soft-purged object: %v", o)
	}
	if n := s.Purge(Purge{Keys: []string{"company/5"}, Soft: true}); n != 0 {
		t.Fatalf("soft purge again: %d", n)
	}
	st := s.Stats()
	if st.Objects != 100-21-2-6 || st.Purged != 21+2+6+9 || st.Purges != 5 {
		t.Fatalf("stats: %+v", st)
	}
	checkInvariants(t, s)
	// Soft All marks the rest; hard All removes everything.
	if n := s.Purge(Purge{All: true, Soft: true}); n != int(st.Objects)-9 {
		t.Fatalf("soft all: %d", n)
	}
	if n := s.Purge(Purge{All: true}); n != int(st.Objects) {
		t.Fatalf("all: %d", n)
	}
	if st := s.Stats(); st.Objects != 0 || st.Bytes != 0 || st.SurrogateKeys != 0 {
		t.Fatalf("after all: %+v", st)
	}
	if n := s.Purge(Purge{}); n != 0 {
		t.Fatalf("empty purge: %d", n)
	}
}

// A purge larger than one batch still removes exactly its objects, and an
// object tagged with several purged keys counts once.
func TestPurgeManyBatches(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 64 << 20})
	const n = 3*purgeBatch + 17
	for i := range n {
		mustInsert(t, s, mk(clk, fmt.Sprintf("o/%d", i), 1, "big", fmt.Sprintf("u/%d", i), fmt.Sprintf("g/%d", i%7)))
	}
	mustInsert(t, s, mk(clk, "other", 1, "u/1", "g/1"))
	if got := s.Purge(Purge{Keys: []string{"g/1", "big", "g/2"}}); got != n+1 {
		t.Fatalf("purged %d, want %d", got, n+1)
	}
	if st := s.Stats(); st.Objects != 0 || st.SurrogateKeys != 0 {
		t.Fatalf("left: %+v", st)
	}
	// The map entries the purge left for the reaper are gone after it ran.
	if s.reap.pending() == 0 {
		t.Fatal("nothing queued for the reaper")
	}
	checkInvariants(t, s)
	s.reapAll()
	entries := len(s.index.ids) + len(s.index.over)
	for i := range s.shards {
		entries += len(s.shards[i].m.m) + len(s.shards[i].m.over)
	}
	if entries != 0 || s.index.empty != 0 || s.reap.pending() != 0 {
		t.Fatalf("after reaping: %d map entries, %d empty sets, %d pending", entries, s.index.empty, s.reap.pending())
	}
}

// The background goroutine reaps what a purge left.
func TestBackgroundReaper(t *testing.T) {
	s := New(Config{MaxBytes: 16 << 20})
	defer s.Close()
	now := time.Now()
	for i := range 5000 {
		mustInsert(t, s, &Object{Primary: fmt.Sprint("p/", i), ResponseTime: now, Lifetime: time.Hour,
			Keys: []string{"all", fmt.Sprint("u/", i)}})
	}
	if n := s.Purge(Purge{Keys: []string{"all"}}); n != 5000 {
		t.Fatalf("purged %d", n)
	}
	for {
		s.mu.Lock()
		left := s.reap.pending() + len(s.index.ids)
		s.mu.Unlock()
		if left == 0 {
			break
		}
		runtime.Gosched()
	}
	checkInvariants(t, s)
}

func TestExpiry(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	short := mk(clk, "short", 1, "k")
	short.Lifetime = time.Minute
	short.SWR = 2 * time.Minute
	long := mk(clk, "long", 1, "k")
	mustInsert(t, s, short)
	mustInsert(t, s, long)
	if got := short.Expires(); !got.Equal(clockTime(clk).Add(3 * time.Minute)) {
		t.Fatalf("Expires %v", got)
	}
	clk.Add(int64(3*time.Minute - 1))
	if !has(s, "short") {
		t.Fatal("expired a nanosecond early")
	}
	clk.Add(1)
	if o, found := s.Lookup("short", noVary); o != nil || found {
		t.Fatalf("expired object returned: %v %v", o, found)
	}
	// Lookup handed it to the (not running) sweeper.
	select {
	case o := <-s.reclaim:
		if o != short {
			t.Fatalf("reclaim got %q", o.Primary)
		}
		s.reclaimExpired(o)
	default:
		t.Fatal("Lookup did not hand over the expired object")
	}
	if st := s.Stats(); st.Objects != 1 || st.Expired != 1 || st.SurrogateKeys != 1 {
		t.Fatalf("after reclaim: %+v", st)
	}
	s.reclaimExpired(long) // not expired: stays
	s.reclaimExpired(short)
	if st := s.Stats(); st.Objects != 1 || st.Expired != 1 {
		t.Fatalf("reclaim of a live/removed object: %+v", st)
	}
	// The sweep reclaims without any lookup.
	var objs []*Object
	for i := range 500 {
		o := mk(clk, fmt.Sprintf("s/%d", i), 1, "k")
		o.Lifetime = time.Duration(i%2+1) * time.Minute
		objs = append(objs, o)
		mustInsert(t, s, o)
	}
	clk.Add(int64(90 * time.Second))
	if n := s.sweepStep(numShards); n != 250 {
		t.Fatalf("sweep removed %d, want 250", n)
	}
	if st := s.Stats(); st.Objects != 251 || st.Expired != 251 {
		t.Fatalf("after sweep: %+v", st)
	}
	// A bounded step covers only some shards, and the next steps go on.
	clk.Add(int64(time.Hour))
	total := 0
	for range numShards / 8 {
		total += s.sweepStep(8)
	}
	if total != 251 || s.Stats().Objects != 0 {
		t.Fatalf("stepwise sweep: %d removed, %d left", total, s.Stats().Objects)
	}
	_ = objs
}

// Lookup says found when some unexpired variant exists, even if the
// selected one expired.
func TestLookupFoundWithExpiredVariant(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	ae := []string{"Accept-Encoding"}
	a := variant(clk, "p", ae, "a")
	a.Lifetime = time.Minute
	b := variant(clk, "p", ae, "b")
	mustInsert(t, s, a)
	mustInsert(t, s, b)
	clk.Add(int64(2 * time.Minute))
	if o, found := s.Lookup("p", func([]string) string { return "a" }); o != nil || !found {
		t.Fatalf("got %v found %v", o, found)
	}
}

func TestCloseStopsSweeper(t *testing.T) {
	s := New(Config{MaxBytes: 1 << 20})
	s.Close()
	select {
	case <-s.done:
	default:
		t.Fatal("sweeper still running after Close")
	}
	s.Close() // idempotent
	// Still usable.
	now := time.Now()
	o := &Object{Primary: "x", Body: []byte("b"), ResponseTime: now, Lifetime: time.Hour}
	if err := s.Insert(o, s.Fence()); err != nil || !has(s, "x") {
		t.Fatalf("insert after Close: %v", err)
	}
	// A store built without the sweeper closes too.
	s2, _ := newTestStore(t, Config{})
	s2.Close()
	s2.Close()
}

// The background goroutine reclaims what Lookup hands it (real clock: the
// loop waits for the millisecond to pass, then for the sweeper).
func TestSweeperReclaims(t *testing.T) {
	s := New(Config{MaxBytes: 1 << 20})
	defer s.Close()
	o := &Object{Primary: "x", Body: []byte("b"), ResponseTime: time.Now(), Lifetime: time.Millisecond}
	mustInsert(t, s, o)
	for s.Stats().Objects != 0 {
		s.Lookup("x", noVary)
		runtime.Gosched()
	}
	if s.Stats().Expired != 1 {
		t.Fatalf("expired counter %d", s.Stats().Expired)
	}
}

// The hit path allocates nothing, even with a Vary callback that captures
// request state (as the edge's does).
func TestLookupDoesNotAllocate(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	mustInsert(t, s, variant(clk, "u", []string{"Accept-Encoding"}, "gzip", "k"))
	hdr := http.Header{"Accept-Encoding": {"gzip"}}
	allocs := testing.AllocsPerRun(1000, func() {
		o, _ := s.Lookup("u", func(vary []string) string { return hdr.Get(vary[0]) })
		if o == nil {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("Lookup allocates %v times per call", allocs)
	}
}

// RFC 5861 §3-4 with a soft purge: the staleness of a soft-purged object
// counts from the purge (or from its own expiry if earlier), so its
// stale-while-revalidate / stale-if-error windows run from the purge.
func TestSoftPurgeStalenessFromPurge(t *testing.T) {
	cases := []struct {
		name      string
		lifetime  time.Duration
		purgeAt   time.Duration // after insert
		at        time.Duration // after insert
		wantStale time.Duration // -TTL
	}{
		{"RFC 5861 §3 fresh object: staleness from the purge", time.Hour, 10 * time.Second, 40 * time.Second, 30 * time.Second},
		{"RFC 5861 §3 right at the purge: stale", time.Hour, 10 * time.Second, 10 * time.Second, 1},
		{"RFC 9111 §4.2 already stale at the purge: staleness from expiry", 5 * time.Second, 10 * time.Second, 40 * time.Second, 35 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
			start := clk.Load()
			o := mk(clk, "h/soft", 10, "sk")
			o.Lifetime, o.SWR, o.Keep = c.lifetime, time.Minute, time.Hour
			mustInsert(t, s, o)
			clk.Store(start + int64(c.purgeAt))
			if n := s.Purge(Purge{Keys: []string{"sk"}, Soft: true}); n != 1 {
				t.Fatalf("soft purge: %d", n)
			}
			clk.Store(start + int64(c.at))
			if got := -o.TTL(clockTime(clk)); got != c.wantStale {
				t.Errorf("staleness %v, want %v", got, c.wantStale)
			}
		})
	}
}
