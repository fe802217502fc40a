package edge

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// errNoReaders stops a fetch whose body can no longer be stored and that
// nobody is reading any more.
var errNoReaders = errors.New("edge: no readers left for an unstorable body")

// streamBody is a response body being fetched, read by any number of
// clients while it grows. While it fits the store's limit every byte is
// kept (late readers start at byte 0, the finished bytes become the stored
// object). Once it outgrows the limit it switches to window mode: bytes
// every reader has passed are dropped, the fetch waits for the slowest
// reader when the window is full, and no new reader can join.
type streamBody struct {
	mu       sync.Mutex
	buf      []byte // bytes [base, base+len(buf))
	base     int64
	limit    int64 // most bytes kept for the store
	size     int64 // Content-Length, -1 if unknown
	overflow bool  // window mode: the body will not be stored
	done     bool
	err      error        // fetch failed mid-body
	outcome  storeOutcome // what became of the body, set with done
	notify   chan struct{}
	space    chan struct{}
	readers  map[*bodyReader]struct{}

	budget   *budget // shared by all fetches: bytes buffered for the store
	reserved int64   // taken from budget, given back by release
}

// budget bounds the bytes all running fetches buffer for the store; a
// fetch that cannot reserve more streams on without storing.
type budget struct {
	used atomic.Int64
	max  int64
}

func (b *budget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

type bodyReader struct {
	b   *streamBody
	pos int64
}

func newStreamBody(limit int64, bg *budget) *streamBody {
	return &streamBody{limit: limit, size: -1, notify: make(chan struct{}), space: make(chan struct{}),
		readers: map[*bodyReader]struct{}{}, budget: bg}
}

// start sizes the buffer once the response headers are known.
func (b *streamBody) start(size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.size = size
	switch {
	case size > 0 && size <= b.limit:
		if !b.reserveLocked(size) {
			b.overflow = true // over the fetch budget: stream only
			return
		}
		b.buf = make([]byte, 0, size)
	case size > b.limit || size < 0:
		b.buf = make([]byte, 0, min(b.limit, 64<<10))
	}
}

// reserveLocked makes sure n bytes of buffer are covered by the budget.
func (b *streamBody) reserveLocked(n int64) bool {
	if n <= b.reserved {
		return true
	}
	if b.budget != nil && !b.budget.take(n-b.reserved) {
		return false
	}
	b.reserved = n
	return true
}

// release gives the reservation back (the stored object, if any, is now
// the store's to account for).
func (b *streamBody) release() {
	b.mu.Lock()
	if b.budget != nil {
		b.budget.used.Add(-b.reserved)
	}
	b.reserved = 0
	b.mu.Unlock()
}

// attach adds a reader at byte 0; nil if the beginning was already dropped.
func (b *streamBody) attach() *bodyReader {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.base > 0 || b.overflow {
		return nil
	}
	r := &bodyReader{b: b}
	b.readers[r] = struct{}{}
	return r
}

// joinable reports whether a new reader could still start at byte 0.
func (b *streamBody) joinable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.base == 0 && !b.overflow
}

// write appends p. In window mode it blocks until the slowest reader made
// room; it fails with errNoReaders when nobody reads an unstorable body.
func (b *streamBody) write(ctx context.Context, p []byte) error {
	b.mu.Lock()
	if !b.overflow {
		if n := int64(len(b.buf) + len(p)); n > b.limit || !b.reserveLocked(max(n, int64(cap(b.buf)))) {
			b.overflow = true
		}
	}
	for b.overflow {
		b.trimLocked()
		if len(b.readers) == 0 {
			b.mu.Unlock()
			return errNoReaders
		}
		if len(b.buf) < streamWindow {
			break
		}
		space := b.space
		b.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	b.buf = append(b.buf, p...)
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
	return nil
}

// trimLocked drops the bytes every reader has passed (window mode only).
func (b *streamBody) trimLocked() {
	lo := b.base + int64(len(b.buf))
	for r := range b.readers {
		lo = min(lo, r.pos)
	}
	if n := lo - b.base; n > 0 {
		b.buf = b.buf[n:]
		b.base = lo
	}
}

// finish marks the end of the body (err != nil: it broke off) and what
// became of it: a reader that reached the end can tell (stored).
func (b *streamBody) finish(err error, o storeOutcome) {
	b.mu.Lock()
	b.done = true
	b.err = err
	b.outcome = o
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
}

// kept returns the whole body written so far if every byte was kept (the
// fetch calls it once the body ended cleanly, before finish).
func (b *streamBody) kept() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || b.overflow || b.base != 0 {
		return nil, false
	}
	return b.buf, true
}

// overflowed reports whether the body will not be kept for the store.
func (b *streamBody) overflowed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.overflow
}

// result is what became of the body; storePending until it ended.
func (b *streamBody) result() storeOutcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		return storePending
	}
	return b.outcome
}

// next returns the bytes after r's position, blocking until there are some.
// io.EOF after the last byte of a clean body; the fetch's error if it broke.
func (r *bodyReader) next(ctx context.Context) ([]byte, error) {
	b := r.b
	for {
		b.mu.Lock()
		if off := r.pos - b.base; off < int64(len(b.buf)) {
			chunk := b.buf[off:]
			r.pos += int64(len(chunk))
			if b.overflow {
				close(b.space)
				b.space = make(chan struct{})
			}
			b.mu.Unlock()
			return chunk, nil
		}
		if b.done {
			err := b.err
			b.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		notify := b.notify
		b.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitComplete blocks until the body ended or overflowed; it reports
// whether the whole body is available.
func (r *bodyReader) waitComplete(ctx context.Context) ([]byte, bool) {
	b := r.b
	for {
		b.mu.Lock()
		if b.done || b.overflow {
			ok := b.done && b.err == nil && !b.overflow && b.base == 0
			buf := b.buf
			b.mu.Unlock()
			return buf, ok
		}
		notify := b.notify
		b.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// close detaches r, letting a windowed body move on without it.
func (r *bodyReader) close() {
	if r == nil {
		return
	}
	b := r.b
	b.mu.Lock()
	if _, ok := b.readers[r]; ok {
		delete(b.readers, r)
		if b.overflow {
			close(b.space)
			b.space = make(chan struct{})
		}
	}
	b.mu.Unlock()
}
