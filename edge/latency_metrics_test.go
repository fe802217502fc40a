package edge

import (
	"net/http"
	"testing"
)

// TestLatencyAndOriginMetricsBySite: every request's time is observed by
// site and cache result; origin fetches and their time are counted by
// site, origin responses by status class.
func TestLatencyAndOriginMetricsBySite(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("ok"))
	})
	e := newEdge(t, o)
	e.get("/a")                 // miss
	e.get("/a")                 // hit
	e.get("/a")                 // hit
	e.do(http.MethodPost, "/p") // pass
	e.get("/bad")               // miss, 502 from the origin
	e.waitCounter(2, "meshcdn_edge_request_duration_seconds", "site", "test", "result", "hit")
	e.waitCounter(2, "meshcdn_edge_request_duration_seconds", "site", "test", "result", "miss")
	e.waitCounter(1, "meshcdn_edge_request_duration_seconds", "site", "test", "result", "pass")
	e.waitCounter(3, "meshcdn_edge_origin_fetch_duration_seconds", "site", "test")
	e.waitCounter(2, "meshcdn_edge_origin_fetches_total", "site", "test", "outcome", "ok")
	e.waitCounter(1, "meshcdn_edge_origin_fetches_total", "site", "test", "outcome", "server_error")
	e.waitCounter(2, "meshcdn_edge_origin_responses_total", "site", "test", "class", "2xx")
	e.waitCounter(1, "meshcdn_edge_origin_responses_total", "site", "test", "class", "5xx")
	if n := e.counter("meshcdn_edge_origin_responses_total", "site", "test", "class", "4xx"); n != 0 {
		t.Errorf("4xx responses: %v", n)
	}
}
