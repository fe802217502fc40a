package edge

import (
	"io"
	"net/http"
	"testing"
)

// Query parameters are sorted by decoded name, and parameters whose names
// decode the same keep their order: ?%61=evil&a=good and ?a=good&%61=evil
// are different requests to an origin that reads the first "a".
func TestQueryDecodedNamesNotMerged(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Query().Get("a"))
	})
	e := newEdge(t, o)
	if r := e.get("/q?%61=evil&a=good"); r.body != "evil" {
		t.Fatalf("first: %q", r.body)
	}
	e.settle()
	if r := e.get("/q?a=good&%61=evil"); r.body != "good" {
		t.Errorf("?a=good&%%61=evil answered %q (%s)", r.body, r.Header.Get("X-Cache"))
	}
	e.settle()
	// Other names still sort: the order of b does not matter.
	if r := e.get("/q?a=good&b=1&%61=evil"); r.body != "good" || r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("?a=good&b=1&%%61=evil: %q %s", r.body, r.Header.Get("X-Cache"))
	}
	e.settle()
	if r := e.get("/q?b=1&a=good&%61=evil"); r.body != "good" || r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("?b=1&a=good&%%61=evil: %q %s, want the stored good", r.body, r.Header.Get("X-Cache"))
	}
}
