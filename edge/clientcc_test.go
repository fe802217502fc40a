package edge

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Issue 5 / RFC 9111 §5.2.1: request Cache-Control is ignored by default
// (protecting the origin) and honoured when the site says so: no-cache and
// max-age force revalidation (fwd=request), max-stale accepts a stale copy,
// only-if-cached answers 504 on a miss, no-store keeps the response out.
func TestClientCacheControl(t *testing.T) {
	cases := []struct {
		name   string
		honor  bool
		stale  bool // the stored copy is stale (no SWR)
		cold   bool // nothing stored
		hdr    []string
		status int
		xcache string
		fwd    string
		stored bool // a plain request afterwards is a HIT
	}{
		{"ignored no-cache", false, false, false, []string{"Cache-Control", "no-cache"}, 200, "HIT", "", true},
		{"ignored max-age=0", false, false, false, []string{"Cache-Control", "max-age=0"}, 200, "HIT", "", true},
		{"ignored only-if-cached", false, false, true, []string{"Cache-Control", "only-if-cached"}, 200, "MISS", "uri-miss", true},
		{"ignored no-store", false, false, true, []string{"Cache-Control", "no-store"}, 200, "MISS", "uri-miss", true},
		{"honoured no-cache", true, false, false, []string{"Cache-Control", "no-cache"}, 200, "MISS", "request", true},
		{"honoured Pragma: no-cache", true, false, false, []string{"Pragma", "no-cache"}, 200, "MISS", "request", true},
		{"honoured max-age=0", true, false, false, []string{"Cache-Control", "max-age=0"}, 200, "MISS", "request", true},
		{"honoured max-age large", true, false, false, []string{"Cache-Control", "max-age=3600"}, 200, "HIT", "", true},
		{"honoured min-fresh beyond ttl", true, false, false, []string{"Cache-Control", "min-fresh=1000"}, 200, "MISS", "request", true},
		{"honoured only-if-cached, cold", true, false, true, []string{"Cache-Control", "only-if-cached"}, 504, "MISS", "", false},
		{"honoured only-if-cached, cached", true, false, false, []string{"Cache-Control", "only-if-cached"}, 200, "HIT", "", true},
		{"honoured max-stale (and refreshed in the background)", true, true, false, []string{"Cache-Control", "max-stale=1000"}, 200, "HIT", "", true},
		{"ignored max-stale", false, true, false, []string{"Cache-Control", "max-stale=1000"}, 200, "MISS", "stale", true},
		{"honoured no-store", true, false, true, []string{"Cache-Control", "no-store"}, 200, "MISS", "uri-miss", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 && c.stale {
					w.Header().Set("Cache-Control", "max-age=10")
					w.Header().Set("Age", "20")
					w.Header().Set("ETag", `"1"`)
					io.WriteString(w, "stale")
					return
				}
				w.Header().Set("Cache-Control", "max-age=100")
				io.WriteString(w, "fresh")
			})
			e := newEdge(t, o, func(_ *Config, s *Site) { s.HonorClientCacheControl = c.honor })
			if !c.cold {
				e.get("/cc")
				e.settle()
			}
			r := e.get("/cc", c.hdr...)
			fwd, _ := csParam(r.Header.Get("Cache-Status"), "fwd")
			if r.StatusCode != c.status || r.Header.Get("X-Cache") != c.xcache || fwd != c.fwd {
				t.Fatalf("%d %s %q, want %d %s fwd=%s", r.StatusCode, r.Header.Get("X-Cache"), r.Header.Get("Cache-Status"), c.status, c.xcache, c.fwd)
			}
			e.settle()
			if got := e.get("/cc").Header.Get("X-Cache") == "HIT"; got != c.stored {
				t.Errorf("stored afterwards = %v, want %v", got, c.stored)
			}
		})
	}
}

// Issue 2 / 4: the access log carries method, host, path, status, result,
// bytes, duration, client IP, country, continent; hits only at Debug.
func TestAccessLog(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "12345")
	})
	db := testGeoDB(t)
	for _, lvl := range []zapcore.Level{zapcore.InfoLevel, zapcore.DebugLevel} {
		core, logs := observer.New(lvl)
		e := newEdge(t, o, func(c *Config, _ *Site) {
			c.Logger = zap.New(core)
			c.Geo = testResolver(t, db)
		})
		e.get("/log?q=1", "X-Forwarded-For", "81.2.69.160")
		e.settle()
		e.get("/log?q=1", "X-Forwarded-For", "81.2.69.160")
		waitFor(t, "log lines", func() bool { return logs.FilterMessage("request").Len() >= 1 })
		e.waitCounter(1, "meshcdn_edge_requests_total", "result", "hit")
		entries := logs.FilterMessage("request").All()
		want := 1
		if lvl == zapcore.DebugLevel {
			want = 2
		}
		if len(entries) != want {
			t.Fatalf("level %v: %d request lines, want %d", lvl, len(entries), want)
		}
		f := entries[0].ContextMap()
		for k, v := range map[string]any{"method": "GET", "path": "/log", "status": int64(200), "result": "miss",
			"bytes": int64(5), "client_ip": "81.2.69.160", "country": "GB", "continent": "EU", "site": "test"} {
			if f[k] != v {
				t.Errorf("field %s = %v (%T), want %v", k, f[k], f[k], v)
			}
		}
		if _, ok := f["duration"]; !ok || !strings.HasPrefix(f["host"].(string), "127.0.0.1:") {
			t.Errorf("fields %v", f)
		}
		if lvl == zapcore.DebugLevel && entries[1].Level != zapcore.DebugLevel {
			t.Errorf("hit logged at %v", entries[1].Level)
		}
	}
}
