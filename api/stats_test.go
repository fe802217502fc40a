package api

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/edge"
)

// TestStatsRates: /stats reports the last minute's traffic of the edge
// registered in the same registry: requests/s, hit ratio (stale counts as
// a hit), origin offload, store fill and the p99 time to answer a hit.
func TestStatsRates(t *testing.T) {
	e := newEnv(t, Config{AllowNoToken: true})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	}))
	t.Cleanup(origin.Close)
	u, _ := url.Parse(origin.URL)
	p, err := edge.New(edge.Config{Sites: []*edge.Site{{Name: "s", Origin: u}}, Store: e.st, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	for i := 0; i < 4; i++ { // a miss, then three hits
		resp, err := http.Get(front.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	h := e.handler(t)
	h.rates.minRead = 0
	var st Stats
	getJSON(t, e, "/stats", &st)
	r := st.Rates
	if st.Objects != 1 || st.Fill <= 0 || st.Fill != float64(st.Bytes)/float64(st.MaxBytes) {
		t.Fatalf("store: %+v", st)
	}
	if r.RequestsPerSec <= 0 || r.HitRatio == nil || *r.HitRatio != 0.75 || r.OriginOffload == nil || *r.OriginOffload != 0.75 ||
		r.P99HitMS == nil || *r.P99HitMS <= 0 {
		t.Fatalf("rates: %+v (hit ratio %v, offload %v, p99 %v)", r, deref(r.HitRatio), deref(r.OriginOffload), deref(r.P99HitMS))
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestRatesBetween: the rates of two readings, and the quantile estimated
// as histogram_quantile does.
func TestRatesBetween(t *testing.T) {
	t0 := time.Unix(100, 0)
	inf := math.Inf(1)
	a := sample{at: t0, hits: 10, others: 10, fetches: 10, accepted: 1,
		hitBuckets: []bucket{{0.001, 5}, {0.01, 10}, {inf, 10}}}
	b := sample{at: t0.Add(10 * time.Second), hits: 110, others: 10, fetches: 15, accepted: 21, applied: 5,
		hitBuckets: []bucket{{0.001, 5}, {0.01, 110}, {inf, 110}}}
	r := ratesBetween(a, b)
	if r.WindowSeconds != 10 || r.RequestsPerSec != 10 || *r.HitRatio != 1 || *r.OriginOffload != 0.95 ||
		r.PurgesAcceptedPerSec != 2 || r.PurgesAppliedPerSec != 0.5 {
		t.Fatalf("%+v", r)
	}
	// 100 new hits, all in (1ms, 10ms]: p99 = 1 + 9*99/100 ms.
	if want := 1 + 9*0.99; math.Abs(*r.P99HitMS-want) > 1e-9 {
		t.Fatalf("p99 = %v, want %v", *r.P99HitMS, want)
	}
	if r := ratesBetween(b, b); r.HitRatio != nil || r.P99HitMS != nil {
		t.Fatalf("no time, no rates: %+v", r)
	}
	if r := ratesBetween(a, sample{at: t0.Add(time.Second), hits: 10, others: 10, hitBuckets: a.hitBuckets}); r.HitRatio != nil || r.P99HitMS != nil || r.RequestsPerSec != 0 {
		t.Fatalf("no requests: %+v", r)
	}
}

// TestClusterStats: any node gathers every member's /stats; a member
// whose admin listener does not answer is named.
func TestClusterStats(t *testing.T) {
	ac := startAdminCluster(t, 3, Config{AllowNoToken: true})
	var cs ClusterStats
	getJSON(t, ac.envs[2], "/cluster/stats", &cs)
	if cs.Self != "node-02" || len(cs.Members) != 3 {
		t.Fatalf("%+v", cs)
	}
	for i, m := range cs.Members {
		if !m.Answered() || m.Stats == nil || m.Stats.Node != m.Name || m.Stats.Region != m.Region || m.Stats.MaxBytes == 0 {
			t.Fatalf("member %d: %+v %+v", i, m, m.Stats)
		}
	}
	ac.srvs[0].Close()
	cs = ClusterStats{}
	getJSON(t, ac.envs[2], "/cluster/stats", &cs)
	if m := cs.Members[0]; m.Name != "node-00" || m.Answered() || m.Stats != nil {
		t.Fatalf("node 0 should be named as not answering: %+v", m)
	}
}

// TestGatherBounded: a member whose admin address accepts connections but
// never answers does not hold the answer beyond GatherTimeout: it is named
// as not answering, the others are there.
func TestGatherBounded(t *testing.T) {
	ac := startAdminCluster(t, 3, Config{AllowNoToken: true, GatherTimeout: 300 * time.Millisecond}, 1)
	var cs ClusterStats
	getJSON(t, ac.envs[0], "/cluster/stats", &cs)
	if len(cs.Members) != 3 || cs.Members[1].Answered() || cs.Members[1].Stats != nil ||
		!cs.Members[0].Answered() || !cs.Members[2].Answered() {
		t.Fatalf("%+v", cs.Members)
	}
	var cp ClusterPurges
	getJSON(t, ac.envs[2], "/cluster/purges", &cp)
	if cp.Members[1].Answered() || !cp.Members[0].Answered() {
		t.Fatalf("%+v", cp.Members)
	}
}
