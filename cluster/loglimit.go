package cluster

import (
	"sync"
	"time"
)

// maxLogKinds bounds the kinds a limiter tracks; further kinds share one.
const maxLogKinds = 64

// limiter writes at most one line per kind per interval. The first line of
// a kind is written at once; lines of that kind during the next interval
// are left out and counted, and when the interval ends the last of them is
// written carrying that count ("suppressed"), which starts a new interval.
// A flood of one kind thus writes one line per interval, and a single
// event is never held back.
type limiter struct {
	every time.Duration

	mu      sync.Mutex
	kinds   map[string]*logWindow
	stopped bool
}

type logWindow struct {
	until      time.Time    // lines are held back until then
	suppressed uint64       // held back so far
	last       func(uint64) // writes the latest held-back line
	timer      *time.Timer  // ends the interval when lines are held back
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, kinds: map[string]*logWindow{}}
}

// write calls line(0) now or, if a line of this kind was written less than
// an interval ago, holds it back: at the end of the interval the latest
// held-back line is called with the number held back (it included).
func (l *limiter) write(kind string, line func(suppressed uint64)) {
	now := time.Now()
	l.mu.Lock()
	w := l.kinds[kind]
	if w == nil {
		if len(l.kinds) >= maxLogKinds {
			kind = "other"
			w = l.kinds[kind]
		}
		if w == nil {
			w = &logWindow{}
			l.kinds[kind] = w
		}
	}
	if w.suppressed == 0 && !now.Before(w.until) {
		w.until = now.Add(l.every)
		l.mu.Unlock()
		line(0)
		return
	}
	if !l.stopped {
		w.suppressed++
		w.last = line
		if w.timer == nil {
			w.timer = time.AfterFunc(w.until.Sub(now), func() { l.flush(kind) })
		}
	}
	l.mu.Unlock()
}

// flush ends kind's interval: the latest held-back line is written with
// the count.
func (l *limiter) flush(kind string) {
	l.mu.Lock()
	w := l.kinds[kind]
	n, line := w.suppressed, w.last
	w.suppressed, w.last, w.timer = 0, nil, nil
	w.until = time.Now().Add(l.every)
	stopped := l.stopped
	l.mu.Unlock()
	if n > 0 && line != nil && !stopped {
		line(n)
	}
}

// stop writes what is held back now, with its count, and cancels the
// timers (the node shuts down). Afterwards lines of a kind inside its
// interval are dropped (the counters keep the numbers).
func (l *limiter) stop() {
	l.mu.Lock()
	l.stopped = true
	var pending []func()
	for _, w := range l.kinds {
		if w.timer != nil {
			w.timer.Stop()
			w.timer = nil
		}
		if n, line := w.suppressed, w.last; n > 0 && line != nil {
			pending = append(pending, func() { line(n) })
		}
		w.suppressed, w.last = 0, nil
	}
	l.mu.Unlock()
	for _, f := range pending {
		f()
	}
}
