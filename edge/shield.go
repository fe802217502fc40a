package edge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/store"
)

// Shielding: a miss on a node that does not own the object (rendezvous
// hashing of the primary key over the alive members, Shield.Owner) is
// fetched from the owner, a peer source (peerSource) beside the origin;
// the owner answers from its cache or collapses the request with its own
// misses into one origin fetch (ServePeer). The owner answers from its
// cache only once it has applied every purge the child had applied when
// it asked (Shield.WaitApplied), and joins a request only to flights
// begun after that; otherwise it fetches anew. The argument is in the
// README ("Shielding").

// Shield is what the edge needs of the cluster for shielding;
// cmd/meshcdn adapts a *cluster.Node to it.
type Shield interface {
	// Owner returns the owner of key among the alive members ("" region:
	// all of them): its name and the address of its peer-fetch endpoint
	// (host:port or a URL), and self when it is this node. ok is false
	// when no member qualifies.
	Owner(key, region string) (name, addr string, self, ok bool)
	// Region is this node's region (for "shield: region").
	Region() string
	// Applied is this node's applied purge vector, encoded for a header.
	Applied() string
	// WaitApplied waits at most timeout until this node has applied every
	// purge the encoded vector v names; covered reports whether it has.
	// err: v is malformed.
	WaitApplied(ctx context.Context, v string, timeout time.Duration) (covered bool, err error)
	// Secrets authenticate peer fetches: the first signs, any verifies.
	Secrets() [][]byte
}

// Shield defaults.
const (
	DefaultShieldTimeout   = 300 * time.Millisecond // the owner must acknowledge a peer fetch within it
	DefaultShieldApplyWait = 100 * time.Millisecond // the owner waits this long for purges a child applied
	PeerFetchPath          = "/_meshcdn/peer-fetch"
	peerClockSkew          = 60 * time.Second // accepted age of a peer fetch's signature
	maxPeerURI             = 8 << 10
	maxPeerHost            = 256
)

// Peer-fetch request fields (child → owner) and the owner's marker.
const (
	hdrPeerFrom    = "Meshcdn-Peer-From"
	hdrPeerHost    = "Meshcdn-Peer-Host"
	hdrPeerURI     = "Meshcdn-Peer-Uri"
	hdrPeerApplied = "Meshcdn-Peer-Applied"
	hdrPeerTime    = "Meshcdn-Peer-Time"
	hdrPeerSig     = "Meshcdn-Peer-Sig"
	hdrPeer        = "Meshcdn-Peer" // on the owner's answer: its name
)

// Shield modes of a site (Site.Shield).
type shieldMode uint8

const (
	shieldOff       shieldMode = iota
	shieldCluster              // owner among every alive member
	shieldOwnRegion            // owner among the alive members of this node's region
	shieldRegion               // owner among the alive members of a named region
)

// parseShield validates Site.Shield: "" or "off", "cluster", "region"
// (this node's region) or "region:<name>".
func parseShield(v string) (shieldMode, string, error) {
	switch v = strings.TrimSpace(v); {
	case v == "" || v == "off":
		return shieldOff, "", nil
	case v == "cluster":
		return shieldCluster, "", nil
	case v == "region":
		return shieldOwnRegion, "", nil
	case strings.HasPrefix(v, "region:"):
		name := v[len("region:"):]
		if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\r\n,;") {
			return 0, "", fmt.Errorf("shield %q: the region name must be 1-64 characters without spaces, ',' or ';'", v)
		}
		return shieldRegion, name, nil
	}
	return 0, "", fmt.Errorf("shield %q: want off, cluster, region or region:<name>", v)
}

// CheckShield validates a Site.Shield value.
func CheckShield(v string) error {
	_, _, err := parseShield(v)
	return err
}

// peerInfo is what an authenticated peer fetch carries into the stages
// (request context): the original client's address and scheme, which the
// edge believes only from a peer.
type peerInfo struct {
	from     string
	client   string // the original client's address
	proto    []string
	minFence store.Fence // join only flights begun at or after it
	covered  bool        // the cache may answer (every purge the child applied is applied here)
}

type peerKey struct{}

func peerOf(r *http.Request) *peerInfo {
	pi, _ := r.Context().Value(peerKey{}).(*peerInfo)
	return pi
}

// checkShield refuses sites that shield on a proxy without Config.Shield.
func (p *Proxy) checkShield(t *siteTable) error {
	if p.shield != nil {
		return nil
	}
	for _, s := range t.all {
		if s.shield != shieldOff {
			return fmt.Errorf("edge: site %q: shield %q needs the cluster (Config.Shield)", s.name, s.Shield)
		}
	}
	return nil
}

// sourceFor chooses the fetch source of a new flight: the owner when the
// site shields, this node does not own the object, and the flight may be
// shared (not private, no Range forwarded, no credentials); else the
// origin. A peer's request always goes to the origin: one hop at most.
func (p *Proxy) sourceFor(rq *request, f *flight) source {
	s := rq.s
	if p.shield == nil || s.shield == shieldOff || f.private || f.ranged || rq.peer != nil ||
		rq.facts&hasAuthorization != 0 {
		return nil
	}
	region := s.shieldRegion
	if s.shield == shieldOwnRegion {
		region = p.shield.Region()
	}
	name, addr, self, ok := p.shield.Owner(f.primary, region)
	if !ok || self || addr == "" {
		return nil
	}
	return &peerSource{owner: name, addr: addr, host: rq.r.Host, uri: rq.r.URL.RequestURI()}
}

// peerSource fetches from the object's owner and falls back to the origin
// when the owner does not acknowledge within Config.ShieldTimeout, fails,
// refuses, or answers 5xx: a request never fails for shielding where it
// would not have failed without it.
type peerSource struct {
	owner, addr string
	host, uri   string // the client request's Host and request-target
}

// Peer fetch outcomes, label values of meshcdn_edge_peer_fetches_total.
const (
	peerOK          = "ok"           // the owner answered (below 500)
	peerNotModified = "not_modified" // 304 to a revalidation
	peerServerError = "server_error" // the owner answered 5xx: origin instead
	peerError       = "error"        // no answer (connection, refused): origin instead
	peerTimeout     = "timeout"      // no acknowledgement in time: origin instead
	peerRefused     = "refused"      // an answer without the owner's mark (auth, unknown site): origin instead
)

var peerOutcomes = [...]string{peerOK, peerNotModified, peerServerError, peerError, peerTimeout, peerRefused}

func (ps *peerSource) fetch(p *Proxy, s *site, f *flight, req *http.Request) (*http.Response, error) {
	resp, outcome, err := ps.ask(p, s, req)
	p.m.peerFetches[outcome].Inc()
	if outcome == peerOK || outcome == peerNotModified {
		return resp, nil
	}
	if resp != nil {
		resp.Body.Close()
	}
	p.log.Debug("peer fetch failed, going to the origin", zapSite(s), zapURL(req),
		zap.String("owner", ps.owner), zap.String("outcome", outcome), zapErr(err))
	return originSource{}.fetch(p, s, f, req)
}

// ask sends the peer fetch. The owner acknowledges it at once (102
// Processing) and then answers when it has the response: the short
// timeout covers an owner that is down or stuck; after the
// acknowledgement the wait is the origin's (Site.FirstByteTimeout).
func (ps *peerSource) ask(p *Proxy, s *site, req *http.Request) (*http.Response, string, error) {
	ctx, cancel := context.WithCancel(req.Context())
	var acked, timedOut atomic.Bool
	short := time.AfterFunc(p.shieldTimeout, func() {
		if !acked.Load() {
			timedOut.Store(true)
			cancel()
		}
	})
	long := time.AfterFunc(p.shieldTimeout+s.FirstByteTimeout, cancel)
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		if code == http.StatusProcessing {
			acked.Store(true)
		}
		return nil
	}}
	ctx = httptrace.WithClientTrace(ctx, trace)
	u := "http://" + ps.addr + PeerFetchPath
	if strings.Contains(ps.addr, "://") {
		u = strings.TrimSuffix(ps.addr, "/") + PeerFetchPath
	}
	pr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		short.Stop()
		long.Stop()
		cancel()
		return nil, peerError, err
	}
	h := req.Header.Clone()
	applied := p.shield.Applied() // after the flight's fence: see the README
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h[hdrPeerFrom] = []string{p.node}
	h[hdrPeerHost] = []string{ps.host}
	h[hdrPeerURI] = []string{ps.uri}
	h[hdrPeerApplied] = []string{applied}
	h[hdrPeerTime] = []string{ts}
	if secrets := p.shield.Secrets(); len(secrets) > 0 {
		h[hdrPeerSig] = []string{peerSignature(secrets[0], ts, p.node, ps.host, ps.uri, applied)}
	}
	delete(h, "Host")
	pr.Header = h
	resp, err := p.peerClient.Do(pr)
	short.Stop()
	if err != nil {
		long.Stop()
		cancel()
		if timedOut.Load() {
			return nil, peerTimeout, err
		}
		return nil, peerError, err
	}
	long.Stop()
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	if resp.Header.Get(hdrPeer) == "" {
		return resp, peerRefused, fmt.Errorf("owner %s answered %s without its mark", ps.owner, resp.Status)
	}
	delete(resp.Header, hdrPeer)
	delete(resp.Header, "X-Cache")
	switch {
	case resp.StatusCode >= 500:
		return resp, peerServerError, fmt.Errorf("owner %s answered %s", ps.owner, resp.Status)
	case resp.StatusCode == http.StatusNotModified:
		return resp, peerNotModified, nil
	}
	return resp, peerOK, nil
}

// cancelBody releases a peer fetch's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// peerSignature authenticates a peer fetch: HMAC-SHA256 over the fields
// that decide what is fetched and what may answer it.
func peerSignature(secret []byte, ts, from, host, uri, applied string) string {
	m := hmac.New(sha256.New, secret)
	for _, v := range [...]string{"meshcdn-peer-fetch-v1", ts, from, host, uri, applied} {
		m.Write([]byte(v))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

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

// newPeerClient is the client of peer fetches: no environment proxy, no
// compression (bytes pass as the origin encoded them), bounded headers.
func newPeerClient(dial time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:           1024,
			MaxIdleConnsPerHost:    256,
			IdleConnTimeout:        90 * time.Second,
			DisableCompression:     true,
			MaxResponseHeaderBytes: maxResponseHeader,
			WriteBufferSize:        32 << 10,
			ReadBufferSize:         32 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
