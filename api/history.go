package api

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/meshcdn/meshcdn/cluster"
)

// ClockNote is said wherever times of different nodes are compared.
const ClockNote = "times across nodes are differences of their wall clocks: keep clocks in sync (NTP); a skew of N ms shows as N ms"

// LocalPurges is the answer of GET /purges/local: this node's purge
// history (cluster.HistorySize purges accepted, as many applied).
type LocalPurges struct {
	Node     string                `json:"node"`
	Region   string                `json:"region"`
	Now      time.Time             `json:"now"`
	Accepted []cluster.PurgeRecord `json:"accepted"`
	Applied  []cluster.PurgeRecord `json:"applied"`
}

// Step is one node in a purge's waterfall.
type Step struct {
	Node   string `json:"node"`
	Region string `json:"region"`
	// Status: accepted (the origin), applied, not_seen (answered, but has
	// no record of it: not applied yet, or it joined later or dropped it
	// from its history), unreachable (did not answer).
	Status string `json:"status"`
	// AfterMS: applied at Stamp + AfterMS (wall clocks, see ClockNote);
	// for the origin, its local apply.
	AfterMS float64 `json:"after_ms"`
}

// Waterfall is one purge's way through the cluster.
type Waterfall struct {
	ID          string    `json:"id"`
	Origin      string    `json:"origin"`
	Stamp       time.Time `json:"stamp"` // accepted (the origin's clock)
	Kind        string    `json:"kind"`
	Count       int       `json:"count,omitempty"`
	Soft        bool      `json:"soft,omitempty"`
	Steps       []Step    `json:"steps"` // the origin first, then by name
	Applied     int       `json:"applied"`
	NotSeen     int       `json:"not_seen"`
	Unreachable int       `json:"unreachable"`
	SlowestMS   float64   `json:"slowest_ms"` // the last apply (0 when no other node applied it)
}

// ClusterPurges is the answer of GET /cluster/purges.
type ClusterPurges struct {
	Self    string      `json:"self"`
	Now     time.Time   `json:"now"`
	Note    string      `json:"note"`
	Members []Gathered  `json:"members"`
	Purges  []Waterfall `json:"purges"` // newest first
}

const (
	defaultPurgeLimit = 20
	maxPurgeLimit     = cluster.HistorySize
)

func (h *handler) localPurges() *LocalPurges {
	c := h.cfg.Cluster
	hist := c.PurgeHistory()
	return &LocalPurges{Node: c.Name(), Region: h.region(), Now: time.Now(),
		Accepted: nonNilRecs(hist.Accepted), Applied: nonNilRecs(hist.Applied)}
}

func (h *handler) purgesLocal(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Cluster == nil {
		writeError(w, http.StatusNotFound, "this node runs without a cluster")
		return
	}
	writeJSON(w, http.StatusOK, h.localPurges())
}

func (h *handler) clusterPurges(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Cluster == nil {
		writeError(w, http.StatusNotFound, "this node runs without a cluster")
		return
	}
	limit, ok := intParam(r, "limit", defaultPurgeLimit, 1, maxPurgeLimit)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit: a number from 1 to "+strconv.Itoa(maxPurgeLimit))
		return
	}
	members, locals := gather(r.Context(), h, "/purges/local", h.localPurges)
	writeJSON(w, http.StatusOK, ClusterPurges{
		Self: h.cfg.Cluster.Name(), Now: time.Now(), Note: ClockNote,
		Members: members, Purges: waterfalls(members, locals, limit),
	})
}

// purgeKey identifies a purge entry on every node.
type purgeKey struct {
	origin string
	seq    uint64
	stamp  int64
}

func keyOf(r *cluster.PurgeRecord) purgeKey {
	return purgeKey{r.Origin, r.Seq, r.Stamp.UnixNano()}
}

// waterfalls builds the last limit purges' waterfalls from the members'
// histories (locals[i] is members[i]'s, nil if it did not answer). A purge
// is listed when its origin recorded accepting it, or, if the origin did
// not answer, when another node applied it.
func waterfalls(members []Gathered, locals []*LocalPurges, limit int) []Waterfall {
	type seen struct {
		rec     cluster.PurgeRecord
		applied map[string]time.Time // node → applied at
		origin  bool                 // the origin's own record
	}
	byKey := map[purgeKey]*seen{}
	answered := map[string]bool{}
	for i, lp := range locals {
		if lp == nil {
			continue
		}
		answered[members[i].Name] = true
		for _, rec := range lp.Accepted {
			k := keyOf(&rec)
			s := byKey[k]
			if s == nil {
				s = &seen{applied: map[string]time.Time{}}
				byKey[k] = s
			}
			s.rec, s.origin = rec, true
		}
	}
	for i, lp := range locals {
		if lp == nil {
			continue
		}
		for _, rec := range lp.Applied {
			k := keyOf(&rec)
			s := byKey[k]
			if s == nil {
				if answered[rec.Origin] {
					continue // gone from the origin's history: older than what is shown
				}
				s = &seen{rec: rec, applied: map[string]time.Time{}}
				byKey[k] = s
			}
			s.applied[members[i].Name] = rec.At
		}
	}
	all := make([]*seen, 0, len(byKey))
	for _, s := range byKey {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].rec, all[j].rec
		if !a.Stamp.Equal(b.Stamp) {
			return a.Stamp.After(b.Stamp)
		}
		if a.Origin != b.Origin {
			return a.Origin < b.Origin
		}
		return a.Seq > b.Seq
	})
	if len(all) > limit {
		all = all[:limit]
	}
	out := make([]Waterfall, 0, len(all))
	for _, s := range all {
		rec := s.rec
		wf := Waterfall{ID: rec.ID, Origin: rec.Origin, Stamp: rec.Stamp, Kind: rec.Kind, Count: rec.Count, Soft: rec.Soft}
		if !s.origin {
			wf.ID = cluster.RecordID(rec.Origin, 0, rec.Seq)
		}
		origin := Step{Node: rec.Origin, Status: "unreachable"}
		if s.origin {
			origin.Status, origin.AfterMS = "accepted", ms(rec.At.Sub(rec.Stamp))
		}
		var rest []Step
		for _, m := range members {
			if m.Name == rec.Origin {
				origin.Region = m.Region
				continue
			}
			st := Step{Node: m.Name, Region: m.Region}
			switch at, ok := s.applied[m.Name]; {
			case ok:
				st.Status, st.AfterMS = "applied", ms(at.Sub(rec.Stamp))
				wf.Applied++
				wf.SlowestMS = max(wf.SlowestMS, st.AfterMS)
			case !m.Answered():
				st.Status = "unreachable"
				wf.Unreachable++
			default:
				st.Status = "not_seen"
				wf.NotSeen++
			}
			rest = append(rest, st)
		}
		wf.Steps = append([]Step{origin}, rest...)
		out = append(out, wf)
	}
	return out
}

// ms is d in milliseconds with microsecond precision.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// intParam reads query parameter name as an integer in [lo, hi]; absent:
// def.
func intParam(r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func nonNilRecs(r []cluster.PurgeRecord) []cluster.PurgeRecord {
	if r == nil {
		return []cluster.PurgeRecord{}
	}
	return r
}

// region is this node's region ("" without a cluster).
func (h *handler) region() string {
	c := h.cfg.Cluster
	if c == nil {
		return ""
	}
	for _, m := range c.Members() {
		if m.Name == c.Name() {
			return m.Region
		}
	}
	return ""
}
