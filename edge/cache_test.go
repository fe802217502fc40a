package edge

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/meshcdn/meshcdn/store"
)

// tier is a cache tier in front of a real store that is not a
// *store.Store: it counts what the proxy asks of it.
type tier struct {
	*store.Store
	lookups, inserts, purges atomic.Int64
}

func (c *tier) Lookup(primary string, secondary func([]string) string) (*store.Object, bool) {
	c.lookups.Add(1)
	return c.Store.Lookup(primary, secondary)
}

func (c *tier) Insert(o *store.Object, f store.Fence) error {
	c.inserts.Add(1)
	return c.Store.Insert(o, f)
}

func (c *tier) Purge(p store.Purge) int {
	c.purges.Add(1)
	return c.Store.Purge(p)
}

// The proxy reaches its store only through Cache: another tier serves
// misses, hits and purges without the edge knowing its type.
func TestProxyThroughCacheInterface(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "k1")
		io.WriteString(w, "body")
	})
	st := store.New(store.Config{MaxBytes: 1 << 20})
	t.Cleanup(st.Close)
	c := &tier{Store: st}
	e := newEdge(t, o, func(cfg *Config, _ *Site) { cfg.Store = c })
	if r := e.get("/a"); r.Header.Get("X-Cache") != "MISS" || r.body != "body" {
		t.Fatalf("first: %s %q", r.Header.Get("X-Cache"), r.body)
	}
	if r := e.get("/a"); r.Header.Get("X-Cache") != "HIT" || r.body != "body" {
		t.Fatalf("second: %s %q", r.Header.Get("X-Cache"), r.body)
	}
	if c.lookups.Load() < 2 || c.inserts.Load() != 1 {
		t.Fatalf("tier saw %d lookups, %d inserts", c.lookups.Load(), c.inserts.Load())
	}
	if n := e.proxy.purge; n == nil {
		t.Fatal("no purge path")
	}
	if _, err := e.proxy.purge(t.Context(), store.Purge{Keys: []string{"k1"}}); err != nil {
		t.Fatal(err)
	}
	if c.purges.Load() != 1 || st.Stats().Objects != 0 {
		t.Fatalf("purge through the tier: %d calls, %d objects left", c.purges.Load(), st.Stats().Objects)
	}
	if r := e.get("/a"); r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("after purge: %s", r.Header.Get("X-Cache"))
	}
}

func TestNewRequiresStore(t *testing.T) {
	sites := []*Site{{Origin: mustURL(t, "http://127.0.0.1:1")}}
	for _, c := range []Cache{nil, (*store.Store)(nil)} {
		if _, err := New(Config{Store: c, Sites: sites}); err == nil {
			t.Errorf("New with store %#v: no error", c)
		}
	}
}
