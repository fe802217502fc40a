package api

import (
	"net/http"
	"time"
)

// Stats is the answer of GET /stats: this node's store and, over the last
// minute, its traffic (Rates).
type Stats struct {
	Node          string  `json:"node,omitempty"`
	Region        string  `json:"region,omitempty"`
	Objects       int64   `json:"objects"`
	Bytes         int64   `json:"bytes"`
	MaxBytes      int64   `json:"max_bytes"`
	Fill          float64 `json:"fill"` // bytes / max_bytes
	Evictions     int64   `json:"evictions"`
	Expired       int64   `json:"expired"`
	Purged        int64   `json:"purged"`
	Fenced        int64   `json:"fenced"`
	TooLarge      int64   `json:"too_large"`
	SurrogateKeys int64   `json:"surrogate_keys"`
	Rates         Rates   `json:"rates"`
	// TLS: the automatic HTTPS certificates (Config.TLSStatus), if any.
	TLS any `json:"tls,omitempty"`
}

func (h *handler) localStats() *Stats {
	s := h.cfg.Store.Stats()
	out := &Stats{
		Objects: s.Objects, Bytes: s.Bytes, MaxBytes: h.cfg.Store.Config().MaxBytes,
		Evictions: s.Evictions, Expired: s.Expired, Purged: s.Purged, Fenced: s.Fenced,
		TooLarge: s.TooLarge, SurrogateKeys: s.SurrogateKeys,
		Rates: h.rates.rates(time.Now()),
	}
	if out.MaxBytes > 0 {
		out.Fill = float64(out.Bytes) / float64(out.MaxBytes)
	}
	if c := h.cfg.Cluster; c != nil {
		out.Node, out.Region = c.Name(), h.region()
	}
	if h.cfg.TLSStatus != nil {
		out.TLS = h.cfg.TLSStatus()
	}
	return out
}

func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.localStats())
}

// MemberStats is one member in GET /cluster/stats.
type MemberStats struct {
	Gathered
	Stats *Stats `json:"stats,omitempty"` // nil: it did not answer (Error says why)
}

// ClusterStats is the answer of GET /cluster/stats.
type ClusterStats struct {
	Self    string        `json:"self"`
	Now     time.Time     `json:"now"`
	Members []MemberStats `json:"members"`
}

func (h *handler) clusterStats(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Cluster == nil {
		writeError(w, http.StatusNotFound, "this node runs without a cluster")
		return
	}
	members, stats := gather(r.Context(), h, "/stats", h.localStats)
	out := ClusterStats{Self: h.cfg.Cluster.Name(), Now: time.Now(), Members: make([]MemberStats, len(members))}
	for i := range members {
		out.Members[i] = MemberStats{Gathered: members[i], Stats: stats[i]}
	}
	writeJSON(w, http.StatusOK, out)
}
