package edge

import (
	"net/http"
	"strings"
	"testing"
)

// TestViaVersion: Via names the node only; the version is added, as a
// comment, only when configured (Config.ViaVersion), on the response and
// on the request to the origin. No other header carries it.
func TestViaVersion(t *testing.T) {
	var seen http.Header
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("ok"))
	})
	e := newEdge(t, o)
	r := e.get("/a")
	if got := r.Header.Get("Via"); got != "1.1 edge1" || strings.Contains(seen.Get("Via"), "meshcdn") {
		t.Fatalf("default Via: response %q, origin saw %q", got, seen.Get("Via"))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "meshcdn/") {
				t.Errorf("%s: %q carries a version", k, v)
			}
		}
	}

	e = newEdge(t, o, func(c *Config, _ *Site) { c.ViaVersion = "1.4.2" })
	r = e.get("/a")
	if got := r.Header.Get("Via"); got != "1.1 edge1 (meshcdn/1.4.2)" || seen.Get("Via") != "1.1 edge1 (meshcdn/1.4.2)" {
		t.Fatalf("configured Via: response %q, origin saw %q", got, seen.Get("Via"))
	}
	if r = e.get("/a"); r.Header.Get("X-Cache") != "HIT" || r.Header.Get("Via") != "1.1 edge1 (meshcdn/1.4.2)" {
		t.Fatalf("hit: %q %q", r.Header.Get("X-Cache"), r.Header.Get("Via"))
	}
	for _, bad := range []string{"1 2", "x(y)", "v\n", strings.Repeat("9", 65)} {
		if _, err := New(Config{Sites: []*Site{{Name: "s", Origin: o.url}}, Store: e.store, ViaVersion: bad}); err == nil {
			t.Errorf("ViaVersion %q accepted", bad)
		}
	}
}
