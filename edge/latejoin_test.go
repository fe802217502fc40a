package edge

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/meshcdn/meshcdn/store"
)

// A request that arrives after a purge must not take the response of a
// fetch that began before it and that the purge fenced: the origin may
// have answered with what the purge removed. (The requests that were
// already waiting may take it: they began before the purge.)
func TestNoLateJoinAfterMatchingPurge(t *testing.T) {
	g := newGate()
	t.Cleanup(g.release)
	var ver, calls atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		v := ver.Load()
		if calls.Add(1) == 1 {
			g.wait(r.Context()) // the first fetch has read v0, then stalls
		}
		w.Header().Set("Surrogate-Key", "k")
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, v)
	})
	e := newEdge(t, o)
	first := make(chan resp, 1)
	go func() { first <- e.get("/late") }()
	<-g.entered
	ver.Store(1)
	e.store.Purge(store.Purge{Keys: []string{"k"}}) // the data changed: purged
	second := make(chan resp, 1)
	go func() { second <- e.get("/late") }()
	waitFor(t, "the second request to wait on the first's fetch", func() bool {
		e.proxy.flights.mu.Lock()
		defer e.proxy.flights.mu.Unlock()
		for _, f := range e.proxy.flights.groups {
			for _, fl := range f {
				fl.body.mu.Lock()
				n := len(fl.body.readers)
				fl.body.mu.Unlock()
				if n >= 2 {
					return true
				}
			}
		}
		return false
	})
	g.release()
	if r := <-first; r.body != "0" {
		t.Fatalf("first: %q", r.body)
	}
	if r := <-second; r.body != "1" {
		t.Fatalf("a request that began after the purge got %q from a fetch the purge fenced, want 1", r.body)
	}
}
