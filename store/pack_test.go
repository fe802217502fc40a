package store

import (
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
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
	f.Add("p", "", "", "X-Odd", "", "k", make([]byte, packBodyMax+1))
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
