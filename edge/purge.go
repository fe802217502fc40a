package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/store"
)

// PurgeResult is what Config.Purge reports: the purge's id (the cluster's
// node/boot/sequence) and the objects it removed (or marked) on this node.
type PurgeResult struct {
	ID     string
	Purged int
}

// purgeAnswer is the JSON body of a PURGE response (Fastly's shape plus
// the number of objects purged on this node).
type purgeAnswer struct {
	Status string `json:"status"`
	ID     string `json:"id,omitempty"`
	Purged int    `json:"purged"`
	Error  string `json:"error,omitempty"`
}

// servePurge handles "PURGE <url>" on the edge listener: allowed by the
// purge gate (the token in Fastly-Key or Authorization: Bearer, or a client
// address in PurgeAllow: the address a trusted proxy reports, not the
// proxy's); purges that URL through Config.Purge (cluster-wide), softly
// with "Fastly-Soft-Purge: 1".
func (p *Proxy) servePurge(w http.ResponseWriter, rq *request) {
	r := rq.r
	rq.result = resSynth
	v := p.gate.Check(r)
	if !v.OK() {
		p.m.purgeDenied.WithLabelValues(v.Reason).Inc()
		p.log.Warn("PURGE denied", zap.String("reason", v.Reason), zap.String("peer", r.RemoteAddr),
			zap.Stringer("client", v.Client), zap.String("host", r.Host), zap.String("path", r.URL.Path))
		status, n := v.Refuse(w)
		rq.status, rq.bytes = status, int64(n)
		return
	}
	rq.client = v.Client
	key := store.KeyFor(r.Host, r.URL.EscapedPath(), r.URL.RawQuery)
	if err := purgegate.CheckURLKey(key); err != nil {
		p.writeJSON(w, rq, http.StatusRequestURITooLong, purgeAnswer{Status: "error", Error: err.Error()})
		return
	}
	soft := strings.TrimSpace(r.Header.Get("Fastly-Soft-Purge")) == "1"
	ctx, cancel := context.WithTimeout(r.Context(), purgeTimeout)
	defer cancel()
	res, err := p.purge(ctx, store.Purge{URLs: []string{key}, Soft: soft, Time: time.Now()})
	if err != nil {
		p.log.Error("PURGE failed", zap.String("url", key), zap.Error(err))
		p.writeJSON(w, rq, http.StatusServiceUnavailable, purgeAnswer{Status: "error", Error: "purge failed: " + err.Error()})
		return
	}
	p.log.Info("PURGE", zap.String("id", res.ID), zap.String("by", v.By), zap.String("url", key), zap.Bool("soft", soft), zap.Int("purged", res.Purged))
	p.writeJSON(w, rq, http.StatusOK, purgeAnswer{Status: "ok", ID: res.ID, Purged: res.Purged})
}

func (p *Proxy) writeJSON(w http.ResponseWriter, rq *request, code int, v any) {
	body, _ := json.Marshal(v)
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rq.status = code
	w.WriteHeader(code)
	n, _ := w.Write(body)
	rq.bytes = int64(n)
}
