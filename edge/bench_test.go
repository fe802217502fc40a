package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// benchOrigin answers like the shared benchmark's origin: 1 KiB bodies,
// cacheable for an hour, tagged with a surrogate key.
func benchOrigin(b *testing.B) *origin {
	body := strings.Repeat("x", 1024)
	return newOrigin(b, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Surrogate-Control", "max-age=3600")
		h.Set("Surrogate-Key", "obj/"+r.URL.Path)
		h.Set("X-Version", "1")
		io.WriteString(w, body)
	})
}

// BenchmarkHit: 1 KiB cache hits through the real proxy on a loopback
// socket, keep-alive clients in parallel.
func BenchmarkHit(b *testing.B) {
	o := benchOrigin(b)
	e := newEdge(b, o)
	const objects = 1000
	for i := range objects {
		e.get("/obj/" + strconv.Itoa(i) + "?size=1024")
	}
	if o.hits.Load() != objects {
		b.Fatalf("warm-up: %d origin requests", o.hits.Load())
	}
	paths := make([]string, objects)
	for i := range paths {
		paths[i] = e.srv.URL + "/obj/" + strconv.Itoa(i) + "?size=1024"
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		buf := make([]byte, 4096)
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, paths[i%objects], nil)
			i += 7
			res, err := tr.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := res.Body.Read(buf); err != nil {
					break
				}
			}
			res.Body.Close()
			if res.StatusCode != 200 || res.Header.Get("X-Cache") != "HIT" {
				b.Errorf("status %d X-Cache %q", res.StatusCode, res.Header.Get("X-Cache"))
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if o.hits.Load() != objects {
		b.Fatalf("origin requests during the benchmark: %d", o.hits.Load()-objects)
	}
}

// nullWriter is a reusable ResponseWriter, so that BenchmarkHitHandler
// counts the proxy's own allocations only.
type nullWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) WriteHeader(code int)        { w.status = code }
func (w *nullWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkHitHandler: one 1 KiB hit through ServeHTTP, no sockets; with
// the geo lookup (embedded database, a public client address) as
// "meshcdn serve" runs it.
func BenchmarkHitHandler(b *testing.B) {
	b.Run("geo=off", func(b *testing.B) { benchHitHandler(b, nil) })
	b.Run("geo=embedded", func(b *testing.B) {
		r, err := geo.NewResolver(geo.ResolverConfig{PollInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		benchHitHandler(b, r)
	})
}

func benchHitHandler(b *testing.B, g GeoResolver) {
	o := benchOrigin(b)
	st := store.New(store.Config{MaxBytes: 64 << 20})
	defer st.Close()
	p, err := New(Config{Sites: []*Site{{Origin: o.url}}, Store: st, NodeName: "bench", Geo: g})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	req := httptest.NewRequest(http.MethodGet, "http://example.com/obj/1?size=1024", nil)
	req.RemoteAddr = "81.2.69.160:1234"
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("warm-up: %d", rec.Code)
	}
	w := &nullWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.n = 0
		p.ServeHTTP(w, req)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if w.status != 200 || w.n != 1024 || w.h.Get("X-Cache") != "HIT" {
		b.Fatalf("status %d, %d bytes, X-Cache %q", w.status, w.n, w.h.Get("X-Cache"))
	}
}

// cpuTime is the CPU time this process used (user + system), in ns: a
// per-op figure that other load on the machine inflates far less than
// wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkSecondaryKey: the variant key of a browser request under the
// Vary fields origins commonly send (the hit path computes it once per
// lookup of a URL with variants).
func BenchmarkSecondaryKey(b *testing.B) {
	h := http.Header{
		"Accept-Encoding": {"gzip, deflate, br, zstd"},
		"Accept-Language": {"en-US,en;q=0.9,fr-FR;q=0.8,fr;q=0.7"},
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
	}
	for _, vary := range [][]string{{"Accept-Encoding"}, {"Accept-Encoding", "Accept-Language"}} {
		b.Run(strings.Join(vary, "+"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				secondaryKey(vary, h)
			}
		})
	}
}

// BenchmarkHitVary: a hit on a URL whose response varies on
// Accept-Encoding and Accept-Language, through ServeHTTP (no sockets).
func BenchmarkHitVary(b *testing.B) {
	body := strings.Repeat("x", 1024)
	o := newOrigin(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Vary", "Accept-Encoding, Accept-Language")
		io.WriteString(w, body)
	})
	st := store.New(store.Config{MaxBytes: 64 << 20})
	defer st.Close()
	p, err := New(Config{Sites: []*Site{{Origin: o.url}}, Store: st, NodeName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	req := httptest.NewRequest(http.MethodGet, "http://example.com/obj/1", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9,fr-FR;q=0.8,fr;q=0.7")
	p.ServeHTTP(httptest.NewRecorder(), req)
	for p.fetching.Load() != 0 {
		runtime.Gosched()
	}
	w := &nullWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.n = 0
		p.ServeHTTP(w, req)
	}
	b.StopTimer()
	if w.status != 200 || w.n != 1024 || w.h.Get("X-Cache") != "HIT" {
		b.Fatalf("status %d, %d bytes, X-Cache %q", w.status, w.n, w.h.Get("X-Cache"))
	}
}
