package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFenceMatching(t *testing.T) {
	type tc struct {
		name   string
		purge  func(now time.Time) Purge
		fenced bool
	}
	cases := []tc{
		{"key", func(time.Time) Purge { return Purge{Keys: []string{"user/1"}} }, true},
		{"one of many keys", func(time.Time) Purge { return Purge{Keys: []string{"x", "company/1", "y"}} }, true},
		{"other key", func(time.Time) Purge { return Purge{Keys: []string{"user/2"}} }, false},
		{"url", func(time.Time) Purge { return Purge{URLs: []string{"h/obj"}} }, true},
		{"other url", func(time.Time) Purge { return Purge{URLs: []string{"h/other"}} }, false},
		{"all", func(time.Time) Purge { return Purge{All: true} }, true},
		{"before after response", func(now time.Time) Purge { return Purge{Before: now.Add(time.Second)} }, true},
		{"before at response", func(now time.Time) Purge { return Purge{Before: now} }, false},
		{"soft key", func(time.Time) Purge { return Purge{Keys: []string{"user/1"}, Soft: true} }, true},
		{"soft other key", func(time.Time) Purge { return Purge{Keys: []string{"user/3"}, Soft: true} }, false},
		{"empty", func(time.Time) Purge { return Purge{} }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
			f := s.Fence()
			s.Purge(c.purge(clockTime(clk)))
			err := s.Insert(mk(clk, "h/obj", 10, "user/1", "company/1"), f)
			if c.fenced != errors.Is(err, ErrFenced) || (!c.fenced && err != nil) {
				t.Fatalf("insert after purge: %v, want fenced=%v", err, c.fenced)
			}
			// A fence taken after the purge is never refused.
			if err := s.Insert(mk(clk, "h/obj", 10, "user/1", "company/1"), s.Fence()); err != nil {
				t.Fatalf("insert with a later fence: %v", err)
			}
		})
	}
}

// The three orders of fence (F), purge (P) and insert (I), each played by
// two goroutines that hand over with channels.
func TestFenceInterleavings(t *testing.T) {
	for _, order := range []string{"FPI", "FIP", "PFI"} {
		t.Run(order, func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
			mustInsert(t, s, mk(clk, "h/x", 10, "k")) // the stale copy the purge is about
			step := map[byte]chan struct{}{'F': make(chan struct{}), 'P': make(chan struct{}), 'I': make(chan struct{})}
			var wg sync.WaitGroup
			var insertErr error
			var purged int
			after := func(c byte) { // wait for the step before c
				if i := strings.IndexByte(order, c); i > 0 {
					<-step[order[i-1]]
				}
			}
			wg.Add(2)
			go func() { // the fetch
				defer wg.Done()
				after('F')
				f := s.Fence()
				close(step['F'])
				after('I')
				insertErr = s.Insert(mk(clk, "h/x", 10, "k"), f)
				close(step['I'])
			}()
			go func() { // the purge
				defer wg.Done()
				after('P')
				purged = s.Purge(Purge{Keys: []string{"k"}})
				close(step['P'])
			}()
			wg.Wait()
			switch order {
			case "FPI": // purge after the fetch began, before it stored: refused
				if !errors.Is(insertErr, ErrFenced) || purged != 1 || has(s, "h/x") {
					t.Fatalf("insert %v, purged %d, stored %v", insertErr, purged, has(s, "h/x"))
				}
			case "FIP": // stored before the purge: the purge removes it
				if insertErr != nil || purged != 1 || has(s, "h/x") {
					t.Fatalf("insert %v, purged %d, stored %v", insertErr, purged, has(s, "h/x"))
				}
			case "PFI": // the fetch began after the purge: fresh, stored
				if insertErr != nil || purged != 1 || !has(s, "h/x") {
					t.Fatalf("insert %v, purged %d, stored %v", insertErr, purged, has(s, "h/x"))
				}
			}
		})
	}
}

// When the bounded purge log no longer reaches back to a fence, the insert
// is refused even though no retained purge matches.
func TestFenceLogOverflow(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20, PurgeLog: 4})
	f := s.Fence()
	for i := range 4 {
		s.Purge(Purge{Keys: []string{fmt.Sprint("unrelated/", i)}})
	}
	if err := s.Insert(mk(clk, "a", 1, "k"), f); err != nil {
		t.Fatalf("log still reaches the fence: %v", err)
	}
	s.Purge(Purge{Keys: []string{"unrelated/4"}})
	if err := s.Insert(mk(clk, "b", 1, "k"), f); !errors.Is(err, ErrFenced) {
		t.Fatalf("log no longer reaches the fence: %v", err)
	}
	f2 := s.Fence() - 4 // the oldest fence the log still covers
	if err := s.Insert(mk(clk, "c", 1, "k"), f2); err != nil {
		t.Fatalf("oldest covered fence: %v", err)
	}
	// Forgotten purges stop fencing; retained ones still fence.
	if err := s.Insert(mk(clk, "d", 1, "unrelated/0"), f2); err != nil {
		t.Fatalf("key of a forgotten purge: %v", err)
	}
	if err := s.Insert(mk(clk, "e", 1, "unrelated/4"), f2); !errors.Is(err, ErrFenced) {
		t.Fatalf("key of a retained purge: %v", err)
	}
	// A fence this store never issued is refused.
	if err := s.Insert(mk(clk, "f", 1), s.Fence()+1); !errors.Is(err, ErrFenced) {
		t.Fatalf("future fence: %v", err)
	}
}

// The log is also bounded in bytes: purges with huge key lists push older
// purges out, and fences before them are refused.
func TestFenceLogBytes(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
	f := s.Fence()
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("%064d", i)
	}
	s.Purge(Purge{Keys: keys})
	f1 := s.Fence()
	s.Purge(Purge{Keys: keys})
	if s.plog.n != 1 {
		t.Fatalf("log kept %d entries of ~1 MiB", s.plog.n)
	}
	if err := s.Insert(mk(clk, "a", 1), f); !errors.Is(err, ErrFenced) {
		t.Fatalf("fence before a forgotten purge: %v", err)
	}
	if err := s.Insert(mk(clk, "a", 1), f1); err != nil {
		t.Fatalf("fence covered: %v", err)
	}
	if err := s.Insert(mk(clk, "b", 1, keys[5]), f1); !errors.Is(err, ErrFenced) {
		t.Fatalf("key in the retained purge: %v", err)
	}
}

// Inserts that land while a multi-batch purge has released the lock: one
// whose fetch began before the purge is refused; one that began after is
// stored and not touched by the purge still running.
func TestInsertDuringPurge(t *testing.T) {
	for name, p := range map[string]Purge{"key": {Keys: []string{"k"}}, "all": {All: true},
		"before": {Before: epoch.Add(time.Hour)}, "soft": {Keys: []string{"k"}, Soft: true}} {
		t.Run(name, func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 64 << 20})
			const n = 2*purgeBatch + 5
			for i := range n {
				mustInsert(t, s, mk(clk, fmt.Sprint("o/", i), 1, "k"))
			}
			before := s.Fence()
			var stale, fresh *Object
			var staleErr, freshErr error
			calls := 0
			s.hookBatch = func() {
				calls++
				if calls != 1 {
					return
				}
				stale = mk(clk, "new/stale", 1, "k")
				staleErr = s.Insert(stale, before)
				fresh = mk(clk, "new/fresh", 1, "k")
				freshErr = s.Insert(fresh, s.Fence())
			}
			got := s.Purge(p)
			if calls == 0 {
				t.Fatal("purge ran in one batch; the test needs more")
			}
			if got != n {
				t.Fatalf("purged %d, want %d", got, n)
			}
			if !errors.Is(staleErr, ErrFenced) || freshErr != nil {
				t.Fatalf("stale insert %v, fresh insert %v", staleErr, freshErr)
			}
			if o, _ := s.Lookup("new/fresh", noVary); o != fresh || o.SoftPurged() {
				t.Fatal("fresh object inserted during the purge was purged")
			}
			checkInvariants(t, s)
		})
	}
}

// Writers change a versioned origin and purge; fetchers take a fence, read
// the origin, insert. Whatever the interleaving, once everything is done the
// store holds no version older than the origin's. No sleeps: the scheduler
// and the race detector pick the interleavings.
func TestFenceFreshnessUnderConcurrency(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 4 << 20, PurgeLog: 64})
	const names = 8
	var version [names]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var fetches, fenced atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := (w + i) % names
				version[k].Add(1)
				if i%3 == 0 {
					s.Purge(Purge{URLs: []string{fmt.Sprint("h/", k)}})
				} else {
					s.Purge(Purge{Keys: []string{fmt.Sprint("item/", k)}, Soft: i%2 == 0})
				}
			}
		}()
	}
	var fw sync.WaitGroup
	for g := range 4 {
		fw.Add(1)
		go func() {
			defer fw.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := (g*7 + i) % names
				f := s.Fence()
				v := version[k].Load()
				o := mk(clk, fmt.Sprint("h/", k), 1, fmt.Sprint("item/", k))
				o.Status = int(v)
				err := s.Insert(o, f)
				fetches.Add(1)
				if errors.Is(err, ErrFenced) {
					fenced.Add(1)
				} else if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	fw.Wait()
	for k := range names {
		o, _ := s.Lookup(fmt.Sprint("h/", k), noVary)
		if o != nil && !o.SoftPurged() && int64(o.Status) != version[k].Load() {
			t.Errorf("h/%d: stored version %d, origin has %d", k, o.Status, version[k].Load())
		}
	}
	checkInvariants(t, s)
	t.Logf("%d fetches, %d fenced", fetches.Load(), fenced.Load())
}
