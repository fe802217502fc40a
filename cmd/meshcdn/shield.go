package main

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/meshcdn/meshcdn/edge"
)

// withPeerFetch serves the edge's peer-fetch endpoint (shielding) on the
// admin listener beside the admin API: cluster-internal, never on the
// public edge listener, authenticated by the edge itself.
func withPeerFetch(admin http.Handler, p *edge.Proxy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == edge.PeerFetchPath {
			p.ServePeer(w, r)
			return
		}
		admin.ServeHTTP(w, r)
	})
}

// shielding reports whether any site shields (a bad value is reported by
// itself).
func shielding(sites []*edge.Site) bool {
	for _, s := range sites {
		if v := strings.TrimSpace(s.Shield); v != "" && v != "off" && edge.CheckShield(v) == nil {
			return true
		}
	}
	return false
}

// shieldSecretMissing refuses a node whose sites shield without a secret
// to authenticate peer fetches (no gossip key, no --shield-secret).
func shieldSecretMissing(cfg nodeConfig) error {
	if len(cfg.ShieldSecret) > 0 || len(cfg.GossipKeys) > 0 {
		return nil
	}
	if shielding(cfg.Sites) || (len(cfg.Sites) == 0 && shielding([]*edge.Site{edgeSite(cfg)})) {
		return usagef("--shield needs a secret for peer fetches: --gossip-key or --shield-secret")
	}
	return nil
}

// parseShieldSecret decodes --shield-secret: base64 of at least 16 bytes.
func parseShieldSecret(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(v); err == nil {
			break
		}
	}
	if err != nil {
		return nil, usagef("--shield-secret: not base64: %v", err)
	}
	if len(b) < 16 || len(b) > 1024 {
		return nil, usagef("--shield-secret: %d bytes, want 16 to 1024", len(b))
	}
	return b, nil
}
