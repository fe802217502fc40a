package cluster

import (
	"sync"
	"testing"
	"time"
)

// TestLimiterAccountsForEveryLine: a burst of one kind writes its first line
// at once and the rest as interval-end lines carrying how many were held
// back, so that the written lines account for every event exactly once;
// other kinds are not held back by it.
func TestLimiterAccountsForEveryLine(t *testing.T) {
	l := newLimiter(20 * time.Millisecond)
	defer l.stop()
	var mu sync.Mutex
	lines := map[string][]uint64{}
	emit := func(kind string) {
		l.write(kind, func(n uint64) {
			mu.Lock()
			lines[kind] = append(lines[kind], n)
			mu.Unlock()
		})
	}
	const events = 5000
	for range events {
		emit("junk")
	}
	emit("other")
	accounted := func() (sum uint64, written int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range lines["junk"] {
			sum += max(n, 1) // 0: a line written at once, for itself
		}
		return sum, len(lines["junk"])
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sum, _ := accounted()
		if sum == events {
			break
		}
		if sum > events || time.Now().After(deadline) {
			t.Fatalf("lines account for %d of %d events: %v", sum, events, lines["junk"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := lines["junk"]; got[0] != 0 || len(got) < 2 || len(got) > events/2 {
		t.Fatalf("junk lines %v: want the first at once, then few lines with counts", got)
	}
	if got := lines["other"]; len(got) != 1 || got[0] != 0 {
		t.Fatalf("another kind was held back: %v", got)
	}
}

// TestLimiterStop: stop writes what is held back, with its count, at once;
// nothing is written later (a timer firing after a test's logger is gone)
// and nothing more is held.
func TestLimiterStop(t *testing.T) {
	l := newLimiter(time.Hour)
	var mu sync.Mutex
	var got []uint64
	line := func(n uint64) { mu.Lock(); got = append(got, n); mu.Unlock() }
	l.write("k", line)
	l.write("k", line)
	l.write("k", line)
	l.stop()
	l.flush("k") // as a timer that fired just before stop would
	l.write("k", line)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("lines %v, want [0 2]", got)
	}
	for _, w := range l.kinds {
		if w.timer != nil || w.suppressed != 0 {
			t.Fatalf("still holding: %+v", w)
		}
	}
}
