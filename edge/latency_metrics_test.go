package edge

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// TestLatencyHistogram: durations land in the bucket whose bound is the
// first at or above them; the export is cumulative with the sum in
// seconds; a site's histograms are kept by name (a reload continues them).
func TestLatencyHistogram(t *testing.T) {
	c := newLatencyCollector()
	h := c.forSite("s")
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 101 * time.Microsecond, 3 * time.Millisecond, time.Minute, -time.Second} {
		h[resHit].observe(d)
	}
	if c.forSite("s") != h {
		t.Fatal("a site's histograms are not kept by name")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("%v %v", mfs, err)
	}
	for _, m := range mfs[0].GetMetric() {
		if m.GetLabel()[0].GetValue() != "hit" && m.GetLabel()[1].GetValue() != "hit" {
			if m.GetHistogram().GetSampleCount() != 0 {
				t.Errorf("%v: observations in another result", m.GetLabel())
			}
			continue
		}
		hg := m.GetHistogram()
		want := map[float64]uint64{.0001: 3, .00025: 4, .0025: 4, .005: 5, 10: 5}
		for _, b := range hg.GetBucket() {
			if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
				t.Errorf("bucket %v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
		}
		wantSum := (50*time.Microsecond + 100*time.Microsecond + 101*time.Microsecond + 3*time.Millisecond + time.Minute).Seconds()
		if hg.GetSampleCount() != 6 || math.Abs(hg.GetSampleSum()-wantSum) > 1e-9 {
			t.Errorf("count %d sum %v, want 6 and %v", hg.GetSampleCount(), hg.GetSampleSum(), wantSum)
		}
	}
}

// BenchmarkLatencyObserve: the cost added to every request.
func BenchmarkLatencyObserve(b *testing.B) {
	h := newLatencyCollector().forSite("s")
	start := time.Now()
	for b.Loop() {
		h[resHit].observe(time.Since(start) % time.Millisecond)
	}
}
