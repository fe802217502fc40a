package api

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Rates over the last minute, computed from counters sampled from the
// node's own metrics registry (the numbers of /metrics) at most every
// sampleEvery and kept in a small ring: nothing is counted per request for
// them. They cover the span from the oldest sample of the last window to
// now (WindowSeconds; longer when nobody asked for a while, 0 before there
// are two samples).
const (
	rateWindow  = time.Minute
	sampleEvery = 5 * time.Second
	ringSamples = int(rateWindow/sampleEvery) + 2
)

// Rates is the rates part of GET /stats.
type Rates struct {
	WindowSeconds  float64 `json:"window_seconds"`
	RequestsPerSec float64 `json:"requests_per_sec"` // hit, miss, pass, stale (not synthetic answers)
	// HitRatio: (hit + stale) / requests; nil without requests.
	HitRatio *float64 `json:"hit_ratio"`
	// OriginOffload: 1 - origin fetches / requests (0…1); nil without requests.
	OriginOffload *float64 `json:"origin_offload"`
	// P99HitMS: 99th percentile of the time to answer hits and stale hits
	// (from meshcdn_edge_request_duration_seconds); nil without hits.
	P99HitMS             *float64 `json:"p99_hit_ms"`
	PurgesAcceptedPerSec float64  `json:"purges_accepted_per_sec"`
	PurgesAppliedPerSec  float64  `json:"purges_applied_per_sec"`
}

// sample is one reading of the counters.
type sample struct {
	at                time.Time
	hits, others      float64 // hit+stale; miss+pass
	fetches           float64
	accepted, applied float64
	hitBuckets        []bucket // cumulative, by upper bound, summed over sites
}

type bucket struct {
	le    float64
	count float64
}

type sampler struct {
	g       prometheus.Gatherer
	minRead time.Duration // readings at most this often

	mu   sync.Mutex
	ring [ringSamples]sample
	next int
	n    int
	last sample // the latest reading (also kept when not pushed)
}

func newSampler(g prometheus.Gatherer) *sampler {
	s := &sampler{g: g, minRead: 250 * time.Millisecond}
	if g != nil {
		s.push(s.read(time.Now()))
	}
	return s
}

func (s *sampler) push(x sample) {
	s.ring[s.next] = x
	s.next = (s.next + 1) % len(s.ring)
	s.n = min(s.n+1, len(s.ring))
	s.last = x
}

// rates reads the counters (at most every minRead), keeps the reading in
// the ring when the last kept one is sampleEvery old, and compares it with
// the oldest kept reading of the window.
func (s *sampler) rates(now time.Time) Rates {
	if s.g == nil {
		return Rates{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	newest := s.ring[(s.next-1+len(s.ring))%len(s.ring)]
	cur := s.last
	if now.Sub(cur.at) >= s.minRead {
		cur = s.read(now)
		if now.Sub(newest.at) >= sampleEvery {
			s.push(cur)
		} else {
			s.last = cur
		}
	}
	var base *sample
	for i := s.n; i > 0; i-- { // oldest first
		x := &s.ring[(s.next-i+len(s.ring))%len(s.ring)]
		if x.at.Before(cur.at) && cur.at.Sub(x.at) <= rateWindow+sampleEvery {
			base = x
			break
		}
	}
	if base == nil && s.n > 0 {
		if x := &s.ring[(s.next-1+len(s.ring))%len(s.ring)]; x.at.Before(cur.at) {
			base = x
		}
	}
	if base == nil {
		return Rates{}
	}
	return ratesBetween(*base, cur)
}

// ratesBetween is the pure computation of Rates from two readings.
func ratesBetween(a, b sample) Rates {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return Rates{}
	}
	hits, others := b.hits-a.hits, b.others-a.others
	reqs := hits + others
	r := Rates{
		WindowSeconds:        math.Round(secs*10) / 10,
		RequestsPerSec:       reqs / secs,
		PurgesAcceptedPerSec: (b.accepted - a.accepted) / secs,
		PurgesAppliedPerSec:  (b.applied - a.applied) / secs,
	}
	if reqs > 0 {
		hr := hits / reqs
		off := min(max(1-(b.fetches-a.fetches)/reqs, 0), 1)
		r.HitRatio, r.OriginOffload = &hr, &off
	}
	if q, ok := quantile(0.99, a.hitBuckets, b.hitBuckets); ok {
		q *= 1000
		r.P99HitMS = &q
	}
	return r
}

// quantile estimates the q-quantile of the observations between two
// cumulative bucket readings (as PromQL's histogram_quantile: linear within
// the bucket; in the +Inf bucket, the highest finite bound).
func quantile(q float64, a, b []bucket) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	before := map[float64]float64{}
	for _, x := range a {
		before[x.le] = x.count
	}
	delta := make([]bucket, len(b))
	for i, x := range b {
		delta[i] = bucket{x.le, x.count - before[x.le]}
	}
	total := delta[len(delta)-1].count
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lo, prev := 0.0, 0.0
	for _, x := range delta {
		if x.count >= rank {
			if math.IsInf(x.le, 1) {
				return lo, true
			}
			if x.count == prev {
				return x.le, true
			}
			return lo + (x.le-lo)*(rank-prev)/(x.count-prev), true
		}
		lo, prev = x.le, x.count
	}
	return lo, true
}

// read takes one reading of the counters the rates need.
func (s *sampler) read(now time.Time) sample {
	x := sample{at: now}
	mfs, err := s.g.Gather()
	if err != nil && len(mfs) == 0 {
		return x
	}
	les := map[float64]float64{}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "meshcdn_edge_requests_total":
			for _, m := range mf.GetMetric() {
				switch label(m, "result") {
				case "hit", "stale":
					x.hits += m.GetCounter().GetValue()
				case "miss", "pass":
					x.others += m.GetCounter().GetValue()
				}
			}
		case "meshcdn_edge_origin_fetches_total":
			x.fetches += sum(mf)
		case "meshcdn_cluster_purges_accepted_total":
			x.accepted += sum(mf)
		case "meshcdn_cluster_purges_applied_total":
			x.applied += sum(mf)
		case "meshcdn_edge_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				if r := label(m, "result"); r != "hit" && r != "stale" {
					continue
				}
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					les[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
				les[math.Inf(1)] += float64(h.GetSampleCount())
			}
		}
	}
	for le, c := range les {
		x.hitBuckets = append(x.hitBuckets, bucket{le, c})
	}
	sort.Slice(x.hitBuckets, func(i, j int) bool { return x.hitBuckets[i].le < x.hitBuckets[j].le })
	return x
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func sum(mf *dto.MetricFamily) float64 {
	t := 0.0
	for _, m := range mf.GetMetric() {
		if c := m.GetCounter(); c != nil {
			t += c.GetValue()
		} else if u := m.GetUntyped(); u != nil {
			t += u.GetValue()
		}
	}
	return t
}
