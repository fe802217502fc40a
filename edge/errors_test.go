package edge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawOrigin accepts connections and answers each with what write does.
func rawOrigin(t *testing.T, write func(c net.Conn)) *origin {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				write(c)
				select {
				case <-done:
				case <-time.After(10 * time.Second):
				}
			}()
		}
	}()
	t.Cleanup(func() { close(done); l.Close() })
	return &origin{url: mustURL(t, "http://"+l.Addr().String())}
}

// Issue 2: origin down → 502, timeout → 504, with a clear text body, never
// a hang; a malformed origin response → 502; on every path (miss, pass).
func TestOriginFailures(t *testing.T) {
	block := newGate()
	t.Cleanup(block.release)
	cases := []struct {
		name   string
		origin func(t *testing.T) *origin
		method string
		want   int
		text   string
	}{
		{"connection refused (miss)", func(t *testing.T) *origin {
			return &origin{url: mustURL(t, "http://"+freePort(t))}
		}, "GET", 502, "could not be reached"},
		{"connection refused (pass)", func(t *testing.T) *origin {
			return &origin{url: mustURL(t, "http://"+freePort(t))}
		}, "POST", 502, "could not be reached"},
		{"first byte timeout (miss)", func(t *testing.T) *origin {
			return newOrigin(t, func(w http.ResponseWriter, r *http.Request) { block.wait(r.Context()) })
		}, "GET", 504, "did not answer in time"},
		{"first byte timeout (pass)", func(t *testing.T) *origin {
			return newOrigin(t, func(w http.ResponseWriter, r *http.Request) { block.wait(r.Context()) })
		}, "DELETE", 504, "did not answer in time"},
		{"garbage status line", func(t *testing.T) *origin {
			return rawOrigin(t, func(c net.Conn) { io.WriteString(c, "HTTP/9 banana\r\n\r\n") })
		}, "GET", 502, "could not be reached"},
		{"header too large", func(t *testing.T) *origin {
			return rawOrigin(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 100<<10)+"\r\nContent-Length: 0\r\n\r\n")
			})
		}, "GET", 502, "could not be reached"},
		{"control bytes in a header", func(t *testing.T) *origin {
			return rawOrigin(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nCache-Control: max-age\x00=1\r\nContent-Length: 0\r\n\r\n")
			})
		}, "GET", 502, "could not be reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.origin(t)
			e := newEdge(t, o, func(_ *Config, s *Site) {
				s.FirstByteTimeout = 300 * time.Millisecond
				s.ConnectTimeout = time.Second
			})
			r := e.do(c.method, "/x")
			if r.StatusCode != c.want {
				t.Fatalf("status %d, want %d (%q)", r.StatusCode, c.want, r.body)
			}
			if !strings.Contains(r.body, c.text) || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("body %q (%s)", r.body, r.Header.Get("Content-Type"))
			}
			outcome := "error"
			if c.want == 504 {
				outcome = "timeout"
			}
			e.waitCounter(1, "meshcdn_edge_origin_fetches_total", "outcome", outcome)
		})
	}
}

// The between-bytes timeout cuts a body that stalls: the client sees a
// truncated response (not a hang) and nothing is stored.
func TestBetweenBytesTimeout(t *testing.T) {
	block := newGate()
	t.Cleanup(block.release)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, strings.Repeat("a", 50))
		w.(http.Flusher).Flush()
		block.wait(r.Context())
	})
	e := newEdge(t, o, func(_ *Config, s *Site) { s.BetweenBytesTimeout = 200 * time.Millisecond })
	for _, method := range []string{"GET", "PATCH"} {
		req, _ := http.NewRequest(method, e.srv.URL+"/slow", nil)
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil || len(b) != 50 {
			t.Errorf("%s: read %d bytes, err %v; want 50 bytes and an error", method, len(b), err)
		}
	}
	if e.store.Stats().Objects != 0 {
		t.Error("a truncated body was stored")
	}
}
