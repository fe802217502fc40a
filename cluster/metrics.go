package cluster

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of a node's counters (the same numbers as its
// Prometheus metrics).
type Stats struct {
	Accepted      uint64            // purge entries accepted by this node (Purge calls, after splitting)
	Sent          uint64            // purge entries sent to peers (one per peer, retransmissions included)
	Retransmitted uint64            // of which retransmissions
	Received      uint64            // purge entries received from peers (duplicates included)
	Applied       uint64            // purge entries applied to the local store (local and remote)
	Duplicate     uint64            // received entries already applied
	Replayed      uint64            // entries applied from anti-entropy replays
	Gaps          uint64            // times this node fell behind the retained log and dropped its cache
	Relayed       uint64            // relay messages this node passed on to its region (Relay dissemination)
	Errors        map[string]uint64 // message errors by reason
	Streams       int               // purge streams tracked
	Retained      int               // purges in the retained log
}

type metrics struct {
	accepted, sent, retransmitted, received, applied, duplicate, replayed, gaps, relayed atomic.Uint64

	errMu sync.Mutex
	errs  map[string]uint64

	ackLatency prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		errs: map[string]uint64{},
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshcdn_cluster_purge_ack_latency_seconds",
			Help:    "Time from a purge being accepted by this node to its acknowledgement by one peer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 100µs … 13s
		}),
	}
}

func (m *metrics) error(reason string) {
	m.errMu.Lock()
	m.errs[reason]++
	m.errMu.Unlock()
}

var (
	descSent      = prometheus.NewDesc("meshcdn_cluster_purges_sent_total", "Purge entries sent directly to peers (one per peer; retransmissions included).", nil, nil)
	descRetrans   = prometheus.NewDesc("meshcdn_cluster_purges_retransmitted_total", "Purge entries retransmitted to peers that had not acknowledged them.", nil, nil)
	descAccepted  = prometheus.NewDesc("meshcdn_cluster_purges_accepted_total", "Purge entries accepted by this node's API.", nil, nil)
	descReceived  = prometheus.NewDesc("meshcdn_cluster_purges_received_total", "Purge entries received from peers, duplicates included.", nil, nil)
	descApplied   = prometheus.NewDesc("meshcdn_cluster_purges_applied_total", "Purge entries applied to the local store.", nil, nil)
	descDuplicate = prometheus.NewDesc("meshcdn_cluster_purges_duplicate_total", "Purge entries received that were already applied.", nil, nil)
	descReplayed  = prometheus.NewDesc("meshcdn_cluster_purges_replayed_total", "Purge entries applied from anti-entropy replays.", nil, nil)
	descGaps      = prometheus.NewDesc("meshcdn_cluster_purge_gaps_total", "Times this node fell behind the retained purge log and dropped what it could not prove fresh.", nil, nil)
	descMembers   = prometheus.NewDesc("meshcdn_cluster_members", "Cluster members by state, as this node sees them (itself included).", []string{"state"}, nil)
	descErrors    = prometheus.NewDesc("meshcdn_cluster_message_errors_total", "Gossip messages refused or dropped, by reason.", []string{"reason"}, nil)
	descRelayed   = prometheus.NewDesc("meshcdn_cluster_purges_relayed_total", "Relay messages (another node's purges) this node passed on to the members of its region.", nil, nil)
	descRetained  = prometheus.NewDesc("meshcdn_cluster_retained_purges", "Purges held in the retained log for anti-entropy.", nil, nil)
)

// collector exposes a node's metrics.
type collector struct{ n *Node }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSent, descRetrans, descAccepted, descReceived, descApplied, descDuplicate, descReplayed, descGaps, descRelayed, descMembers, descErrors, descRetained} {
		ch <- d
	}
	c.n.m.ackLatency.Describe(ch)
	c.n.hist.delay.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.n.Stats()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	counter(descSent, st.Sent)
	counter(descRetrans, st.Retransmitted)
	counter(descAccepted, st.Accepted)
	counter(descReceived, st.Received)
	counter(descApplied, st.Applied)
	counter(descDuplicate, st.Duplicate)
	counter(descReplayed, st.Replayed)
	counter(descGaps, st.Gaps)
	counter(descRelayed, st.Relayed)
	reasons := make([]string, 0, len(st.Errors))
	for r := range st.Errors {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		counter(descErrors, st.Errors[r], r)
	}
	byState := map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}
	for _, m := range c.n.Members() {
		byState[m.State]++
	}
	for s, v := range byState {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(v), s)
	}
	ch <- prometheus.MustNewConstMetric(descRetained, prometheus.GaugeValue, float64(st.Retained))
	c.n.m.ackLatency.Collect(ch)
	c.n.hist.delay.Collect(ch)
}
