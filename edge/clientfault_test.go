package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// countingOrigin is a raw TCP origin that counts the connections it
// accepts and answers every request it can read with a small 200.
type countingOrigin struct {
	url   string
	conns atomic.Int64
}

func newCountingOrigin(t *testing.T) *countingOrigin {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &countingOrigin{url: "http://" + l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			o.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return o
}

// rawRequest sends head and then body (each element written separately,
// with pause between them) on a new connection to the edge and returns the
// response, or nil if the edge closed the connection without one.
func rawRequest(t *testing.T, e *edgeEnv, head string, pause time.Duration, body ...string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, head)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, b := range body {
			select {
			case <-stop:
				return
			case <-time.After(pause):
			}
			if _, err := io.WriteString(conn, b); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// Issue 9 item 9: a malformed chunked request body is the client's fault:
// 400, and not an origin failure in meshcdn_edge_origin_fetches_total
// (anyone could otherwise trigger origin-error alerts).
func TestMalformedChunkedBodyIsClientError(t *testing.T) {
	bodies := []struct{ name, body string }{
		{"bad hex in the size", "zz\r\nabc\r\n0\r\n\r\n"},
		{"data longer than the size", "3\r\nabcdef\r\n0\r\n\r\n"},
		{"size overflows 64 bits", "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n"},
		{"size line too long", "3;" + strings.Repeat("x", 8<<10) + "\r\nabc\r\n0\r\n\r\n"},
		{"bare CR after the data", "3\r\nabc\rX0\r\n\r\n"},
	}
	for _, large := range []bool{false, true} {
		for _, b := range bodies {
			name := b.name
			prefix := ""
			if large {
				// A valid first chunk beyond the buffer: the bad part
				// arrives while the body streams to the origin.
				name += " (streamed)"
				prefix = "400\r\n" + strings.Repeat("p", 0x400) + "\r\n"
			}
			t.Run(name, func(t *testing.T) {
				o := newCountingOrigin(t)
				e := newEdge(t, &origin{url: mustURL(t, o.url)}, func(_ *Config, s *Site) { s.ClientBodyBuffer = 512 })
				res := rawRequest(t, e, "POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n", 0, prefix+b.body)
				if res == nil {
					t.Fatal("no response")
				}
				if res.StatusCode != http.StatusBadRequest {
					t.Errorf("status %d, want 400", res.StatusCode)
				}
				e.waitCounter(1, "meshcdn_edge_requests_total", "site", "test", "result", "synth")
				for _, outcome := range []string{"error", "timeout", "ok", "server_error"} {
					if n := e.counter("meshcdn_edge_origin_fetches_total", "outcome", outcome); n != 0 {
						t.Errorf("origin fetches{outcome=%q} = %v, want 0", outcome, n)
					}
				}
			})
		}
	}
}

// Issue 9 item 9: a client that leaves (mid-body, or while the origin is
// still answering) is logged as 499 and is not an origin failure.
func TestClientAbortNotOriginError(t *testing.T) {
	g := newGate()
	t.Cleanup(g.release)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		g.wait(r.Context())
	})
	core, logs := observer.New(zap.InfoLevel)
	e := newEdge(t, o, func(c *Config, _ *Site) { c.Logger = zap.New(core) })

	// Mid-body: 10 of 100 bytes, then the client closes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n0123456789")
	conn.Close()
	waitFor(t, "the first request line", func() bool { return logs.FilterMessage("request").Len() == 1 })

	// While the origin answers: the whole body, then the client closes.
	conn, err = net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n0123456789")
	<-g.entered
	conn.Close()
	waitFor(t, "the second request line", func() bool { return logs.FilterMessage("request").Len() == 2 })

	for i, l := range logs.FilterMessage("request").All() {
		if got := l.ContextMap()["status"]; got != int64(499) {
			t.Errorf("request %d logged with status %v, want 499", i, got)
		}
	}
	if n := e.counter("meshcdn_edge_origin_fetches_total", "outcome", "error"); n != 0 {
		t.Errorf("origin fetches{outcome=error} = %v after client aborts, want 0", n)
	}
}

// Issue 9 item 8: a small request body is read whole before the origin is
// contacted: a client that stalls mid-body never holds an origin
// connection.
func TestSmallBodyBufferedBeforeOrigin(t *testing.T) {
	o := newCountingOrigin(t)
	e := newEdge(t, &origin{url: mustURL(t, o.url)}, func(_ *Config, s *Site) { s.ClientBodyTimeout = 200 * time.Millisecond })
	res := rawRequest(t, e, "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n0123456789", 0)
	if res == nil || res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("response %v, want 408", res)
	}
	if n := o.conns.Load(); n != 0 {
		t.Errorf("the origin got %d connections for a body that never arrived", n)
	}
	// A complete small body goes through.
	if r := e.doBody("POST", "/up", strings.NewReader("hello")); r.StatusCode != 200 || r.body != "ok" {
		t.Errorf("complete body: %d %q", r.StatusCode, r.body)
	}
}

// Issue 9 item 8: a body that trickles (each byte well inside the idle
// timeout) is cut by the whole-body deadline and by the minimum rate,
// buffered or streamed: 408, whatever the trickle's pace.
func TestClientBodyDeadlineAndMinRate(t *testing.T) {
	trickle := make([]string, 400)
	for i := range trickle {
		trickle[i] = "x"
	}
	cases := []struct {
		name string
		opt  func(s *Site)
	}{
		{"whole-body deadline, buffered", func(s *Site) { s.ClientBodyDeadline = 300 * time.Millisecond }},
		{"whole-body deadline, streamed", func(s *Site) {
			s.ClientBodyDeadline = 300 * time.Millisecond
			s.ClientBodyBuffer = 16
		}},
		{"minimum rate, buffered", func(s *Site) {
			s.ClientBodyTimeout = 300 * time.Millisecond
			s.ClientBodyMinRate = 1000
		}},
		{"minimum rate, streamed", func(s *Site) {
			s.ClientBodyTimeout = 300 * time.Millisecond
			s.ClientBodyMinRate = 1000
			s.ClientBodyBuffer = 16
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := newCountingOrigin(t)
			e := newEdge(t, &origin{url: mustURL(t, o.url)}, func(_ *Config, s *Site) {
				s.ClientBodyTimeout = 5 * time.Second
				c.opt(s)
			})
			head := fmt.Sprintf("POST /slow HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", len(trickle))
			res := rawRequest(t, e, head, 20*time.Millisecond, trickle...)
			if res == nil || res.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("response %v, want 408", res)
			}
			if n := e.counter("meshcdn_edge_origin_fetches_total", "outcome", "error"); n != 0 {
				t.Errorf("origin fetches{outcome=error} = %v, want 0", n)
			}
		})
	}
	// The same trickle with the minimum rate switched off gets through.
	o := newCountingOrigin(t)
	e := newEdge(t, &origin{url: mustURL(t, o.url)}, func(_ *Config, s *Site) {
		s.ClientBodyTimeout = 300 * time.Millisecond
		s.ClientBodyMinRate = NoClientBodyMinRate
	})
	head := fmt.Sprintf("POST /slow HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", len(trickle[:40]))
	if res := rawRequest(t, e, head, 20*time.Millisecond, trickle[:40]...); res == nil || res.StatusCode != http.StatusOK {
		t.Fatalf("minimum rate off: response %v, want 200", res)
	}
}

// Issue 9 item 8: concurrent origin requests per site are capped; beyond
// the cap requests wait in a bounded queue; beyond the queue they get 503
// with Retry-After, on the miss and the pass path alike.
func TestOriginConnectionCap(t *testing.T) {
	g := newGate()
	release := g.release
	t.Cleanup(release)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		g.wait(r.Context())
		io.WriteString(w, "done")
	})
	e := newEdge(t, o, func(_ *Config, s *Site) {
		s.MaxOriginConns = 1
		s.OriginQueue = 1
		s.ConnectTimeout = 10 * time.Second // the queue wait: long enough never to end this test
	})
	var wg sync.WaitGroup
	results := make([]resp, 2)
	wg.Add(1)
	go func() { defer wg.Done(); results[0] = e.get("/held") }() // holds the one connection
	<-g.entered
	wg.Add(1)
	go func() { defer wg.Done(); results[1] = e.doBody("POST", "/queued", strings.NewReader("q")) }()
	waitFor(t, "a queued request", func() bool { return e.proxy.table.Load().all[0].slots.queued.Load() == 1 })
	for _, method := range []string{"GET", "POST"} {
		r := e.doBody(method, "/refused", strings.NewReader(""))
		if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s beyond the queue: %d, Retry-After %q; want 503 with Retry-After", method, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	release()
	wg.Wait()
	for i, r := range results {
		if r.StatusCode != 200 || r.body != "done" {
			t.Errorf("request %d: %d %q", i, r.StatusCode, r.body)
		}
	}
	if n := o.hits.Load(); n != 2 {
		t.Errorf("origin requests %d, want 2", n)
	}
	e.waitCounter(2, "meshcdn_edge_origin_busy_total")
}

// The read budget of a request body: the idle timeout, capped by the
// whole-body deadline and by the minimum rate (idle of slack plus n/rate).
func TestBodyReadBudget(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		idle, whole time.Duration
		rate, n     int64
		waited      time.Duration
		want        time.Duration
	}{
		{60 * s, 600 * s, 512, 0, 0, 60 * s},                 // fresh: the idle timeout
		{60 * s, 600 * s, 512, 512 * 100, 50 * s, 60 * s},    // fast enough: idle again
		{60 * s, 600 * s, 512, 512 * 10, 65 * s, 5 * s},      // 70 s allowed for 10 s worth, 65 s used
		{60 * s, 600 * s, 512, 512 * 10, 70 * s, 0},          // the rate has run out
		{60 * s, 600 * s, 512, 512 * 10000, 590 * s, 10 * s}, // the deadline caps a fast body
		{60 * s, 600 * s, -1, 10, 300 * s, 60 * s},           // no minimum rate: only idle and deadline
		{60 * s, 600 * s, -1, 10, 580 * s, 20 * s},           // ... and the deadline still holds
	} {
		if got := bodyReadBudget(c.idle, c.whole, c.rate, c.n, c.waited); got != c.want {
			t.Errorf("bodyReadBudget(%v, %v, %d, %d, %v) = %v, want %v", c.idle, c.whole, c.rate, c.n, c.waited, got, c.want)
		}
	}
}
