package edge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/meshcdn/meshcdn/edge/httpcache"
	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// request is one request's state on its way through the stages; it lives
// on ServeHTTP's stack.
type request struct {
	r      *http.Request
	s      *site
	start  time.Time
	loc    geo.Location
	client netip.Addr
	debug  bool
	facts  reqFacts
	honor  bool // the site honours the client's Cache-Control
	cc     clientCC

	status  int
	bytes   int64
	result  int
	err     error
	aborted error  // the body broke off after the headers were sent
	store   string // a fetch for the cache: what became of the response (stored, or why not)

	peer    *peerInfo   // an authenticated peer fetch (shield.go); nil for clients
	arrival store.Fence // the store's fence when the request missed (await)
}

// lookup is the lookup stage, the one place the store is asked for a
// request's variant: primary key, and the variant the stored Vary selects
// for the request's header. A peer fetch from a node that has applied
// purges this one has not finds nothing: this node may still hold what one
// of them removed (shield.go).
func (p *Proxy) lookup(rq *request, primary string) lookup {
	lk := lookup{primary: primary}
	if rq.peer != nil && !rq.peer.covered {
		return lk
	}
	h := rq.r.Header
	lk.obj, lk.found = p.store.Lookup(primary, func(v []string) string {
		lk.vary = v
		lk.sec = secondaryKey(v, h)
		return lk.sec
	})
	return lk
}

// lookup is the outcome of the lookup stage.
type lookup struct {
	primary string
	obj     *store.Object // the selected variant, nil if none
	found   bool          // some variant of primary is stored
	vary    []string      // the stored Vary of primary
	sec     string        // this request's secondary key under vary
	own     bool          // fetch alone: the stored variant may not answer this request (reusable)
}

// reusable reports whether a stored response may answer rq. A request
// with Authorization is answered from the cache only with a response whose
// directives permit reuse for such requests (public, s-maxage or
// must-revalidate: store.Object.Shared, RFC 9111 §3.5), whoever it was
// fetched for: an origin that answers credentials differently and says
// nothing else is never made to serve one user's view to another, nor the
// anonymous view to a signed-in user. Other requests: any stored response.
func reusable(rq *request, o *store.Object) bool {
	return o.Shared || rq.facts&hasAuthorization == 0
}

// clientCC is the client's Cache-Control, used when the site honours it.
type clientCC struct {
	noCache, onlyIfCached      bool
	maxAge, minFresh, maxStale time.Duration // -1 absent
}

func parseClientCC(h http.Header) clientCC {
	d := httpcache.ParseCacheControl(h["Cache-Control"])
	cc := clientCC{noCache: d.NoCache, onlyIfCached: d.OnlyIfCached, maxAge: d.MaxAge, minFresh: d.MinFresh, maxStale: d.MaxStale}
	if len(h["Cache-Control"]) == 0 {
		for _, v := range h["Pragma"] { // RFC 9111 §5.4
			if strings.Contains(strings.ToLower(v), "no-cache") {
				cc.noCache = true
			}
		}
	}
	return cc
}

// ServeHTTP handles one request on the edge listener.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := request{r: r, start: time.Now(), result: resSynth}
	p.serve(w, &rq)
	p.finish(&rq)
	if rq.aborted != nil || rq.status == statusClientClosed {
		// The status line is out; only cutting the connection tells the
		// client that the body is incomplete. (A client that left gets
		// nothing: not even the empty 200 net/http would write.)
		panic(http.ErrAbortHandler)
	}
}

func (p *Proxy) serve(w http.ResponseWriter, rq *request) {
	r := rq.r
	if r.Header == nil {
		r.Header = http.Header{}
	}
	s := p.siteFor(r.Host)
	if s == nil {
		p.synth(w, rq, http.StatusNotFound, "no site is configured for this host name", nil, nil)
		return
	}
	rq.s = s
	if len(s.remove) > 0 {
		w = &removeWriter{ResponseWriter: w, names: s.remove}
	}
	rq.facts = p.scan(r.Header, s)
	rq.debug = rq.facts&hasDebug != 0 || rq.peer != nil // a peer stores the surrogate headers too
	p.recvHost(rq)
	if r.Method == "PURGE" {
		p.servePurge(w, rq)
		return
	}
	if p.redirectHTTPS(w, rq, s) {
		return
	}
	if rq.peer == nil { // a peer states the original client's (authenticated)
		p.recvGeo(rq)
	}
	if r.Method == http.MethodConnect {
		p.synth(w, rq, http.StatusMethodNotAllowed, "CONNECT is not supported by a reverse proxy", nil, nil)
		return
	}
	if fwd := passReason(rq); fwd != "" {
		p.pass(w, rq, fwd)
		return
	}
	if s.HonorClientCacheControl {
		rq.honor = true
		rq.cc = parseClientCC(r.Header)
	}

	lk := p.lookup(rq, store.KeyFor(r.Host, r.URL.EscapedPath(), r.URL.RawQuery))

	fwd := "uri-miss"
	if o := lk.obj; o != nil && !reusable(rq, o) {
		// Not for this request; the stored copy stays for the others.
		lk.obj, lk.own, fwd = nil, true, "request"
	} else if o != nil {
		now := rq.start
		v, ttl, why := p.judge(rq, o, now)
		switch v {
		case vFresh:
			rq.result = resHit
			p.deliverObject(w, rq, o, o.Age(now), xcacheHit, p.status.hitValue(ttl))
			return
		case vStale:
			rq.result = resStale
			p.refresh(rq, &lk)
			p.deliverObject(w, rq, o, o.Age(now), xcacheHit,
				p.status.format(httpcache.CacheStatus{Hit: true, TTL: ttl, HasTTL: true, Detail: "stale-while-revalidate"}))
			return
		}
		fwd = why
	} else if lk.found {
		fwd = "vary-miss"
	}
	if rq.honor && rq.cc.onlyIfCached {
		p.synth(w, rq, http.StatusGatewayTimeout, "not in cache (only-if-cached)", xcacheMiss,
			p.status.format(httpcache.CacheStatus{Detail: "only-if-cached"}))
		return
	}
	p.miss(w, rq, &lk, fwd)
}

// recvHost settles the scheme the request came with and normalises its
// Host for the key, the purges and the origin alike (store.NormalHost:
// lower case, without the default port of that scheme only). The scheme is
// the one the origin is told, settled before the lookup so that a response
// with Vary: X-Forwarded-Proto is found again (absent, it is "http":
// secondaryKey reads it so, and originHeader sends it).
func (p *Proxy) recvHost(rq *request) {
	r := rq.r
	scheme := "http"
	if r.TLS != nil || rq.facts&hasProto != 0 {
		proto := p.forwardedProto(r)
		r.Header["X-Forwarded-Proto"] = proto
		scheme = proto[0]
	}
	r.Host = store.NormalHost(scheme, r.Host)
}

// recvGeo removes client-supplied geo headers (a client must never choose
// its own variant) and sets the edge's. Removed are the site's geo header
// names and every spelling of them with '_' for '-' in any case
// (X_Geo_Country_Code): CGI, PHP and other stacks map '_' and '-' to the
// same variable, so such a header would reach the origin as the real one.
func (p *Proxy) recvGeo(rq *request) {
	h, s := rq.r.Header, rq.s
	if rq.facts&hasGeo != 0 {
		delete(h, s.countryKey)
		delete(h, s.continentKey)
		for k := range h {
			if s.isGeoName(k) {
				delete(h, k)
			}
		}
	}
	if p.geo == nil {
		return
	}
	rq.client, rq.loc = p.geo.Resolve(rq.r.RemoteAddr, h)
	h[s.countryKey] = countryValue(rq.loc.Country)
	h[s.continentKey] = continentValue(rq.loc.Continent)
}

// passReason says why a request bypasses the cache ("" = it does not):
// the Cache-Status fwd value.
func passReason(rq *request) string {
	r, s := rq.r, rq.s
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "method"
	}
	// Authorization does not pass: such a request is looked up like any
	// other, and its response is stored only with the permission of RFC
	// 9111 §3.5 (httpcache.Decide, reason "authorization").
	if r.ContentLength != 0 {
		return "bypass"
	}
	if s.PassCookie != nil && rq.facts&hasCookie != 0 && passCookie(s.PassCookie, r.Header["Cookie"]) {
		return "bypass"
	}
	return ""
}

// reqFacts are the request header fields the stages look at, found in
// one pass (most requests have none of them, and proving absence by map
// lookups costs more than walking a small header).
type reqFacts uint8

const (
	hasAuthorization reqFacts = 1 << iota
	hasCookie
	hasPrecondition // If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since
	hasRange
	hasDebug // the debug header with a value other than "" or "0"
	hasGeo   // a client-supplied geo header of this site (or a '_' spelling of one)
	hasProto // X-Forwarded-Proto
)

func (p *Proxy) scan(h http.Header, s *site) reqFacts {
	var f reqFacts
	if len(h) > 12 {
		for _, k := range [...]string{"Authorization", "Cookie", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "Range", "X-Forwarded-Proto", p.debugKey, s.countryKey, s.continentKey} {
			if v, ok := h[k]; ok {
				f |= p.fact(k, v, s)
			}
		}
		if f&hasGeo == 0 {
			// A '_' spelling is found only by walking (no allocation: one
			// length comparison for most fields).
			for k, v := range h {
				if len(v) > 0 && s.isGeoName(k) {
					f |= hasGeo
					break
				}
			}
		}
		return f
	}
	for k, v := range h {
		f |= p.fact(k, v, s)
	}
	return f
}

func (p *Proxy) fact(k string, v []string, s *site) reqFacts {
	if len(v) == 0 {
		return 0
	}
	switch k {
	case "Authorization":
		return hasAuthorization
	case "Cookie":
		return hasCookie
	case "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since":
		return hasPrecondition
	case "Range":
		return hasRange
	case "X-Forwarded-Proto":
		return hasProto
	}
	switch {
	case k == p.debugKey:
		if v[0] != "" && v[0] != "0" {
			return hasDebug
		}
	case k == s.countryKey || k == s.continentKey || s.isGeoName(k):
		return hasGeo
	}
	return 0
}

// isGeoName reports whether the field name k is one of the site's geo
// header names when '_' is read as '-' and letters are compared
// case-insensitively.
func (s *site) isGeoName(k string) bool {
	return foldedNameEqual(k, s.countryKey) || foldedNameEqual(k, s.continentKey)
}

// foldedNameEqual reports whether two field names are equal when '_' is
// read as '-' and letters are compared case-insensitively (CGI, WSGI, PHP
// and Rack make both the same variable).
func foldedNameEqual(k, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		if a, b := k[i], name[i]; a != b && foldNameByte(a) != foldNameByte(b) {
			return false
		}
	}
	return true
}

// foldNameByte is c of a field name with '_' read as '-', in lower case.
func foldNameByte(c byte) byte {
	if c == '_' {
		return '-'
	}
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// passCookie reports whether a cookie name matches re.
func passCookie(re *regexp.Regexp, lines []string) bool {
	for _, line := range lines {
		for line != "" {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			name := part
			if i := strings.IndexByte(part, '='); i >= 0 {
				name = part[:i]
			}
			name = strings.TrimSpace(name)
			if name != "" && re.MatchString(name) {
				return true
			}
		}
	}
	return false
}

type verdict int

const (
	vFresh      verdict = iota // deliver
	vStale                     // deliver stale, refresh in the background
	vRevalidate                // go to the origin (conditionally if validators)
)

// judge decides what a stored object is good for (RFC 9111 §4.2, §4.3,
// RFC 5861): the verdict, its ttl and, when it must go forward, why
// (the Cache-Status fwd value).
func (p *Proxy) judge(rq *request, o *store.Object, now time.Time) (verdict, time.Duration, string) {
	ttl := o.TTL(now)
	fresh := ttl > 0
	if fresh && p.beforeCutoff(o) {
		fresh, ttl = false, -1
	}
	if o.NoCache {
		return vRevalidate, ttl, "stale"
	}
	staleness := max(-ttl, 0)
	if rq.honor {
		cc := &rq.cc
		if cc.noCache || (cc.maxAge >= 0 && o.Age(now) > cc.maxAge) || (fresh && cc.minFresh >= 0 && ttl < cc.minFresh) {
			return vRevalidate, ttl, "request"
		}
		if !fresh && !o.MustRevalidate && cc.maxStale >= 0 && staleness <= cc.maxStale {
			return vStale, ttl, ""
		}
	}
	if fresh {
		return vFresh, ttl, ""
	}
	if !o.MustRevalidate && o.SWR > 0 && staleness <= o.SWR {
		return vStale, ttl, ""
	}
	return vRevalidate, ttl, "stale"
}

// beforeCutoff: the object predates Config.StaleCutoff (treated as stale).
func (p *Proxy) beforeCutoff(o *store.Object) bool {
	return p.cfg.StaleCutoff != nil && o.ResponseTime.Before(p.cfg.StaleCutoff())
}

// miss waits for (or starts) the origin fetch and answers from it.
func (p *Proxy) miss(w http.ResponseWriter, rq *request, lk *lookup, fwd string) {
	rq.arrival = p.store.Fence() // purges up to here came before this request (await)
	private := lk.own
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// Re-queued: the world changed; look again.
			nlk := p.lookup(rq, lk.primary)
			if o := nlk.obj; o != nil && !reusable(rq, o) {
				nlk.obj, private, fwd = nil, true, "request"
			}
			if o := nlk.obj; o != nil && !private {
				now := time.Now()
				if v, ttl, _ := p.judge(rq, o, now); v == vFresh {
					rq.result = resHit
					p.deliverObject(w, rq, o, o.Age(now), xcacheHit, p.status.hitValue(ttl))
					return
				}
			}
			*lk = nlk
		}
		if attempt >= 3 {
			private = true
		}
		f, rd, leader, fresh, out, err := p.join(rq, lk, private, fwd != "request")
		if err != nil {
			p.synth(w, rq, http.StatusLoopDetected, err.Error(), xcacheMiss, nil)
			return
		}
		switch out {
		case joinFresh:
			if !reusable(rq, fresh) {
				private, fwd = true, "request"
				continue
			}
			now := time.Now()
			rq.result = resHit
			p.deliverObject(w, rq, fresh, fresh.Age(now), xcacheHit, p.status.hitValue(fresh.TTL(now)))
			return
		case joinHitForMiss:
			p.m.hitForMiss.Inc()
			private, fwd = true, "miss"
			continue
		}
		switch p.await(w, rq, lk, f, rd, leader, fwd, out == joinStreaming) {
		case awaitDone:
			return
		case awaitAlone:
			p.m.hitForMiss.Inc()
			private, fwd = true, "miss"
		case awaitPurged:
			private, fwd = true, "miss"
		}
	}
}

// sharedWith reports whether a collapsed request may take the flight's
// result: as it may take a stored response (reusable).
func sharedWith(rq *request, res *flightResult) bool {
	return res.shared || rq.facts&hasAuthorization == 0
}

// awaitResult is what a request does after waiting on a flight.
type awaitResult uint8

const (
	awaitDone    awaitResult = iota // answered
	awaitRequeue                    // not its variant: look up and join again
	awaitAlone                      // not for it: fetch alone (hit-for-miss)
	awaitPurged                     // a purge that began before it fenced the flight: fetch alone
)

// await waits for the flight's result and answers from it, or says why
// the request must re-queue.
//
// A request that arrived after a purge must not take a response the purge
// fenced (a matching purge came after the flight's fence: the origin may
// have answered before the change the purge announced). The requests that
// were waiting before the purge may: they began before it. Known when the
// body was stored (or refused) before the headers went out — most
// responses —, not for a body still streaming in.
func (p *Proxy) await(w http.ResponseWriter, rq *request, lk *lookup, f *flight, rd *bodyReader, leader bool, fwd string, streaming bool) awaitResult {
	r := rq.r
	defer rd.close()
	select {
	case <-f.ready:
	case <-r.Context().Done():
		if leader {
			p.leave(f)
		}
		rq.status = statusClientClosed
		rq.result = resMiss
		return awaitDone
	}
	res := &f.res
	collapsed := !leader
	now := time.Now()
	switch res.kind {
	case resError:
		if collapsed {
			p.m.collapsed.Inc()
		}
		if lk.obj != nil && res.staleOK && p.staleIfErrorOK(lk.obj, now) {
			rq.result = resStale
			p.deliverObject(w, rq, lk.obj, lk.obj.Age(now), xcacheHit, p.status.format(httpcache.CacheStatus{
				Fwd: "stale", FwdStatus: res.fwdStatus, TTL: lk.obj.TTL(now), HasTTL: true, Collapsed: collapsed, Detail: "stale-if-error"}))
			return awaitDone
		}
		code := http.StatusBadGateway
		switch {
		case res.code == http.StatusServiceUnavailable && res.fwdStatus == 0:
			code = res.code // not sent: the origin's connections and queue are full
		case res.code == http.StatusGatewayTimeout || (res.fwdStatus == 0 && lk.obj != nil && lk.obj.MustRevalidate):
			code = http.StatusGatewayTimeout // RFC 9111 §5.2.2.2: 504 when a must-revalidate copy cannot be revalidated
		}
		p.synth(w, rq, code, originErrorText(res.code), xcacheMiss, p.status.format(httpcache.CacheStatus{
			Fwd: fwd, FwdStatus: res.fwdStatus, Collapsed: collapsed, Detail: originErrorDetail(res.code)}))
		return awaitDone
	case resObject:
		if collapsed && (res.leaderOnly || !sharedWith(rq, res)) {
			return awaitAlone // freshened by a 304 that may not be shared, or not for rq
		}
		if collapsed && secondaryKey(f.vary, r.Header) != f.sec {
			return awaitRequeue
		}
		if collapsed && res.outcome == storeFenced && rq.arrival > f.fence {
			return awaitPurged
		}
		if collapsed {
			p.m.collapsed.Inc()
		}
		rq.result = resMiss
		rq.store = res.reason
		detail := ""
		if res.storable {
			rq.store = res.outcome.String()
			if res.outcome != storeStored {
				detail = rq.store
			}
		}
		p.deliverObject(w, rq, res.obj, res.obj.Age(now), xcacheMiss, p.status.format(httpcache.CacheStatus{
			Fwd: fwd, FwdStatus: res.fwdStatus, TTL: res.ttl, HasTTL: res.storable, Stored: res.outcome == storeStored,
			Collapsed: collapsed, Detail: detail}))
		return awaitDone
	case resUncacheable:
		if !leader {
			return awaitAlone
		}
		rq.result = resMiss
		rq.store = res.reason
		defer func() {
			res.resp.Body.Close()
			res.it.stop()
			res.cancel()
		}()
		p.copyResponse(w, rq, res.resp, xcacheMiss, p.status.format(httpcache.CacheStatus{
			Fwd: fwd, FwdStatus: res.fwdStatus, Detail: res.reason}))
		return awaitDone
	default: // resStream
		if collapsed && !sharedWith(rq, res) {
			return awaitAlone
		}
		if collapsed && secondaryKey(f.vary, r.Header) != f.sec {
			return awaitRequeue
		}
		// Cache-Status says "stored" only for a body in the cache as the
		// headers go out; otherwise "storing" (still arriving) or why not.
		o := res.outcome
		if o == storePending {
			o = f.body.result()
		}
		if collapsed && o == storeFenced && rq.arrival > f.fence {
			return awaitPurged
		}
		defer func() { rq.store = f.body.result().String() }()
		if streaming {
			// Joined a response already on its way into the cache.
			rq.result = resHit
			p.deliverStream(w, rq, f, rd, false, xcacheHit, p.status.format(httpcache.CacheStatus{
				Hit: true, TTL: res.ttl, HasTTL: true, Detail: "streaming"}))
			return awaitDone
		}
		if collapsed {
			p.m.collapsed.Inc()
		}
		rq.result = resMiss
		detail := ""
		if o != storeStored {
			detail = o.String()
		}
		p.deliverStream(w, rq, f, rd, leader, xcacheMiss, p.status.format(httpcache.CacheStatus{
			Fwd: fwd, FwdStatus: res.fwdStatus, TTL: res.ttl, HasTTL: true, Stored: o == storeStored,
			Collapsed: collapsed, Detail: detail}))
		return awaitDone
	}
}

// secondaryKey is the variant key of a request: the normalised values of
// the request header fields named by vary (canonical, sorted). Accept-Encoding
// is reduced to the one coding the cache keys on; a well-formed
// Accept-Language is put in canonical form (the one fetchHeader sends the
// origin); credentials are keyed by a keyed hash, never in clear. Long keys
// are hashed.
func secondaryKey(vary []string, h http.Header) string {
	if len(vary) == 0 {
		return ""
	}
	var buf [256]byte
	b := buf[:0]
	for _, name := range vary {
		b = append(b, name...)
		b = append(b, '=')
		vals := h[name]
		if name == "X-Forwarded-Proto" && len(vals) == 0 {
			vals = protoHTTP // what the origin is sent when nobody says otherwise
		}
		switch name {
		case "Accept-Encoding":
			switch len(vals) {
			case 0:
			case 1:
				b = append(b, httpcache.NormalizeAcceptEncoding(vals[0])...)
			default:
				b = append(b, httpcache.NormalizeAcceptEncoding(strings.Join(vals, ","))...)
			}
		case "Accept-Language":
			var ok bool
			if b, ok = httpcache.AppendAcceptLanguage(b, vals); !ok {
				b = appendFieldValues(b, vals)
			}
		case "Authorization", "Proxy-Authorization", "Cookie":
			b = appendCredential(b, vals)
		default:
			b = appendFieldValues(b, vals)
		}
		b = append(b, '\n')
	}
	if len(b) > 512 {
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return string(b)
}

// appendFieldValues appends the list members of vals trimmed of
// whitespace and joined by ","; control bytes and '%' are %-escaped so that
// the key stays unambiguous.
func appendFieldValues(b []byte, vals []string) []byte {
	first := true
	for _, v := range vals {
		for v != "" {
			var m string
			if i := strings.IndexByte(v, ','); i >= 0 {
				m, v = v[:i], v[i+1:]
			} else {
				m, v = v, ""
			}
			m = strings.Trim(m, " \t")
			if m == "" {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			for i := 0; i < len(m); i++ {
				c := m[i]
				if c < 0x20 || c == 0x7f || c == '%' {
					b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
					continue
				}
				b = append(b, c)
			}
		}
	}
	return b
}

const hexDigits = "0123456789ABCDEF"

// credentialKey keys the hash of credentials in variant keys; it lives as
// long as the process, as the store does.
var credentialKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (it crashes the program instead)
	return k
}()

// appendCredential appends the values of a credential field (Authorization,
// Cookie) as a response with Vary on it needs them: an HMAC-SHA256 of their
// normalised form under a per-process random key. Equal values give equal
// keys, and the variant key kept with the stored object (and in the
// flight table) holds no token, password or session id in clear, nor a plain
// hash that a short password could be found from. Absent and empty values
// append nothing, as for any field.
func appendCredential(b []byte, vals []string) []byte {
	// The value is gathered in a buffer of its own: handing b to the hash
	// (an interface) would move every caller's key buffer to the heap.
	v := appendFieldValues(nil, vals)
	if len(v) == 0 {
		return b
	}
	m := hmac.New(sha256.New, credentialKey)
	m.Write(v)
	clear(v)
	var sum [sha256.Size]byte
	b = append(b, "hmac:"...)
	return hex.AppendEncode(b, m.Sum(sum[:0]))
}

// Geo header values, shared read-only.
var (
	countryValues   [26 * 26][]string
	continentValues [len(continentCodes)][]string
	unknownValue    = []string{geo.Unknown}
)

func init() {
	for i := range countryValues {
		countryValues[i] = []string{string([]byte{byte('A' + i/26), byte('A' + i%26)})}
	}
	for i, c := range continentCodes {
		continentValues[i] = []string{c}
	}
}

func countryValue(c string) []string {
	if len(c) != 2 {
		return unknownValue
	}
	a, b := c[0]&^0x20, c[1]&^0x20 // upper-case ASCII letters
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return unknownValue
	}
	return countryValues[int(a-'A')*26+int(b-'A')]
}

func continentValue(c string) []string {
	return continentValues[continentIndex(c)]
}
