package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/store"
)

// RFC 9111 §4.1 with collapsing: requests that collapsed on a URL miss
// before the response's Vary was known must not receive another variant;
// they re-queue and get their own.
func TestCollapsedWaiterGetsOwnVariant(t *testing.T) {
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Language") == "en" {
			g.wait(r.Context())
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang:"+r.Header.Get("Accept-Language"))
	})
	e := newEdge(t, o)
	results := make(map[string]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	get := func(lang string) {
		defer wg.Done()
		r := e.get("/v", "Accept-Language", lang)
		mu.Lock()
		results[lang] = r.body
		mu.Unlock()
	}
	wg.Add(1)
	go get("en")
	<-g.entered
	for _, l := range []string{"de", "fr", "en"} {
		wg.Add(1)
		go get(l)
	}
	waitFor(t, "waiters", func() bool { return e.waiters(e.primary("/v")) == 4 })
	g.release()
	wg.Wait()
	for _, l := range []string{"en", "de", "fr"} {
		if results[l] != "lang:"+l {
			t.Errorf("%s got %q", l, results[l])
		}
	}
	if got := o.hits.Load(); got != 3 {
		t.Errorf("origin requests %d, want 3 (one per variant)", got)
	}
}

// A leader whose client leaves before an uncacheable response arrives:
// the response nobody will read is closed (the origin sees its request
// end), not leaked.
func TestAbandonedUncacheableResponseClosed(t *testing.T) {
	g := newGate()
	closed := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		g.wait(r.Context())
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select { // a large body the edge would have to drain
		case <-r.Context().Done():
			close(closed)
		case <-time.After(20 * time.Second):
		}
	})
	e := newEdge(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/gone", nil)
	done := make(chan error)
	go func() {
		_, err := e.client.Do(req)
		done <- err
	}()
	<-g.entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("request not cancelled")
	}
	waitFor(t, "the leader to leave", func() bool {
		e.proxy.flights.mu.Lock()
		defer e.proxy.flights.mu.Unlock()
		for _, f := range e.proxy.flights.groups[e.primary("/gone")] {
			return f.leaderGone
		}
		return false
	})
	g.release()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("the abandoned origin response was never closed")
	}
	e.settle()
}

// Close stops fetches in flight: their clients get an answer (502), Close
// returns, nothing hangs.
func TestCloseWithFetchInFlight(t *testing.T) {
	g := newGate()
	t.Cleanup(g.release)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { g.wait(r.Context()) })
	e := newEdge(t, o)
	done := make(chan resp)
	go func() { done <- e.get("/inflight") }()
	<-g.entered
	closed := make(chan struct{})
	go func() { e.proxy.Close(); close(closed) }()
	select {
	case r := <-done:
		if r.StatusCode != 502 {
			t.Errorf("client got %d", r.StatusCode)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("client hung after Close")
	}
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hung")
	}
	e.proxy.Close() // idempotent
}

// Every size is bounded: the bytes all running fetches buffer for the
// store have a budget; a fetch beyond it still streams to its clients but
// is not stored. The budget is given back afterwards.
func TestFetchBufferBudget(t *testing.T) {
	const size = 300 << 10
	body := strings.Repeat("b", size)
	g := newGate()
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.WriteString(w, body[:1000])
		w.(http.Flusher).Flush()
		g.wait(r.Context())
		io.WriteString(w, body[1000:])
	})
	st := store.New(store.Config{MaxBytes: 2 << 20, MaxObjectBytes: 512 << 10}) // budget: 512 KiB
	t.Cleanup(st.Close)
	e := newEdge(t, o, func(c *Config, _ *Site) { c.Store = st })
	e.store = st
	if e.proxy.fetchBudget.max != 512<<10 {
		t.Fatalf("budget %d", e.proxy.fetchBudget.max)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.get("/obj" + strconv.Itoa(i)); r.body != body {
				t.Errorf("obj%d: %d bytes", i, len(r.body))
			}
		}()
	}
	waitFor(t, "three fetches with their headers in", func() bool {
		e.proxy.flights.mu.Lock()
		defer e.proxy.flights.mu.Unlock()
		n := 0
		for _, fs := range e.proxy.flights.groups {
			for _, f := range fs {
				if f.published {
					n++
				}
			}
		}
		return n == 3
	})
	if used := e.proxy.fetchBudget.used.Load(); used != size {
		t.Errorf("budget in use %d, want %d (one fetch fits, two stream only)", used, size)
	}
	g.release()
	wg.Wait()
	e.settle()
	if n := e.store.Stats().Objects; n != 1 {
		t.Errorf("%d objects stored, want 1", n)
	}
	if used := e.proxy.fetchBudget.used.Load(); used != 0 {
		t.Errorf("budget not given back: %d", used)
	}
}

// A client that stops sending its request body (slowloris) gets 408 once
// the site's ClientBodyTimeout passes, and the origin request is abandoned,
// instead of holding a connection to the origin for as long as it likes.
// (A body larger than ClientBodyBuffer, so that it streams to the origin;
// a smaller one never reaches it: TestSmallBodyBufferedBeforeOrigin.)
func TestClientBodyTimeout(t *testing.T) {
	originDone := make(chan error, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		originDone <- err
	})
	e := newEdge(t, o, func(_ *Config, s *Site) {
		s.ClientBodyTimeout = 200 * time.Millisecond
		s.ClientBodyBuffer = 5
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n0123456789")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
	select {
	case err := <-originDone:
		if err == nil {
			t.Error("the origin read a complete body")
		}
	case <-time.After(10 * time.Second):
		t.Error("the origin request was not abandoned")
	}
}
