package edge

import (
	"strings"
	"testing"

	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// The Host's port: only the default port of the scheme the request came
// with is dropped, and the origin gets the Host the key was made from.
func TestHostDefaultPortOfScheme(t *testing.T) {
	o := newOrigin(t, headerDump)
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.PurgeAllow = loopback })
	steps := []struct{ host, cache, origin string }{
		{"site.example:443", "MISS", "site.example:443"}, // plain HTTP: :443 is not the default
		{"site.example", "MISS", "site.example"},
		{"Site.Example:80", "HIT", "site.example"},
		{"site.example:", "HIT", "site.example"},
		{"SITE.example:443", "HIT", "site.example:443"},
		{"site.example:8080", "MISS", "site.example:8080"},
	}
	for _, s := range steps {
		r := e.get("/h", "Host", s.host)
		e.settle()
		if r.Header.Get("X-Cache") != s.cache || !strings.HasPrefix(r.body, "Host: "+s.origin+"\n") {
			t.Errorf("Host %q: %s, origin saw %q; want %s, %q", s.host, r.Header.Get("X-Cache"), strings.SplitN(r.body, "\n", 2)[0], s.cache, s.origin)
		}
		if got := dumped(r.body, "X-Forwarded-Host"); len(got) != 1 || got[0] != s.origin {
			t.Errorf("Host %q: X-Forwarded-Host %q, want %q", s.host, got, s.origin)
		}
	}
	// The URL purges match the same way.
	if n := e.store.Purge(store.Purge{URLs: []string{store.KeyFor(store.NormalHost("http", "site.example:443"), "/h", "")}}); n != 1 {
		t.Errorf("purge of http://site.example:443/h removed %d objects, want 1", n)
	}
	if r := e.get("/h", "Host", "site.example:80"); r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("site.example:80 after purging site.example:443: %s, want HIT", r.Header.Get("X-Cache"))
	}
	// PURGE on the edge listener keys its Host the same way.
	if r := e.do("PURGE", "/h", "Host", "SITE.example:80"); r.StatusCode != 200 || !strings.Contains(r.body, `"purged":1`) {
		t.Errorf("PURGE with Host SITE.example:80: %d %s", r.StatusCode, r.body)
	}
	if r := e.get("/h", "Host", "site.example"); r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("site.example after its PURGE: %s, want MISS", r.Header.Get("X-Cache"))
	}
}

// Behind a trusted TLS-terminating proxy the request came with https:
// there :443 is the default port and :80 is not.
func TestHostDefaultPortBehindTLSProxy(t *testing.T) {
	r, err := geo.NewResolver(geo.ResolverConfig{TrustedProxies: loopback, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	o := newOrigin(t, headerDump)
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Geo = r })
	for _, s := range []struct{ host, cache, origin string }{
		{"site.example:443", "MISS", "site.example"},
		{"site.example", "HIT", "site.example"},
		{"site.example:80", "MISS", "site.example:80"},
	} {
		res := e.get("/h", "Host", s.host, "X-Forwarded-Proto", "https")
		e.settle()
		if res.Header.Get("X-Cache") != s.cache || !strings.HasPrefix(res.body, "Host: "+s.origin+"\n") {
			t.Errorf("Host %q: %s, origin saw %q; want %s, %q", s.host, res.Header.Get("X-Cache"), strings.SplitN(res.body, "\n", 2)[0], s.cache, s.origin)
		}
	}
}
