package edge

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshcdn/meshcdn/edge/purgegate"
)

// Cache results, the label values of meshcdn_edge_requests_total.
const (
	resHit   = iota // served fresh from the cache
	resMiss         // fetched from the origin (including revalidation)
	resPass         // sent to the origin without the cache
	resStale        // stale copy served (stale-while-revalidate, stale-if-error, max-stale)
	resSynth        // answered by the edge itself (PURGE, errors)
	numResults
)

var resultNames = [numResults]string{"hit", "miss", "pass", "stale", "synth"}

// Continents: the bounded label set of meshcdn_edge_requests_by_continent_total.
var continentCodes = [...]string{"AF", "AN", "AS", "EU", "NA", "OC", "SA", "XX"}

func continentIndex(c string) int {
	if len(c) == 2 {
		for i, code := range continentCodes[:7] {
			if c == code {
				return i
			}
		}
	}
	return len(continentCodes) - 1
}

// Origin fetch outcomes, label values of meshcdn_edge_origin_fetches_total.
const (
	fetchOK          = "ok"           // a response below 500
	fetchNotModified = "not_modified" // 304 to a revalidation
	fetchServerError = "server_error" // a 5xx response
	fetchError       = "error"        // connection failed, reset, bad response
	fetchTimeout     = "timeout"      // connect, first byte or between bytes
)

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *latencyCollector // by site and result (latency.go)
	continents   [len(continentCodes)]prometheus.Counter
	fetches      *prometheus.CounterVec   // by site and outcome
	fetchSeconds *prometheus.HistogramVec // by site
	responses    *prometheus.CounterVec   // by site and status class
	collapsed    prometheus.Counter
	fenced       prometheus.Counter
	keysDropped  prometheus.Counter
	purgeDenied  *prometheus.CounterVec
	hitForMiss   prometheus.Counter
	noSite       prometheus.Counter // requests for a host no site serves
	originBusy   prometheus.Counter
	storeFailed  map[string]prometheus.Counter // by storeOutcome label
	peerFetches  map[string]prometheus.Counter // by peer fetch outcome (shield.go)
	peerServed   map[string]prometheus.Counter // peer fetches this node answered, by outcome
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_edge_requests_total",
			Help: "Requests by site and cache result (hit, miss, pass, stale, synth).",
		}, []string{"site", "result"}),
		latency: newLatencyCollector(),
		fetchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshcdn_edge_origin_fetch_duration_seconds",
			Help:    "Time from sending an origin request to its response headers (or failure), by site.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"site"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_edge_origin_fetches_total",
			Help: "Origin requests by site and outcome (ok, not_modified, server_error, error, timeout).",
		}, []string{"site", "outcome"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_edge_origin_responses_total",
			Help: "Origin responses by site and status class (1xx … 5xx); failures without a response are outcomes of meshcdn_edge_origin_fetches_total.",
		}, []string{"site", "class"}),
		collapsed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_edge_collapsed_total",
			Help: "Requests answered by another request's origin fetch (request collapsing).",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_edge_fenced_total",
			Help: "Fetched responses not stored because a matching purge arrived while they were fetched.",
		}),
		keysDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_edge_surrogate_keys_dropped_total",
			Help: "Surrogate keys or cache groups ignored for exceeding the limits (1024 B per key, 16 KiB per header).",
		}),
		purgeDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_edge_purge_denied_total",
			Help: "PURGE requests refused on the edge listener, by reason (missing_token, bad_token).",
		}, []string{"reason"}),
		hitForMiss: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_edge_hit_for_miss_total",
			Help: "Requests sent to the origin uncollapsed because the URL recently answered uncacheable.",
		}),
		originBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshcdn_edge_origin_busy_total",
			Help: "Requests answered 503 because the origin's connection limit and queue were full (never sent to the origin).",
		}),
		storeFailed: map[string]prometheus.Counter{},
	}
	m.noSite = m.requests.WithLabelValues("", resultNames[resSynth])
	byContinent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshcdn_edge_requests_by_continent_total",
		Help: "Requests by the client's continent (XX = unknown).",
	}, []string{"continent"})
	for i, c := range continentCodes {
		m.continents[i] = byContinent.WithLabelValues(c)
	}
	storeFailed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshcdn_edge_store_failures_total",
		Help: "Cacheable responses streamed to clients as they arrived that were then not stored, by reason (truncated, timeout, too_large, rejected).",
	}, []string{"reason"})
	for _, o := range []storeOutcome{storeTruncated, storeTimeout, storeTooLarge, storeRejected} {
		m.storeFailed[o.label()] = storeFailed.WithLabelValues(o.label())
	}
	peerFetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshcdn_edge_peer_fetches_total",
		Help: "Misses fetched from the object's shield owner instead of the origin, by outcome (ok, not_modified; server_error, error, timeout, refused: then fetched from the origin, counted in meshcdn_edge_origin_fetches_total).",
	}, []string{"outcome"})
	m.peerFetches = map[string]prometheus.Counter{}
	for _, o := range peerOutcomes {
		m.peerFetches[o] = peerFetches.WithLabelValues(o)
	}
	peerServed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshcdn_edge_peer_requests_total",
		Help: "Peer fetches this node answered as a shield owner, by outcome (covered: it had applied every purge the child had; not_covered: it had not within the wait and fetched anew; denied, bad_request, no_site, disabled: refused).",
	}, []string{"outcome"})
	m.peerServed = map[string]prometheus.Counter{}
	for _, o := range []string{"covered", "not_covered", "denied", "bad_request", "no_site", "disabled"} {
		m.peerServed[o] = peerServed.WithLabelValues(o)
	}
	for _, r := range purgegate.Reasons {
		m.purgeDenied.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, byContinent, m.fetches, m.fetchSeconds, m.responses,
		m.collapsed, m.fenced, m.keysDropped, m.purgeDenied, m.hitForMiss, m.originBusy, storeFailed, peerFetches, peerServed} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("edge: metrics already registered (one Proxy per registry): %w", err)
			}
			return nil, fmt.Errorf("edge: registering metrics: %w", err)
		}
	}
	return m, nil
}

// fetchOutcomes: the label values of meshcdn_edge_origin_fetches_total.
var fetchOutcomes = [...]string{fetchOK, fetchNotModified, fetchServerError, fetchError, fetchTimeout}

// siteMetrics are one site's series, bound once (the label set is the
// configured sites times fixed values: bounded).
type siteMetrics struct {
	reqs         [numResults]prometheus.Counter
	latency      *[numResults]latencyHist
	fetches      map[string]prometheus.Counter // by outcome
	fetchSeconds prometheus.Observer
	classes      [5]prometheus.Counter // 1xx … 5xx
}

func (m *metrics) forSite(name string) siteMetrics {
	sm := siteMetrics{fetches: make(map[string]prometheus.Counter, len(fetchOutcomes)),
		fetchSeconds: m.fetchSeconds.WithLabelValues(name), latency: m.latency.forSite(name)}
	for r := range numResults {
		sm.reqs[r] = m.requests.WithLabelValues(name, resultNames[r])
	}
	for _, o := range fetchOutcomes {
		sm.fetches[o] = m.fetches.WithLabelValues(name, o)
	}
	for i := range sm.classes {
		sm.classes[i] = m.responses.WithLabelValues(name, string(rune('1'+i))+"xx")
	}
	return sm
}

// originResponse counts an origin response by its status class.
func (sm *siteMetrics) originResponse(code int) {
	if c := code / 100; c >= 1 && c <= 5 {
		sm.classes[c-1].Inc()
	}
}
