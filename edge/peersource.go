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
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// The child's side of shielding: a miss fetched from the object's owner.

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
