package edge

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The owner's side of shielding: a peer fetch served through the stages.

// ServePeer is the owner's side of a peer fetch: mounted at PeerFetchPath
// on the admin listener (never the public edge). It answers 401 to a
// request that is not signed with a shield secret within a minute, 400 to
// a malformed one, 421 for a host no site serves (the child then goes to
// the origin), and otherwise serves the request through the stages as
// the original client's, with surrogate headers kept and the owner's
// mark (Meshcdn-Peer) on the answer.
func (p *Proxy) ServePeer(w http.ResponseWriter, r *http.Request) {
	if p.shield == nil {
		p.peerRefuse(w, "disabled", http.StatusNotFound, "shielding is not enabled on this node")
		return
	}
	if r.Method != http.MethodGet {
		p.peerRefuse(w, "bad_request", http.StatusMethodNotAllowed, "peer fetches are GET")
		return
	}
	h := r.Header
	one := func(k string) string {
		if v := h[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	from, host, uri, applied, ts, sig := one(hdrPeerFrom), one(hdrPeerHost), one(hdrPeerURI), h[hdrPeerApplied], one(hdrPeerTime), one(hdrPeerSig)
	if len(applied) != 1 {
		applied = []string{""}
	}
	if !p.peerAuthentic(ts, from, host, uri, applied[0], sig) {
		p.peerRefuse(w, "denied", http.StatusUnauthorized, "peer fetch not authenticated")
		return
	}
	if host == "" || len(host) > maxPeerHost || strings.ContainsAny(host, " /\\\t\r\n") ||
		uri == "" || uri[0] != '/' || len(uri) > maxPeerURI || strings.ContainsAny(uri, " \t\r\n") {
		p.peerRefuse(w, "bad_request", http.StatusBadRequest, "bad peer fetch target")
		return
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		p.peerRefuse(w, "bad_request", http.StatusBadRequest, "bad peer fetch target")
		return
	}
	if p.siteFor(host) == nil {
		p.peerRefuse(w, "no_site", http.StatusMisdirectedRequest, "no site for this host on this node")
		return
	}
	pi := &peerInfo{from: from, proto: protoHTTP}
	if v := h["X-Forwarded-Proto"]; len(v) == 1 && v[0] == "https" {
		pi.proto = protoHTTPS
	}
	if v := h["X-Forwarded-For"]; len(v) == 1 {
		if a, err := netip.ParseAddr(strings.TrimSpace(v[0])); err == nil {
			pi.client = a.String()
		}
	}
	// The admin listener's write timeout suits its JSON answers, not a
	// large object streaming from a slow origin: the between-bytes
	// timeouts of both nodes bound a peer fetch instead.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	// Acknowledge (the child's short timeout ends), then wait for the
	// purges the child applied.
	w.Header()[hdrPeer] = []string{p.node}
	w.WriteHeader(http.StatusProcessing)
	covered, err := p.shield.WaitApplied(r.Context(), applied[0], p.shieldApplyWait)
	if err != nil {
		p.peerRefuse(w, "bad_request", http.StatusBadRequest, "bad applied vector")
		return
	}
	pi.minFence = p.store.Fence() // after the wait: flights begun before it may predate a purge the child applied
	pi.covered = covered
	outcome := "covered"
	if !covered {
		outcome = "not_covered"
	}
	p.m.peerServed[outcome].Inc()

	hdr := h.Clone()
	for _, k := range [...]string{hdrPeerFrom, hdrPeerHost, hdrPeerURI, hdrPeerApplied, hdrPeerTime, hdrPeerSig} {
		delete(hdr, k)
	}
	r2 := r.WithContext(context.WithValue(r.Context(), peerKey{}, pi))
	r2.Header = hdr
	r2.Host = host
	r2.URL = u
	r2.RequestURI = uri
	if pi.client != "" {
		r2.RemoteAddr = net.JoinHostPort(pi.client, "0")
	}
	rq := request{r: r2, start: time.Now(), result: resSynth, peer: pi}
	p.serve(w, &rq)
	p.finish(&rq)
	if rq.aborted != nil || rq.status == statusClientClosed {
		panic(http.ErrAbortHandler)
	}
}

func (p *Proxy) peerRefuse(w http.ResponseWriter, outcome string, code int, msg string) {
	p.m.peerServed[outcome].Inc()
	delete(w.Header(), hdrPeer)
	http.Error(w, msg, code)
}

// peerAuthentic checks a peer fetch's signature and its age.
func (p *Proxy) peerAuthentic(ts, from, host, uri, applied, sig string) bool {
	if sig == "" || ts == "" || from == "" {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := time.Since(time.Unix(sec, 0)); d > peerClockSkew || d < -peerClockSkew {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	for _, secret := range p.shield.Secrets() {
		want, _ := hex.DecodeString(peerSignature(secret, ts, from, host, uri, applied))
		if hmac.Equal(got, want) {
			return true
		}
	}
	return false
}
