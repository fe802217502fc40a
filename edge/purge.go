package edge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/store"
)

// MaxPurgeURL is the longest URL (as the store keys it: host + path +
// normalised query) that PURGE accepts; the cluster carries URLs up to this
// length. Longer URLs are cached all the same and can be purged by key.
const MaxPurgeURL = 8192

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

// servePurge handles "PURGE <url>" on the edge listener: allowed with the
// purge token (Fastly-Key or Authorization: Bearer) or from an address in
// PurgeAllow; purges that URL through Config.Purge (cluster-wide), softly
// with "Fastly-Soft-Purge: 1".
func (p *Proxy) servePurge(w http.ResponseWriter, rq *request) {
	r := rq.r
	rq.result = resSynth
	if reason := p.purgeDenied(r); reason != "" {
		p.m.purgeDenied.WithLabelValues(reason).Inc()
		code, msg := http.StatusForbidden, "wrong purge token"
		if reason == "missing_token" {
			code, msg = http.StatusUnauthorized, "purge token required"
			w.Header().Set("WWW-Authenticate", `Bearer realm="meshcdn purge"`)
		}
		p.log.Warn("PURGE denied", zap.String("reason", reason), zap.String("peer", r.RemoteAddr),
			zap.String("host", r.Host), zap.String("path", r.URL.Path))
		p.writeJSON(w, rq, code, purgeAnswer{Status: "error", Error: msg})
		return
	}
	key := store.KeyFor(r.Host, r.URL.EscapedPath(), r.URL.RawQuery)
	if len(key) > MaxPurgeURL {
		p.writeJSON(w, rq, http.StatusRequestURITooLong, purgeAnswer{Status: "error",
			Error: "URL too long to purge by URL (" + strconv.Itoa(len(key)) + " bytes, at most " + strconv.Itoa(MaxPurgeURL) + "); purge by surrogate key instead"})
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
	p.log.Info("PURGE", zap.String("id", res.ID), zap.String("url", key), zap.Bool("soft", soft), zap.Int("purged", res.Purged))
	p.writeJSON(w, rq, http.StatusOK, purgeAnswer{Status: "ok", ID: res.ID, Purged: res.Purged})
}

// purgeDenied returns why a PURGE is refused ("" = allowed).
func (p *Proxy) purgeDenied(r *http.Request) string {
	if len(p.cfg.PurgeAllow) > 0 {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			a := ap.Addr().Unmap()
			for _, pf := range p.cfg.PurgeAllow {
				if pf.Contains(a) {
					return ""
				}
			}
		}
	}
	token := strings.TrimSpace(r.Header.Get("Fastly-Key"))
	if token == "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			token = strings.TrimSpace(a[7:])
		}
	}
	if token == "" {
		return "missing_token"
	}
	if p.cfg.PurgeToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(p.cfg.PurgeToken)) == 1 {
		return ""
	}
	return "bad_token"
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
