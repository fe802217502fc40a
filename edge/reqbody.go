package edge

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// clientBody is a client's request body on its way to the origin, read
// under the site's limits. One read waits at most ClientBodyTimeout; the
// whole body must arrive within ClientBodyDeadline and, with
// ClientBodyTimeout of slack, at ClientBodyMinRate bytes/s on average.
// Only the time spent waiting for the client counts (not the time the
// origin takes to accept what was read). When a limit passes, the read
// waiting for the client is cut short (the connection's read deadline) and
// the origin request is cancelled.
//
// A body of at most ClientBodyBuffer bytes is read whole before the origin
// is contacted (buffer): a slow or broken client then costs the origin
// nothing. Larger bodies stream, starting with what was buffered.
type clientBody struct {
	rc     io.ReadCloser
	s      *site
	timer  *time.Timer
	fired  atomic.Bool
	n      int64         // bytes read (one reader at a time: buffer, then the transport)
	waited time.Duration // time spent waiting for the client
	head   []byte        // buffered bytes, sent first
	whole  bool          // head is the whole body

	mu    sync.Mutex
	done  bool  // the handler returned: the connection is not ours to touch
	fault error // the first read error other than io.EOF
}

// newClientBody wraps r's body; cut is called once when a limit passes
// (while the handler runs).
func newClientBody(r *http.Request, s *site, cut func()) *clientBody {
	b := &clientBody{rc: r.Body, s: s}
	b.timer = time.AfterFunc(time.Hour, func() {
		b.fired.Store(true)
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.done {
			cut()
		}
	})
	b.timer.Stop()
	return b
}

// bodyReadBudget is how long the next read of a request body may wait for
// the client: the idle timeout, capped by what is left of the whole-body
// deadline and of the time the minimum rate allows for the n bytes so far
// (idle of slack plus n/rate seconds). waited is the time already spent
// waiting. Zero or less: a limit has passed.
func bodyReadBudget(idle, whole time.Duration, rate, n int64, waited time.Duration) time.Duration {
	d := min(idle, whole-waited)
	if rate > 0 {
		allowed := idle + time.Duration(float64(n)/float64(rate)*float64(time.Second))
		d = min(d, allowed-waited)
	}
	return d
}

func (b *clientBody) Read(p []byte) (int, error) {
	d := bodyReadBudget(b.s.ClientBodyTimeout, b.s.ClientBodyDeadline, b.s.ClientBodyMinRate, b.n, b.waited)
	if d <= 0 {
		b.fired.Store(true)
		b.setFault(errClientBody)
		return 0, errClientBody
	}
	b.timer.Reset(d)
	t0 := time.Now()
	n, err := b.rc.Read(p)
	b.timer.Stop()
	b.waited += time.Since(t0)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		if b.fired.Load() {
			err = errClientBody
		}
		b.setFault(err)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

func (b *clientBody) setFault(err error) {
	b.mu.Lock()
	if b.fault == nil {
		b.fault = err
	}
	b.mu.Unlock()
}

// err is the client's fault, if reading its body failed: errClientBody
// when a limit passed, else the read error (a malformed chunked body, a
// body cut short).
func (b *clientBody) err() error {
	if b.fired.Load() {
		return errClientBody
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fault
}

// stop is called when the handler returns.
func (b *clientBody) stop() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
	b.timer.Stop()
}

// buffer reads the body whole if it has at most limit bytes (declared: its
// Content-Length, -1 if chunked). A larger one is left to stream, after
// the bytes read so far.
func (b *clientBody) buffer(declared, limit int64) error {
	if declared > limit {
		return nil
	}
	var buf bytes.Buffer // grows as bytes arrive: a slow client costs what it sent
	_, err := buf.ReadFrom(io.LimitReader(b, limit+1))
	if err != nil {
		return err
	}
	b.head = buf.Bytes()
	b.whole = int64(len(b.head)) <= limit
	return nil
}

// attach makes the (buffered) body req's.
func (b *clientBody) attach(req *http.Request, declared int64) {
	if b.whole {
		head := b.head
		req.Body = io.NopCloser(bytes.NewReader(head))
		req.ContentLength = int64(len(head))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(head)), nil }
		if len(head) == 0 {
			req.Body = http.NoBody
		}
		delete(req.Header, "Expect") // the body is here: nothing to wait for
		return
	}
	req.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b.head), b), b}
	req.ContentLength = declared
	req.GetBody = nil
}

// clientBodyFault answers a request whose body could not be read: 408
// when it did not arrive in time, nothing (logged as 499) when the client
// left mid-body, 400 when it was malformed. None of these is the origin's.
func (p *Proxy) clientBodyFault(w http.ResponseWriter, rq *request, err error) {
	rq.err = err
	switch {
	case errors.Is(err, errClientBody):
		p.synth(w, rq, http.StatusRequestTimeout, "the request body did not arrive in time", xcachePass, nil)
	case errors.Is(err, io.ErrUnexpectedEOF) || rq.r.Context().Err() != nil:
		rq.status = statusClientClosed
	default:
		p.synth(w, rq, http.StatusBadRequest, "malformed request body", xcachePass, nil)
	}
}
