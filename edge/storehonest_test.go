package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// closingOrigin is a raw TCP origin: it reads one request per connection,
// writes what answer returns, then closes the connection at once (an origin
// that dies mid-body looks exactly like this). It counts the requests.
type closingOrigin struct {
	url  string
	hits atomic.Int64
}

func newClosingOrigin(t *testing.T, answer func(n int64) string) *closingOrigin {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &closingOrigin{url: "http://" + l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, answer(o.hits.Add(1)))
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return o
}

// Issue 9 item 6: a close-delimited body (no Content-Length, not chunked)
// ends where the origin closes the connection, so a body cut short looks
// complete. It is not stored by default (Cache-Status says why); a site
// whose origin can only answer that way opts in.
func TestCloseDelimitedNotStored(t *testing.T) {
	body := strings.Repeat("c", 500) // the origin meant to send more, then died
	o := newClosingOrigin(t, func(int64) string {
		return "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Type: text/plain\r\n\r\n" + body
	})
	for _, optIn := range []bool{false, true} {
		e := newEdge(t, &origin{url: mustURL(t, o.url)}, func(_ *Config, s *Site) { s.StoreCloseDelimited = optIn })
		path := "/cd"
		if optIn {
			path = "/cd-opt-in"
		}
		before := o.hits.Load()
		r := e.get(path)
		if r.StatusCode != 200 || r.body != body {
			t.Fatalf("opt-in %v: %d, %d bytes", optIn, r.StatusCode, len(r.body))
		}
		cs := r.Header.Get("Cache-Status")
		e.settle()
		r2 := e.get(path)
		if !optIn {
			if !strings.Contains(cs, "detail=close-delimited") || strings.Contains(cs, "stored") {
				t.Errorf("Cache-Status %q, want detail=close-delimited and not stored", cs)
			}
			if r2.Header.Get("X-Cache") == "HIT" || o.hits.Load()-before != 2 {
				t.Errorf("a close-delimited body was stored: %s, origin requests %d", r2.Header.Get("Cache-Status"), o.hits.Load()-before)
			}
			continue
		}
		if r2.Header.Get("X-Cache") != "HIT" || r2.body != body {
			t.Errorf("opt-in: second request %s (%s), %d bytes", r2.Header.Get("X-Cache"), r2.Header.Get("Cache-Status"), len(r2.body))
		}
	}
}

// Issue 9 item 7: the response headers go out before the body has
// arrived. Cache-Status says "stored" only for a response that is in the
// cache when they go out; a body that then breaks off (the origin closes
// early, or stalls past the between-bytes timeout) is reported as not
// stored in the access log and in meshcdn_edge_store_failures_total.
func TestCacheStatusNotStoredWhenBodyFails(t *testing.T) {
	cases := []struct {
		name   string
		reason string
		origin func(t *testing.T) *origin
	}{
		{"origin closes mid-body", "truncated", func(t *testing.T) *origin {
			o := newClosingOrigin(t, func(int64) string {
				return "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("t", 50)
			})
			return &origin{url: mustURL(t, o.url)}
		}},
		{"origin stalls mid-body", "timeout", func(t *testing.T) *origin {
			block := newGate()
			t.Cleanup(block.release)
			return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, strings.Repeat("s", 50))
				w.(http.Flusher).Flush()
				block.wait(r.Context())
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			e := newEdge(t, c.origin(t), func(cfg *Config, s *Site) {
				s.BetweenBytesTimeout = 200 * time.Millisecond
				cfg.Logger = zap.New(core)
			})
			res, err := e.client.Get(e.srv.URL + "/broken")
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil || len(b) != 50 {
				t.Fatalf("read %d bytes, err %v; want 50 and an error", len(b), err)
			}
			cs := res.Header.Get("Cache-Status")
			// The body still arriving when the headers went out ("storing"),
			// or already known to be broken (the failure itself): both true.
			if strings.Contains(cs, "stored") || !(strings.Contains(cs, "detail=storing") || strings.Contains(cs, "detail="+c.reason)) {
				t.Errorf("Cache-Status %q: claims stored, or says neither that the body was still arriving nor why it was not stored", cs)
			}
			e.settle()
			if e.store.Stats().Objects != 0 {
				t.Fatal("a broken body was stored")
			}
			e.waitCounter(1, "meshcdn_edge_store_failures_total", "reason", c.reason)
			waitFor(t, "the access log line", func() bool { return logs.FilterMessage("request").Len() == 1 })
			if got := logs.FilterMessage("request").All()[0].ContextMap()["store"]; got != c.reason {
				t.Errorf("access log store=%v, want %s", got, c.reason)
			}
		})
	}
}

// Issue 9 item 7, the other side: a small body that is complete with its
// headers is stored before they go out, and Cache-Status says so; the
// access log says stored.
func TestCacheStatusStoredWhenStored(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "small")
	})
	core, logs := observer.New(zap.InfoLevel)
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Logger = zap.New(core) })
	r := e.get("/small")
	if cs := r.Header.Get("Cache-Status"); !strings.Contains(cs, "; stored") {
		t.Errorf("Cache-Status %q, want stored", cs)
	}
	if n := e.store.Stats().Objects; n != 1 {
		t.Errorf("%d objects stored when the client had the response", n)
	}
	waitFor(t, "the access log line", func() bool { return logs.FilterMessage("request").Len() == 1 })
	if got := logs.FilterMessage("request").All()[0].ContextMap()["store"]; got != "stored" {
		t.Errorf("access log store=%v, want stored", got)
	}
}

// Issue 9 item 7: a 304 refresh fenced by a purge accepted meanwhile is not
// stored, and its Cache-Status does not say it was.
func TestRevalidationFencedNotSaidStored(t *testing.T) {
	g := newGate()
	release := g.release
	t.Cleanup(release)
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", `"a"`)
		if n.Add(1) == 1 {
			io.WriteString(w, "body")
			return
		}
		g.wait(r.Context())
		w.WriteHeader(http.StatusNotModified)
	})
	e := newEdge(t, o, func(c *Config, _ *Site) { c.PurgeToken = "t0k" })
	e.get("/rv")
	e.settle()
	done := make(chan resp)
	go func() { done <- e.get("/rv") }()
	<-g.entered // the revalidation has begun at the origin
	if r := e.do("PURGE", "/rv", "Fastly-Key", "t0k"); r.StatusCode != 200 {
		t.Fatalf("PURGE: %d %s", r.StatusCode, r.body)
	}
	release()
	r := <-done
	if cs := r.Header.Get("Cache-Status"); r.body != "body" || strings.Contains(cs, "stored") || !strings.Contains(cs, "detail=purged") {
		t.Errorf("fenced revalidation: %q, Cache-Status %q; want detail=purged and not stored", r.body, cs)
	}
}
