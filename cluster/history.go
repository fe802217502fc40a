package cluster

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshcdn/meshcdn/store"
)

// HistorySize is how many purges a node remembers it accepted, and how
// many it remembers it applied for other nodes (two rings).
const HistorySize = 256

// PurgeRecord is one purge entry in a node's history. Origin, Seq and
// Stamp identify the entry across the cluster: Stamp is carried on the
// wire, so every node records the same one.
type PurgeRecord struct {
	ID     string    `json:"id"`              // origin/epoch/seq (accepted) or origin/seq (applied)
	Origin string    `json:"origin"`          // the node that accepted it
	Seq    uint64    `json:"seq"`             // its sequence on the origin's boot
	Stamp  time.Time `json:"stamp"`           // when the origin accepted it (the origin's clock)
	Kind   string    `json:"kind"`            // key, url, mixed, all, before
	Count  int       `json:"count,omitempty"` // surrogate keys and URLs in the entry
	Soft   bool      `json:"soft,omitempty"`
	At     time.Time `json:"at"` // when this node applied it (this node's clock)
}

// History is a snapshot of a node's purge history, oldest first.
type History struct {
	Accepted []PurgeRecord // purges this node accepted (At: applied locally)
	Applied  []PurgeRecord // purges of other nodes this node applied
}

// ring is a fixed-size ring of records; append is O(1) and allocates
// nothing.
type ring struct {
	recs [HistorySize]PurgeRecord
	next int
	n    int
}

func (r *ring) add(rec PurgeRecord) {
	r.recs[r.next] = rec
	r.next = (r.next + 1) % len(r.recs)
	r.n = min(r.n+1, len(r.recs))
}

func (r *ring) list() []PurgeRecord {
	out := make([]PurgeRecord, 0, r.n)
	for i := r.n; i > 0; i-- {
		out = append(out, r.recs[(r.next-i+len(r.recs))%len(r.recs)])
	}
	return out
}

// history records the purges applied to a node's store. It wraps the
// node's Applier, so it sees every purge exactly where the store does:
// local ones when accepted, remote ones when received or replayed. Its
// mutex is held for one slot copy only.
type history struct {
	next  Applier
	self  string
	epoch uint64
	delay prometheus.Histogram // remote purges: stamp → applied here

	mu       sync.Mutex
	accepted ring
	applied  ring
}

func newHistory(next Applier, self string, epoch uint64) *history {
	return &history{next: next, self: self, epoch: epoch, delay: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "meshcdn_cluster_purge_propagation_seconds",
		Help:    "Time from a purge being accepted by another node to its apply on this node (wall clocks of two nodes: skew included; replays of missed purges included).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 100µs … 13s
	})}
}

// Purge applies p, then records it. Purges without a sequence (a node
// dropping its own cache) are not purges of the cluster's and are skipped.
func (h *history) Purge(p store.Purge) int {
	n := h.next.Purge(p)
	if p.Seq == 0 || p.Origin == "" {
		return n
	}
	rec := PurgeRecord{Origin: p.Origin, Seq: p.Seq, Stamp: p.Time, Kind: purgeKind(p),
		Count: len(p.Keys) + len(p.URLs), Soft: p.Soft, At: time.Now()}
	own := p.Origin == h.self
	if !own {
		h.delay.Observe(max(rec.At.Sub(p.Time), 0).Seconds())
	}
	h.mu.Lock()
	if own {
		h.accepted.add(rec)
	} else {
		h.applied.add(rec)
	}
	h.mu.Unlock()
	return n
}

func (h *history) snapshot() History {
	h.mu.Lock()
	out := History{Accepted: h.accepted.list(), Applied: h.applied.list()}
	h.mu.Unlock()
	for i := range out.Accepted {
		out.Accepted[i].ID = RecordID(out.Accepted[i].Origin, h.epoch, out.Accepted[i].Seq)
	}
	for i := range out.Applied {
		out.Applied[i].ID = RecordID(out.Applied[i].Origin, 0, out.Applied[i].Seq)
	}
	return out
}

// RecordID names a purge entry as Result.ID does ("origin/epoch/seq");
// epoch 0 (unknown to a receiver) gives "origin/seq".
func RecordID(origin string, epoch, seq uint64) string {
	if epoch == 0 {
		return origin + "/" + strconv.FormatUint(seq, 10)
	}
	return origin + "/" + strconv.FormatUint(epoch, 10) + "/" + strconv.FormatUint(seq, 10)
}

func purgeKind(p store.Purge) string {
	switch {
	case p.All:
		return "all"
	case len(p.Keys) > 0 && len(p.URLs) > 0:
		return "mixed"
	case len(p.Keys) > 0:
		return "key"
	case len(p.URLs) > 0:
		return "url"
	}
	return "before"
}

// PurgeHistory returns the purges this node accepted and the purges of
// other nodes it applied, the last HistorySize of each, oldest first. Times
// are wall-clock: At is this node's clock, Stamp the origin's.
func (n *Node) PurgeHistory() History {
	return n.hist.snapshot()
}
