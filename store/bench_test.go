package store

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchObject is a 1 KiB response like the edge stores.
func benchObject(primary string, now time.Time, body []byte, hdr http.Header, keys ...string) *Object {
	return &Object{Primary: primary, Status: 200, Header: hdr, Body: body, Keys: keys,
		RequestTime: now, ResponseTime: now, Lifetime: time.Hour}
}

func benchHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "Etag": {`"abc"`}, "Last-Modified": {"Thu, 01 Jan 2026 00:00:00 GMT"}}
}

// BenchmarkLookupHit: parallel hits on 100 000 stored objects.
func BenchmarkLookupHit(b *testing.B) {
	for _, vary := range []bool{false, true} {
		b.Run(fmt.Sprintf("vary=%v", vary), func(b *testing.B) {
			s := New(Config{MaxBytes: 1 << 30})
			defer s.Close()
			const n = 100000
			now := time.Now()
			body, hdr := make([]byte, 1024), benchHeader()
			keys := make([]string, n)
			for i := range keys {
				keys[i] = KeyFor("api.example.com", "/v1/users/"+strconv.Itoa(i), "company=42")
				if vary {
					for _, sk := range []string{"br", "gzip", ""} {
						o := benchObject(keys[i], now, body, hdr, "user/"+strconv.Itoa(i))
						o.Vary, o.Secondary = []string{"Accept-Encoding"}, sk
						mustInsert(b, s, o)
					}
				} else {
					mustInsert(b, s, benchObject(keys[i], now, body, hdr, "user/"+strconv.Itoa(i)))
				}
			}
			secondary := func([]string) string { return "gzip" }
			var goroutine atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(goroutine.Add(1)) * 7919
				for pb.Next() {
					i++
					if o, _ := s.Lookup(keys[i%n], secondary); o == nil {
						b.Error("miss")
						return
					}
				}
			})
		})
	}
}

// BenchmarkLookupMiss: parallel lookups of keys that are not stored.
func BenchmarkLookupMiss(b *testing.B) {
	s := New(Config{MaxBytes: 1 << 30})
	defer s.Close()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = KeyFor("api.example.com", "/missing/"+strconv.Itoa(i), "")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if o, _ := s.Lookup(keys[i%len(keys)], noVary); o != nil {
				b.Error("hit")
				return
			}
		}
	})
}

// BenchmarkInsert: distinct 1 KiB objects with two surrogate keys into a
// full 64 MiB store, so every insert also evicts. Includes building the
// Object (its primary and key strings).
func BenchmarkInsert(b *testing.B) {
	s := New(Config{MaxBytes: 64 << 20})
	defer s.Close()
	now := time.Now()
	body, hdr := make([]byte, 1024), benchHeader()
	for i := range 64 << 20 / 1024 {
		mustInsert(b, s, benchObject("warm/"+strconv.Itoa(i), now, body, hdr, "w"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		is := strconv.Itoa(i)
		o := benchObject("api.example.com/v1/users/"+is, now, body, hdr, "user/"+is, "company/"+strconv.Itoa(i%1000))
		if err := s.Insert(o, s.Fence()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := s.Stats(); st.Bytes > st.MaxBytes {
		b.Fatalf("over budget: %+v", st)
	}
}

// BenchmarkPurgeKey100k: one purge of a key that tags 100 000 objects (each
// also tagged with its own key and one of 100 company keys, which the purge
// unlinks too), among 100 000 other objects. One op = one Purge call.
//
// "purge" is the latency of the Purge call; "purge+reap" adds the deferred
// deletion of the emptied map entries (done in batches by the background
// goroutine), i.e. the whole work.
func BenchmarkPurgeKey100k(b *testing.B) {
	for _, reap := range []bool{false, true} {
		name := "purge"
		if reap {
			name = "purge+reap"
		}
		b.Run(name, func(b *testing.B) {
			s := newStore(Config{MaxBytes: 2 << 30}, nil) // no background goroutine: reaping is explicit
			now := time.Now()
			body, hdr := make([]byte, 64), benchHeader()
			for i := range 100000 {
				mustInsert(b, s, benchObject("other/"+strconv.Itoa(i), now, body, hdr, "o/"+strconv.Itoa(i), "company/"+strconv.Itoa(i%100)))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for i := range 100000 {
					is := strconv.Itoa(i)
					mustInsert(b, s, benchObject("hot/"+is, now, body, hdr, "user/"+is, "company/"+strconv.Itoa(i%100), "hot"))
				}
				s.reapAll()
				runtime.GC() // the setup's garbage is not the purge's cost
				b.StartTimer()
				if n := s.Purge(Purge{Keys: []string{"hot"}}); n != 100000 {
					b.Fatalf("purged %d", n)
				}
				if reap {
					s.reapAll()
				}
			}
			b.StopTimer()
			if st := s.Stats(); st.Objects != 100000 {
				b.Fatalf("left %+v", st)
			}
		})
	}
}

// BenchmarkPurgeSingleKey: purge one key tagging one object among 100 000
// objects (each with its own key and a shared company key).
func BenchmarkPurgeSingleKey(b *testing.B) {
	s := New(Config{MaxBytes: 1 << 30})
	defer s.Close()
	const n = 100000
	now := time.Now()
	body, hdr := make([]byte, 1024), benchHeader()
	keys := make([]string, n)
	insert := func(i int) {
		mustInsert(b, s, benchObject("api.example.com/u/"+strconv.Itoa(i), now, body, hdr, keys[i], "company/"+strconv.Itoa(i%100)))
	}
	for i := range keys {
		keys[i] = "user/" + strconv.Itoa(i)
		insert(i)
	}
	const batch = 1024
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 && i > 0 {
			b.StopTimer()
			for j := i - batch; j < i; j++ {
				insert(j % n)
			}
			b.StartTimer()
		}
		if got := s.Purge(Purge{Keys: []string{keys[i%n]}}); got != 1 {
			b.Fatalf("purged %d", got)
		}
	}
}

// BenchmarkKeyFor: the primary key of a request, per query shape.
func BenchmarkKeyFor(b *testing.B) {
	for _, c := range []struct{ name, q string }{
		{"none", ""},
		{"one", "size=1024"},
		{"sorted", "company=42&lang=en&page=2&user=9"},
		{"unsorted", "user=9&page=2&lang=en&company=42"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = KeyFor("api.example.com", "/v1/users/9", c.q)
			}
		})
	}
}

// edgeLikeObject is an object as the edge builds one from a parsed
// response: every header value and key its own string (net/textproto
// allocates each), ~200 B of headers, two surrogate keys (its own and
// one shared by group).
func edgeLikeObject(i, group int, now time.Time, body []byte) *Object {
	is := strconv.Itoa(i)
	own, shared := "o/"+is, "o/g"+strconv.Itoa(group)
	hdr := http.Header{
		"Content-Type":   {strings.Clone("application/octet-stream")},
		"Cache-Control":  {strings.Clone("public, max-age=86400")},
		"Etag":           {`"o-` + is + `"`},
		"Last-Modified":  {strings.Clone("Thu, 01 Jan 2026 00:00:00 GMT")},
		"Date":           {strings.Clone("Fri, 04 Dec 2026 16:00:00 GMT")},
		"Surrogate-Key":  {own + " " + shared},
		"Content-Length": {strconv.Itoa(len(body))},
	}
	return &Object{Primary: "bench.example/o/" + is + "?size=100", Status: 200, Header: hdr,
		Body: append([]byte(nil), body...), Keys: []string{strings.Clone(own), strings.Clone(shared)},
		RequestTime: now, ResponseTime: now, Lifetime: time.Hour}
}

func heapObjectsLive() (objects, bytes, scan uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/objects:objects"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

// BenchmarkHeapPerObject: what 100 000 stored edge-like objects (100 B
// bodies) cost the Go heap: heap objects and live bytes per stored object
// (heap-objs/obj, heap-B/obj), the scannable heap bytes per object, which
// the collector must read on every cycle (scan-B/obj: the runtime's
// /gc/scan/heap, bytes of objects that hold pointers up to their last
// pointer word; unlike the CPU figure it does not vary with the machine's
// load), the store's own count (store-B/obj), and one
// full garbage collection with them stored (one op = one runtime.GC, the
// mark work that grows with the store; gc-cpu-ms/op is its CPU time).
func BenchmarkHeapPerObject(b *testing.B) {
	const n = 100000
	s := newStore(Config{MaxBytes: 1 << 30}, nil)
	now := time.Now()
	body := make([]byte, 100)
	o0, b0, sc0 := heapObjectsLive()
	for i := range n {
		mustInsert(b, s, edgeLikeObject(i, i/1000, now, body))
	}
	s.reapAll()
	o1, b1, sc1 := heapObjectsLive()
	gcCPU := []metrics.Sample{{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}, {Name: "/cpu/classes/gc/pause:cpu-seconds"}}
	sum := func() float64 {
		metrics.Read(gcCPU)
		t := 0.0
		for _, m := range gcCPU {
			t += m.Value.Float64()
		}
		return t
	}
	b.ResetTimer()
	cpu0 := sum()
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric((sum()-cpu0)*1e3/float64(b.N), "gc-cpu-ms/op") // mark and pause CPU: less noisy than wall time
	b.ReportMetric(float64(o1-o0)/n, "heap-objs/obj")
	b.ReportMetric(float64(b1-b0)/n, "heap-B/obj")
	b.ReportMetric((float64(sc1)-float64(sc0))/n, "scan-B/obj")
	b.ReportMetric(float64(s.Stats().Bytes)/n, "store-B/obj")
	runtime.KeepAlive(s)
}

// BenchmarkPurgeKey: one purge of a key tagging 1, 1000 or 100 000
// edge-like objects among 100 000 others, through the background reap
// (purge+reap: the whole work). One op = one Purge call and reapAll.
func BenchmarkPurgeKey(b *testing.B) {
	for _, k := range []int{1, 1000, 100000} {
		b.Run("objects="+strconv.Itoa(k), func(b *testing.B) {
			s := newStore(Config{MaxBytes: 2 << 30}, nil)
			now := time.Now()
			body := make([]byte, 100)
			for i := range 100000 {
				mustInsert(b, s, edgeLikeObject(i, 1+i/1000, now, body))
			}
			next := 100000
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for range k {
					mustInsert(b, s, edgeLikeObject(next, 0, now, body)) // group 0: the purged key
					next++
				}
				s.reapAll()
				if k > 1000 {
					runtime.GC() // the setup's garbage is not the purge's cost
				}
				b.StartTimer()
				if got := s.Purge(Purge{Keys: []string{"o/g0"}}); got != k {
					b.Fatalf("purged %d, want %d", got, k)
				}
				s.reapAll()
			}
		})
	}
}

// BenchmarkEvict: edge-like objects into a store whose budget is full, so
// every insert evicts one object (S3-FIFO over a 64 MiB budget). One op =
// one Insert and its eviction.
func BenchmarkEvict(b *testing.B) {
	s := newStore(Config{MaxBytes: 64 << 20}, nil)
	now := time.Now()
	body := make([]byte, 100)
	i := 0
	for s.Stats().Evictions == 0 {
		mustInsert(b, s, edgeLikeObject(i, i/1000, now, body))
		i++
	}
	objs := make([]*Object, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(objs) == 0 {
			b.StopTimer()
			for range cap(objs) {
				objs = append(objs, edgeLikeObject(i, i/1000, now, body))
				i++
			}
			b.StartTimer()
		}
		o := objs[len(objs)-1]
		objs = objs[:len(objs)-1]
		if err := s.Insert(o, s.Fence()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := s.Stats(); st.Bytes > st.MaxBytes || st.Evictions == 0 {
		b.Fatalf("budget: %+v", st)
	}
}
