package edge

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
)

// Issue 9 item 18 / RFC 9111 §4.1: Accept-Language values that differ only
// in the case of their language tags (RFC 4647 §2.1) or in list whitespace
// are one variant; the origin is sent the same canonical form, so it cannot
// answer them differently. A value that is not a well-formed list is keyed
// and forwarded as it is.
func TestVaryAcceptLanguageNormalised(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%d %q", n.Add(1), r.Header["Accept-Language"])
	})
	e := newEdge(t, o)
	steps := []struct {
		al, cache, body string
	}{
		{"en-US,en;q=0.9", "MISS", `1 ["en-US,en;q=0.9"]`},
		{"EN-us, en ; Q=0.9", "HIT", `1 ["en-US,en;q=0.9"]`},
		{"en-us,\ten;q=0.9,", "HIT", `1 ["en-US,en;q=0.9"]`},
		{"en-US", "MISS", `2 ["en-US"]`},
		{"FR-ch , fr;q=0.5", "MISS", `3 ["fr-CH,fr;q=0.5"]`},
		{"fr-CH,fr;q=0.5", "HIT", `3 ["fr-CH,fr;q=0.5"]`},
		{"f r", "MISS", `4 ["f r"]`},
		{"F R", "MISS", `5 ["F R"]`},
	}
	for _, s := range steps {
		rs := e.get("/lang", "Accept-Language", s.al)
		if rs.Header.Get("X-Cache") != s.cache || rs.body != s.body {
			t.Errorf("Accept-Language %q: %s %s, want %s %s", s.al, rs.Header.Get("X-Cache"), rs.body, s.cache, s.body)
		}
		e.settle()
	}
}

// The variant key costs one allocation (the key string) whatever the Vary
// fields: the key buffer stays on the stack, also with a credential field
// beside them (whose hash allocates only when the field is present).
func TestSecondaryKeyAllocs(t *testing.T) {
	h := http.Header{
		"Accept-Encoding": {"gzip, deflate, br, zstd"},
		"Accept-Language": {"EN-us, en;q=0.9, fr-FR;q=0.8"},
	}
	vary := []string{"Accept-Encoding", "Accept-Language", "Authorization", "Cookie"}
	if n := testing.AllocsPerRun(100, func() { secondaryKey(vary, h) }); n != 1 {
		t.Errorf("secondaryKey allocates %v times, want 1", n)
	}
}
