package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// errOriginBusy: every origin slot is taken and the queue is full, or a
// queued request waited too long. The client gets 503 with Retry-After.
var errOriginBusy = errors.New("origin busy: connection limit and queue full")

// retryAfterBusy is the Retry-After (seconds) of a 503 for a busy origin.
var retryAfterBusy = []string{"5"}

// originSlots caps the concurrent requests to one site's origin (over
// HTTP/1.1, its connections). Requests beyond the cap wait in a bounded
// FIFO queue (a channel's senders are served in order).
type originSlots struct {
	slots  chan struct{}
	queued atomic.Int64
	queue  int64
}

func newOriginSlots(max, queue int) *originSlots {
	return &originSlots{slots: make(chan struct{}, max), queue: int64(queue)}
}

// acquire takes a slot, waiting in the queue at most wait; errOriginBusy
// when the queue is full or the wait ends, ctx's error when ctx ends first.
func (o *originSlots) acquire(ctx context.Context, wait time.Duration) error {
	select {
	case o.slots <- struct{}{}:
		return nil
	default:
	}
	if o.queued.Add(1) > o.queue {
		o.queued.Add(-1)
		return errOriginBusy
	}
	defer o.queued.Add(-1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case o.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errOriginBusy
	}
}

func (o *originSlots) release() { <-o.slots }

// slotBody gives the origin slot back when the response body is closed.
type slotBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *slotBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// roundTrip sends req to s's origin within the site's connection cap: the
// slot is held until the response body is closed.
func (p *Proxy) roundTrip(s *site, req *http.Request) (*http.Response, error) {
	if err := s.slots.acquire(req.Context(), s.ConnectTimeout); err != nil {
		if errors.Is(err, errOriginBusy) {
			p.m.originBusy.Inc()
			return nil, err
		}
		return nil, fmt.Errorf("waiting for an origin connection: %w", err)
	}
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		s.slots.release()
		return nil, err
	}
	resp.Body = &slotBody{ReadCloser: resp.Body, release: s.slots.release}
	return resp, nil
}
