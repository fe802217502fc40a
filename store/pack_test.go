package store

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// A removed object's packed block must be freed even while the key it
// shared, or the primary key of its variants, lives on: the index and the
// variant lists must not keep views into it.
func TestPackedBlockFreedWithObject(t *testing.T) {
	for _, c := range []struct {
		name  string
		a, b  func() *Object
		which int // which of a, b is removed and must be freed
	}{
		{"shared key", func() *Object {
			return &Object{Primary: "x.example/a", Keys: []string{"shared"}, Body: make([]byte, 4096), ResponseTime: epoch, Lifetime: time.Hour}
		}, func() *Object {
			return &Object{Primary: "x.example/b", Keys: []string{"shared"}, ResponseTime: epoch, Lifetime: time.Hour}
		}, 0},
		{"variants", func() *Object {
			return &Object{Primary: "x.example/v", Vary: []string{"Accept-Encoding"}, Secondary: "gzip", Body: make([]byte, 4096), ResponseTime: epoch, Lifetime: time.Hour}
		}, func() *Object {
			return &Object{Primary: "x.example/v", Vary: []string{"Accept-Encoding"}, Secondary: "br", Body: make([]byte, 4096), ResponseTime: epoch, Lifetime: time.Hour}
		}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, clk := newTestStore(t, Config{MaxBytes: 1 << 20})
			clk.Store(epoch.UnixNano())
			freed := make(chan struct{})
			func() {
				objs := []*Object{c.a(), c.b()}
				for _, o := range objs {
					mustInsert(t, s, o)
				}
				gone := objs[c.which]
				runtime.AddCleanup(unsafe.StringData(gone.Primary), func(ch chan struct{}) { close(ch) }, freed)
				s.Delete(gone)
			}()
			s.reapAll()
			for range 10 {
				runtime.GC()
				select {
				case <-freed:
					return
				default:
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatal("the removed object's block is still reachable")
		})
	}
}

// FuzzPack: packing keeps every string, header, key and body as they were.
func FuzzPack(f *testing.F) {
	f.Add("a.example/x", "gzip", "Accept-Encoding", "Content-Type", "text/html", "k1 k2", []byte("body"))
	f.Add("", "", "", "", "", "", []byte(nil))
	f.Add("p", "", "", "X-Odd", "", "k", make([]byte, 20<<10))
	f.Fuzz(func(t *testing.T, primary, secondary, vary, name, value, keys string, body []byte) {
		o := &Object{Primary: primary, Secondary: secondary, Body: body}
		if vary != "" {
			o.Vary = []string{vary, strings.ToUpper(vary)}
		}
		if name != "" {
			o.Header = http.Header{name: {value, value + "2"}, "Etag": {value}, "Empty": {}}
		}
		if keys != "" {
			o.Keys = strings.Fields(keys)
		}
		want := &Object{Primary: strings.Clone(primary), Secondary: strings.Clone(secondary), Vary: slices.Clone(o.Vary),
			Header: o.Header.Clone(), Keys: slices.Clone(o.Keys), Body: append([]byte(nil), body...)}
		if body == nil {
			want.Body = nil
		}
		pk := pack(o)
		if o.Primary != want.Primary || o.Secondary != want.Secondary || !reflect.DeepEqual(o.Vary, want.Vary) ||
			!reflect.DeepEqual(o.Header, want.Header) || !reflect.DeepEqual(o.Keys, want.Keys) || string(o.Body) != string(want.Body) {
			t.Fatalf("packed %+v, want %+v", o, want)
		}
		if (o.Body == nil) != (body == nil) {
			t.Fatalf("body nil %v, was %v", o.Body == nil, body == nil)
		}
		if n, strs, fields := packCounts(o); pk.block < n || pk.slab < strs || pk.fields != fields {
			t.Fatalf("packed %+v, counts %d %d %d", pk, n, strs, fields)
		}
	})
}

// Hits read packed objects (URL key, header views, body in the block)
// while other goroutines insert (evicting: the budget is full), purge keys
// tagging thousands of objects, and remove URLs: every object a hit gets
// must be whole and its own. Run with -race.
func TestHitsDuringPurgesAndEvictions(t *testing.T) {
	s, clk := newTestStore(t, Config{MaxBytes: 2 << 20, MaxVariants: 4})
	const urls = 3000
	key := func(i int) string { return "x.example/o/" + strconv.Itoa(i) }
	obj := func(i, gen int) *Object {
		o := mk(clk, key(i), 64+i%200, "own/"+strconv.Itoa(i), "g/"+strconv.Itoa(i%3))
		o.Header["Etag"] = []string{strconv.Itoa(i) + "." + strconv.Itoa(gen)}
		for j := range o.Body {
			o.Body[j] = byte(i)
		}
		return o
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	check := func(i int, o *Object) error {
		etag, _, _ := strings.Cut(o.Header["Etag"][0], ".")
		switch {
		case o.Primary != key(i) || etag != strconv.Itoa(i) || o.Header["Content-Type"][0] != "text/plain":
			return fmt.Errorf("lookup %q got %q etag %q", key(i), o.Primary, o.Header["Etag"])
		case len(o.Body) != 64+i%200 || bytes.Count(o.Body, []byte{byte(i)}) != len(o.Body):
			return fmt.Errorf("lookup %q: body of %d bytes not its own", key(i), len(o.Body))
		case len(o.Keys) != 2 || o.Keys[0] != "own/"+strconv.Itoa(i):
			return fmt.Errorf("lookup %q: keys %q", key(i), o.Keys)
		}
		return nil
	}
	errs := make(chan error, 2)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := r; ; n += 7 {
				select {
				case <-done:
					return
				default:
				}
				i := n % urls
				if o, _ := s.Lookup(key(i), noVary); o != nil {
					if err := check(i, o); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for gen := range 4 {
		for i := range urls {
			if err := s.Insert(obj(i, gen), s.Fence()); err != nil {
				t.Fatal(err)
			}
			switch {
			case i%1000 == 999:
				s.Purge(Purge{Keys: []string{"g/" + strconv.Itoa(i%3)}})
			case i%97 == 0:
				s.Remove(key(i / 2))
			}
		}
		s.reapAll()
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if st := s.Stats(); st.Evictions == 0 || st.Purged == 0 || st.Bytes > st.MaxBytes {
		t.Fatalf("no eviction or purge happened, or over budget: %+v", st)
	}
	checkInvariants(t, s)
}
