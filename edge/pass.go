package edge

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/meshcdn/meshcdn/edge/httpcache"
	"github.com/meshcdn/meshcdn/store"
)

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// safeMethods never invalidate (RFC 9110 §9.2.1; WebDAV's read-only ones).
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		"PROPFIND", "REPORT", "SEARCH":
		return true
	}
	return false
}

// pass sends the request to the origin as it came (method, body,
// conditionals, Range) and streams the answer back; nothing is stored.
// Unsafe methods invalidate what they changed (RFC 9111 §4.4).
func (p *Proxy) pass(w http.ResponseWriter, rq *request, fwd string) {
	r, s := rq.r, rq.s
	rq.result = resPass
	if p.looped(r) {
		p.synth(w, rq, http.StatusLoopDetected, errLoop.Error(), xcachePass, nil)
		return
	}
	h := p.originHeader(r, s)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	it := newIdleTimer(s.BetweenBytesTimeout, cancel)
	defer it.stop()
	var body *clientBody
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// On a limit, the read waiting for the client is cut short too: the
		// transport returns only once it has stopped using the body. The
		// transport may still read after this handler returned; the
		// connection is not ours to touch then (stop).
		rc := http.NewResponseController(w)
		body = newClientBody(r, s, func() {
			_ = rc.SetReadDeadline(time.Now())
			cancel()
		})
		defer body.stop()
		// A small body is read whole before the origin is contacted.
		if err := body.buffer(r.ContentLength, s.ClientBodyBuffer); err != nil {
			p.clientBodyFault(w, rq, err)
			return
		}
	}
	req := p.originRequest(ctx, s, r.Method, r, h)
	if body != nil {
		body.attach(req, r.ContentLength)
	}
	t0 := time.Now()
	resp, err := p.roundTrip(s, req)
	if err != nil {
		// The client's faults first: they are not the origin's.
		if body != nil && body.err() != nil {
			p.clientBodyFault(w, rq, body.err())
			return
		}
		if r.Context().Err() != nil {
			rq.status = statusClientClosed // the client went away first
			return
		}
		rq.err = err
		if errors.Is(err, errOriginBusy) {
			p.synth(w, rq, http.StatusServiceUnavailable, originErrorText(http.StatusServiceUnavailable), xcachePass,
				p.status.format(httpcache.CacheStatus{Fwd: fwd, Detail: originErrorDetail(http.StatusServiceUnavailable)}))
			rq.result = resPass
			return
		}
		s.m.fetchSeconds.Observe(time.Since(t0).Seconds())
		code, outcome := classify(err, it)
		s.m.fetches[outcome].Inc()
		p.synth(w, rq, code, originErrorText(code), xcachePass,
			p.status.format(httpcache.CacheStatus{Fwd: fwd, Detail: originErrorDetail(code)}))
		rq.result = resPass
		return
	}
	s.m.fetchSeconds.Observe(time.Since(t0).Seconds())
	s.m.originResponse(resp.StatusCode)
	defer resp.Body.Close()
	resp.Body = &timedBody{rc: resp.Body, it: it}
	if resp.StatusCode >= 500 {
		s.m.fetches[fetchServerError].Inc()
	} else {
		s.m.fetches[fetchOK].Inc()
	}
	httpcache.RemoveHopByHop(resp.Header)
	p.addVia(resp.Header)
	if !safeMethod(r.Method) && resp.StatusCode >= 200 && resp.StatusCode < 400 {
		p.invalidate(rq, resp.StatusCode, resp.Header)
	}
	p.copyResponse(w, rq, resp, xcachePass,
		p.status.format(httpcache.CacheStatus{Fwd: fwd, FwdStatus: resp.StatusCode}))
}

// originErrorDetail is the Cache-Status detail of an origin failure.
func originErrorDetail(code int) string {
	switch code {
	case http.StatusGatewayTimeout:
		return "origin-timeout"
	case http.StatusServiceUnavailable:
		return "origin-busy"
	}
	return "origin-unreachable"
}

func originErrorText(code int) string {
	switch code {
	case http.StatusGatewayTimeout:
		return "the origin did not answer in time"
	case http.StatusServiceUnavailable:
		return "too many requests to the origin are in progress; retry later"
	}
	return "the origin could not be reached"
}

// invalidate drops what a successful unsafe request changed (RFC 9111
// §4.4): the target URI and a Location / Content-Location of the same
// origin (scheme, host and port; httpcache.InvalidationURIs), and the
// groups named in Cache-Group-Invalidation (RFC 9875 §3) — only this
// site's groups, the ones indexed under groupKey. Both are fenced purges,
// so that a GET already on its way to the origin cannot re-insert what the
// request changed. The URIs are invalidated on this node only (the cache
// the request went through, as §4.4 asks; a purge per POST fanned out to
// every node would let write traffic flood the purge path); the groups,
// an explicit instruction from the origin, go through the proxy's purge
// function, cluster-wide.
func (p *Proxy) invalidate(rq *request, status int, h http.Header) {
	r := rq.r
	// The scheme the client used: this hop's, or a trusted TLS-terminating
	// proxy's (so that a same-origin https Location is recognised behind it).
	target := &url.URL{Scheme: p.forwardedProto(r)[0], Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	var local, pg store.Purge
	for _, u := range httpcache.InvalidationURIs(r.Method, status, target, h) {
		if u == target {
			// r.URL's own escaping, exactly as the lookup keys it.
			local.URLs = append(local.URLs, store.KeyFor(r.Host, r.URL.EscapedPath(), r.URL.RawQuery))
			continue
		}
		local.URLs = append(local.URLs, store.KeyFor(store.NormalHost(u.Scheme, u.Host), u.EscapedPath(), u.RawQuery))
	}
	n := 0
	if len(local.URLs) > 0 {
		local.Time = time.Now()
		n = p.store.Purge(local)
	}
	groups := 0
	if v := h["Cache-Group-Invalidation"]; len(v) > 0 {
		if gs, ok := httpcache.ParseCacheGroups(v); ok {
			groups = len(gs)
			for _, g := range gs {
				pg.Keys = append(pg.Keys, rq.s.groupKey(g))
			}
		}
	}
	var err error
	if len(pg.Keys) > 0 {
		pg.Time = time.Now()
		ctx, cancel := context.WithTimeout(p.ctx, purgeTimeout)
		var res PurgeResult
		res, err = p.purge(ctx, pg)
		cancel()
		n += res.Purged
	}
	if err != nil {
		p.log.Warn("unsafe-method invalidation failed", zapSite(rq.s), zapErr(err))
	} else {
		p.log.Debug("unsafe-method invalidation", zapSite(rq.s), zapInt("urls", len(local.URLs)), zapInt("groups", groups), zapInt("purged", n))
	}
}
