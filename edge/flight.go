package edge

import (
	"context"
	"errors"
	"hash/maphash"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/meshcdn/meshcdn/edge/httpcache"
	"github.com/meshcdn/meshcdn/store"
)

// A flight is one origin fetch for a cache miss or revalidation that any
// number of requests for the same object wait on (request collapsing).
//
// The flight table groups flights by primary key. A request joins a flight
// whose secondary key (computed under the flight's Vary) equals its own.
// Before the response arrives a flight started on a URL miss matches every
// request; when the response's Vary is known, each waiter checks whether the
// response is its variant and re-queues if not.
type flight struct {
	primary   string
	vary      []string    // Vary the secondary key is computed under (nil: none or unknown)
	sec       string      // the leader's secondary key under vary
	reqHeader http.Header // the origin request's header (to recompute sec)
	stale     *store.Object
	private   bool        // not in the table: a hit-for-miss or overflow fetch nobody joins
	ranged    bool        // a hit-for-miss fetch that forwards the client's Range and If-Range
	src       source      // where the fetch goes (nil: the origin)
	fence     store.Fence // taken when the flight was created, before its request: a purge after it fences the response
	body      *streamBody
	ready     chan struct{} // closed once res is set
	res       flightResult

	leaderGone bool // guarded by flightTable.mu: nobody will take res.resp
	published  bool // guarded by flightTable.mu: res is set
	lateOK     bool // guarded by flightTable.mu: requests arriving now may use the response (fresh)
}

type resultKind int

const (
	resStream      resultKind = iota // storable: the body streams through body
	resObject                        // revalidated (304): res.obj is complete
	resUncacheable                   // not storable: res.resp belongs to the leader, the others re-queue
	resError                         // the fetch failed: res.code is 502/504
)

type flightResult struct {
	kind         resultKind
	status       int
	header       http.Header // delivered to waiters (stripped of private/no-cache fields)
	leaderHeader http.Header // delivered to the leader
	size         int64       // Content-Length or -1
	obj          *store.Object
	resp         *http.Response // resUncacheable: the leader streams it
	cancel       context.CancelFunc
	it           *idleTimer
	code         int  // resError: status for the client
	fwdStatus    int  // the origin's status (0 when none)
	storable     bool // the cache meant to store the response
	ttl          time.Duration
	initialAge   time.Duration
	respTime     time.Time
	noCache      bool
	reason       string       // why not storable
	outcome      storeOutcome // storable: what became of it when the headers went out
	leaderOnly   bool         // resObject that may not be shared: the waiters re-queue
	shared       bool         // reusable for requests with Authorization (Decision.Shared)
	staleOK      bool         // resError from a 5xx the stale copy may hide (stale-if-error)
}

type flightTable struct {
	mu     sync.Mutex
	groups map[string][]*flight
	// hit-for-miss: hash of primary → until (unix nanos). Keyed by a
	// seeded 64-bit hash, not the URL, so that the table costs a fixed
	// ~40 bytes per entry however long the URLs (a collision, 2^-64 per
	// pair and not choosable without the seed, only makes one URL's misses
	// go to the origin uncollapsed for a while). A fetch made with
	// Authorization marks the URL for requests with Authorization only
	// (its own key): what the origin answers one user says nothing about
	// the anonymous response, and any client can send a bogus credential.
	hfm     map[uint64]int64
	hfmSeed maphash.Seed
}

func (t *flightTable) init() {
	t.groups = map[string][]*flight{}
	t.hfm = map[uint64]int64{}
	t.hfmSeed = maphash.MakeSeed()
}

// hfmAuthScope turns a URL's hit-for-miss key into the one for requests
// with Authorization.
const hfmAuthScope = 0x9e3779b97f4a7c15

func (t *flightTable) hfmKey(primary string, auth bool) uint64 {
	k := maphash.String(t.hfmSeed, primary)
	if auth {
		k ^= hfmAuthScope
	}
	return k
}

// hitForMissLocked reports whether primary recently answered uncacheable
// to a request like this one (auth: it carries Authorization; such a
// request also heeds the mark an anonymous fetch left).
func (t *flightTable) hitForMissLocked(primary string, auth bool, now time.Time) bool {
	if t.hitForMissKeyLocked(t.hfmKey(primary, false), now) {
		return true
	}
	return auth && t.hitForMissKeyLocked(t.hfmKey(primary, true), now)
}

func (t *flightTable) hitForMissKeyLocked(k uint64, now time.Time) bool {
	until, ok := t.hfm[k]
	if !ok {
		return false
	}
	if now.UnixNano() < until {
		return true
	}
	delete(t.hfm, k)
	return false
}

// markHitForMiss remembers that primary answered uncacheable until d from
// now, to requests with Authorization when auth.
func (t *flightTable) markHitForMiss(primary string, auth bool, d time.Duration) {
	k := t.hfmKey(primary, auth)
	now := time.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.hfm) >= maxHitForMiss {
		for k, until := range t.hfm {
			if now >= until {
				delete(t.hfm, k)
			}
		}
		if len(t.hfm) >= maxHitForMiss {
			for k := range t.hfm { // drop an arbitrary eighth
				delete(t.hfm, k)
				if len(t.hfm) < maxHitForMiss*7/8 {
					break
				}
			}
		}
	}
	t.hfm[k] = now + int64(d)
}

func (t *flightTable) clearHitForMiss(primary string, auth bool) {
	k := t.hfmKey(primary, auth)
	t.mu.Lock()
	delete(t.hfm, k)
	t.mu.Unlock()
}

// removeLocked takes f out of its group.
func (t *flightTable) removeLocked(f *flight) {
	g := t.groups[f.primary]
	for i, x := range g {
		if x == f {
			g = append(g[:i:i], g[i+1:]...)
			break
		}
	}
	if len(g) == 0 {
		delete(t.groups, f.primary)
	} else {
		t.groups[f.primary] = g
	}
}

// findLocked returns the joinable flight for a request with header h. A
// peer fetch joins only flights begun after it waited for the child's
// purges (shield.go).
func (t *flightTable) findLocked(primary string, h http.Header, peer *peerInfo) *flight {
	for _, f := range t.groups[primary] {
		if f.published && !f.lateOK {
			continue // stale on arrival or no-cache: only for the requests that waited
		}
		if peer != nil && f.fence < peer.minFence {
			continue
		}
		if secondaryKey(f.vary, h) == f.sec && f.body.joinable() {
			return f
		}
	}
	return nil
}

// joinOutcome is what a missing request does next.
type joinOutcome int

const (
	joinWait       joinOutcome = iota // wait on the flight (leader or not)
	joinStreaming                     // the flight's response is already streaming
	joinFresh                         // a fresh object appeared meanwhile
	joinHitForMiss                    // go to the origin uncollapsed
)

// join finds the flight for a request that missed (or found the stale
// object stale), or starts one. lk is the lookup the request made.
func (p *Proxy) join(rq *request, lk *lookup, private, allowFresh bool) (f *flight, rd *bodyReader, leader bool, fresh *store.Object, out joinOutcome, err error) {
	r, s := rq.r, rq.s
	if p.looped(r) {
		return nil, nil, false, nil, joinWait, errLoop
	}
	auth := rq.facts&hasAuthorization != 0
	t := &p.flights
	t.mu.Lock()
	if !private {
		if t.hitForMissLocked(lk.primary, auth, rq.start) {
			t.mu.Unlock()
			return nil, nil, false, nil, joinHitForMiss, nil
		}
		if f = t.findLocked(lk.primary, r.Header, rq.peer); f != nil {
			if rd = f.body.attach(); rd != nil {
				out = joinWait
				if f.published {
					out = joinStreaming // the response is known: like a hit on a busy object
				}
				t.mu.Unlock()
				return f, rd, false, nil, out, nil
			}
		}
		// A flight may have finished between the lookup and now: look again.
		if allowFresh {
			o := p.lookup(rq, lk.primary).obj
			if o != nil && o != lk.obj && o.TTL(time.Now()) > 0 && !o.NoCache && !p.beforeCutoff(o) {
				t.mu.Unlock()
				return nil, nil, false, o, joinFresh, nil
			}
		}
		if len(t.groups[lk.primary]) >= maxFlightsPerKey {
			private = true
		}
	}
	// A request for a URL known to be uncacheable (or too large to store)
	// is a pass in all but name: its Range goes to the origin, so that a
	// range of a large object does not fetch the whole of it.
	ranged := private && lk.obj == nil && rq.facts&hasRange != 0 && len(r.Header["Range"]) == 1 &&
		t.hitForMissLocked(lk.primary, auth, rq.start)
	vary, sec := lk.vary, lk.sec
	if !lk.found && !private {
		// URL miss: if a running flight already knows the response's Vary,
		// compute this request's variant under it.
		for _, g := range t.groups[lk.primary] {
			if g.vary != nil {
				vary = g.vary
				sec = secondaryKey(vary, r.Header)
				break
			}
		}
	}
	f = &flight{primary: lk.primary, vary: vary, sec: sec, stale: lk.obj, private: private, ranged: ranged, fence: p.store.Fence(),
		body: newStreamBody(s.maxObject, &p.fetchBudget), ready: make(chan struct{})}
	rd = f.body.attach()
	if !private {
		t.groups[lk.primary] = append(t.groups[lk.primary], f)
	}
	t.mu.Unlock()
	p.startFlight(f, rq)
	return f, rd, true, nil, joinWait, nil
}

// refresh starts a background revalidation of the stale object o unless a
// fetch for that variant is already running (one refresh per object).
func (p *Proxy) refresh(rq *request, lk *lookup) {
	r := rq.r
	t := &p.flights
	t.mu.Lock()
	for _, f := range t.groups[lk.primary] {
		if secondaryKey(f.vary, r.Header) == f.sec {
			t.mu.Unlock()
			return
		}
	}
	if p.looped(r) {
		t.mu.Unlock()
		return
	}
	f := &flight{primary: lk.primary, vary: lk.vary, sec: lk.sec, stale: lk.obj, fence: p.store.Fence(),
		body: newStreamBody(rq.s.maxObject, &p.fetchBudget), ready: make(chan struct{}), leaderGone: true}
	t.groups[lk.primary] = append(t.groups[lk.primary], f)
	t.mu.Unlock()
	p.startFlight(f, rq)
}

// startFlight sends the origin request in its own goroutine, detached from
// any one client: the fetch completes (and is stored) even if the client
// that started it goes away.
func (p *Proxy) startFlight(f *flight, rq *request) {
	s, r := rq.s, rq.r
	if src := p.sourceFor(rq, f); src != nil {
		f.src = src
	}
	f.reqHeader = p.fetchHeader(r, s, f.stale) // before the goroutine: read by it only
	if f.ranged {
		for _, k := range [...]string{"Range", "If-Range"} {
			if v := r.Header[k]; len(v) > 0 {
				f.reqHeader[k] = v
			}
		}
	}
	ctx, cancel := context.WithCancel(p.ctx)
	it := newIdleTimer(s.BetweenBytesTimeout, cancel)
	req := p.originRequest(ctx, s, http.MethodGet, r, f.reqHeader)
	p.wg.Add(1)
	p.fetching.Add(1)
	go p.runFlight(f, s, req, ctx, cancel, it)
}

// publish sets the flight's result and wakes its waiters.
func (p *Proxy) publish(f *flight, res flightResult, vary []string, sec string, keep bool) {
	t := &p.flights
	t.mu.Lock()
	f.res = res
	f.vary, f.sec = vary, sec
	f.published = true
	f.lateOK = res.kind == resStream && res.ttl > 0 && !res.noCache
	if !keep && !f.private {
		t.removeLocked(f)
	}
	orphan := res.kind == resUncacheable && f.leaderGone
	close(f.ready)
	t.mu.Unlock()
	if orphan {
		res.resp.Body.Close()
		res.it.stop()
		res.cancel()
	}
}

// leave is called by a leader that stops waiting before the result: if the
// result holds a response for it, it is closed.
func (p *Proxy) leave(f *flight) {
	t := &p.flights
	t.mu.Lock()
	f.leaderGone = true
	var resp *http.Response
	select {
	case <-f.ready:
		if f.res.kind == resUncacheable {
			resp = f.res.resp
		}
	default:
	}
	t.mu.Unlock()
	if resp != nil {
		resp.Body.Close()
		f.res.it.stop()
		f.res.cancel()
	}
}

// runFlight is a miss after join: fetch (from the flight's source),
// decide, then publish and pump the body to the waiters, then store. It
// runs detached from any client.
func (p *Proxy) runFlight(f *flight, s *site, req *http.Request, ctx context.Context, cancel context.CancelFunc, it *idleTimer) {
	defer p.wg.Done()
	defer p.fetching.Add(-1)
	fence := f.fence
	fr, err := p.fetch(f, s, req, ctx)
	if err != nil {
		code, _ := classify(err, it)
		if errors.Is(err, errOriginBusy) {
			code = http.StatusServiceUnavailable
		}
		p.log.Warn("origin fetch failed", zapSite(s), zapURL(fr.req), zapErr(err), zapStatus(code))
		it.stop()
		cancel()
		p.publish(f, flightResult{kind: resError, code: code, staleOK: true}, f.vary, f.sec, false)
		return
	}
	resp := fr.resp
	httpcache.RemoveHopByHop(resp.Header)
	resp.Body = &timedBody{rc: resp.Body, it: it}
	status := resp.StatusCode
	if f.stale != nil && status == http.StatusNotModified && !fr.refetched {
		resp.Body.Close()
		it.stop()
		cancel()
		p.revalidated(f, s, resp.Header, fence, fr.reqTime, fr.respTime)
		return
	}
	// stale-if-error: a 5xx while a stale copy exists that may hide it.
	if status >= 500 && f.stale != nil && p.staleIfErrorOK(f.stale, fr.respTime) {
		resp.Body.Close()
		it.stop()
		cancel()
		p.publish(f, flightResult{kind: resError, code: status, fwdStatus: status, staleOK: true}, f.vary, f.sec, false)
		return
	}
	dc := p.decide(f, s, resp, fr.reqTime, fr.respTime)
	if !dc.res.storable {
		p.uncacheable(f, resp, cancel, it, dc)
		return
	}
	p.pumpAndStore(f, s, fr.req, resp, ctx, cancel, it, fence, dc, fr.reqTime)
}

// fetched is what the fetch stage got: the response headers, the request
// that got them, and when.
type fetched struct {
	req               *http.Request
	resp              *http.Response
	reqTime, respTime time.Time
	refetched         bool // the conditional fetch was repeated unconditionally
}

// fetch is the fetch stage: the request to the flight's source, repeated
// unconditionally when a 304 selects no stored response.
func (p *Proxy) fetch(f *flight, s *site, req *http.Request, ctx context.Context) (fetched, error) {
	src := f.src
	if src == nil {
		src = originSource{}
	}
	fr := fetched{req: req, reqTime: time.Now()}
	resp, err := src.fetch(p, s, f, req)
	if err == nil && f.stale != nil && resp.StatusCode == http.StatusNotModified && !httpcache.Updates304(f.stale.Header, resp.Header) {
		// RFC 9111 §4.3.4: the 304's validator matches no stored response,
		// so it must not update one: the representation changed under us.
		// Fetch it in full, unconditionally.
		resp.Body.Close()
		h := f.reqHeader.Clone()
		delete(h, "If-None-Match")
		delete(h, "If-Modified-Since")
		f.reqHeader = h
		fr.req = req.Clone(ctx)
		fr.req.Header = h
		fr.refetched = true
		fr.reqTime = time.Now()
		resp, err = src.fetch(p, s, f, fr.req)
	}
	fr.resp, fr.respTime = resp, time.Now()
	return fr, err
}

// decision is the decide stage's verdict on a response: what the waiters
// get (res), the variant it is, and the freshness it was judged with.
type decision struct {
	res  flightResult
	vary []string
	sec  string
	d    httpcache.Decision
	star bool // Vary: *
}

// decide judges a fetched response for the cache (httpcache.Decide plus
// the edge's limits) and prepares the headers clients get.
func (p *Proxy) decide(f *flight, s *site, resp *http.Response, reqTime, respTime time.Time) decision {
	status := resp.StatusCode
	vary, star := responseVary(s, resp.Header)
	sec := secondaryKey(vary, f.reqHeader)
	d := httpcache.Decide(s.policy, http.MethodGet, f.reqHeader, status, resp.Header, reqTime, respTime)
	storable := d.Storable && !star && status != http.StatusNotModified
	reason := d.Reason
	if star {
		reason = "vary-star"
	}
	if storable && resp.ContentLength > s.maxObject {
		storable, reason = false, "too-large"
	}
	if storable && !s.StoreCloseDelimited && closeDelimited(resp) {
		storable, reason = false, "close-delimited"
	}
	p.addVia(resp.Header)
	if status == http.StatusOK && len(resp.Header["Accept-Ranges"]) == 0 {
		resp.Header["Accept-Ranges"] = acceptRangesVal
	}
	if bodyAllowed(status) {
		setContentLength(resp.Header, resp.ContentLength)
	}
	res := flightResult{status: status, leaderHeader: resp.Header, header: resp.Header, size: resp.ContentLength,
		fwdStatus: status, storable: storable, reason: reason, initialAge: d.InitialAge, respTime: respTime,
		ttl: (d.Lifetime - d.InitialAge).Round(time.Second), noCache: d.NoCache, shared: d.Shared}
	if storable && len(d.StripFields) > 0 {
		res.header = resp.Header.Clone()
		for _, name := range d.StripFields {
			delete(res.header, http.CanonicalHeaderKey(name))
		}
	}
	return decision{res: res, vary: vary, sec: sec, d: d, star: star}
}

// uncacheable publishes a response the cache does not keep: the leader
// streams it, the waiters re-queue; the URL is remembered (hit-for-miss).
func (p *Proxy) uncacheable(f *flight, resp *http.Response, cancel context.CancelFunc, it *idleTimer, dc decision) {
	status := resp.StatusCode
	auth := len(f.reqHeader["Authorization"]) > 0
	if f.stale != nil && (dc.star || status < 500) && !auth {
		// The origin no longer lets this be cached: drop the stale copy
		// (not for an answer to one user's credentials).
		p.store.Delete(f.stale)
	}
	hfm := hitForMissDefault
	if status >= 500 {
		hfm = hitForMissError
	} else if dc.d.Lifetime > 0 && dc.d.Lifetime < hfm {
		hfm = dc.d.Lifetime
	}
	if !(f.ranged && (status == http.StatusPartialContent || status == http.StatusRequestedRangeNotSatisfiable)) {
		// (The answer to a forwarded Range says nothing new about the
		// whole object: the mark stays as it was.)
		p.flights.markHitForMiss(f.primary, auth, hfm)
	}
	res := dc.res
	res.kind, res.resp, res.cancel, res.it = resUncacheable, resp, cancel, it
	p.publish(f, res, dc.vary, dc.sec, false)
}

// pumpAndStore publishes a storable response and pumps its body to the
// waiters, then stores it. The first read comes before the headers go
// out: a body complete in it (most small responses) is stored first, and
// Cache-Status can say so.
func (p *Proxy) pumpAndStore(f *flight, s *site, req *http.Request, resp *http.Response, ctx context.Context,
	cancel context.CancelFunc, it *idleTimer, fence store.Fence, dc decision, reqTime time.Time) {
	res := dc.res
	res.kind = resStream
	auth := len(f.reqHeader["Authorization"]) > 0
	f.body.start(resp.ContentLength)
	if f.body.overflowed() {
		res.outcome = storeTooLarge // over the fetch budget: streamed only
	}
	buf := make([]byte, 32<<10)
	ended, rerr := pump(ctx, f.body, resp.Body, buf, true)
	first := ended
	if !ended {
		p.publish(f, res, dc.vary, dc.sec, true)
		if f.private {
			p.flights.clearHitForMiss(f.primary, auth)
		}
		_, rerr = pump(ctx, f.body, resp.Body, buf, false)
	}
	o := p.endBody(f, s, req, resp, it, cancel, rerr, fence, func(body []byte) store.Object {
		return p.object(f, s, &res, dc.vary, dc.sec, dc.d, body, reqTime)
	})
	if !first {
		p.finishFlight(f)
		return
	}
	res.outcome = o
	p.publish(f, res, dc.vary, dc.sec, false)
	if f.private {
		p.flights.clearHitForMiss(f.primary, auth)
	}
}

// endBody finishes a streamed body that ended with rerr: it stores the
// body if it is whole and kept, then tells the readers (finish), so that
// one reaching the end knows what became of it.
func (p *Proxy) endBody(f *flight, s *site, req *http.Request, resp *http.Response, it *idleTimer, cancel context.CancelFunc,
	rerr error, fence store.Fence, build func([]byte) store.Object) storeOutcome {
	resp.Body.Close()
	it.stop()
	cancel()
	defer f.body.release()
	var o storeOutcome
	if rerr != nil {
		o = bodyOutcome(rerr, it)
		if o != storeTooLarge {
			code, _ := classify(rerr, it)
			p.log.Warn("origin body failed", zapSite(s), zapURL(req), zapErr(rerr), zapStatus(code))
		}
	} else if body, ok := f.body.kept(); !ok {
		o = storeTooLarge
	} else {
		if cap(body) > len(body)+len(body)/4+512 {
			body = append([]byte(nil), body...)
		}
		obj := build(body)
		o = p.insert(&obj, fence)
	}
	if o == storeTooLarge {
		// Outgrew the limit: remember, so the next requests stream directly.
		p.flights.markHitForMiss(f.primary, len(f.reqHeader["Authorization"]) > 0, hitForMissDefault)
	}
	if o != storeStored && o != storeFenced {
		p.m.storeFailed[o.label()].Inc()
	}
	f.body.finish(rerr, o)
	return o
}

// object is the stored object of a fetched body.
func (p *Proxy) object(f *flight, s *site, res *flightResult, vary []string, sec string, d httpcache.Decision, body []byte, reqTime time.Time) store.Object {
	hdr := maps.Clone(res.header)
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	return store.Object{
		Primary: f.primary, Secondary: sec, Vary: vary,
		Status: res.status, Header: hdr, Body: body, Keys: p.surrogateKeys(s, hdr),
		RequestTime: reqTime, ResponseTime: res.respTime, InitialAge: d.InitialAge,
		Lifetime: d.Lifetime, SWR: d.SWR, SIE: d.SIE, Keep: keepFor(hdr, d.Lifetime),
		MustRevalidate: d.MustRevalidate, NoCache: d.NoCache, Shared: d.Shared,
	}
}

// revalidated handles a 304 to a conditional fetch: the stored headers are
// freshened (RFC 9111 §4.3.4) into a new object that shares the body.
func (p *Proxy) revalidated(f *flight, s *site, fresh http.Header, fence store.Fence, reqTime, respTime time.Time) {
	old := f.stale
	merged := httpcache.Merge304(old.Header, fresh)
	if v := old.Header["Content-Length"]; len(v) > 0 {
		merged["Content-Length"] = v
	}
	// The age of the freshened response is that of the 304 (RFC 9111
	// §4.2.3): the stored Age and Date describe the old response.
	for _, f := range [...]string{"Age", "Date"} {
		if _, ok := fresh[f]; !ok {
			delete(merged, f)
		}
	}
	if !viaHas(merged, p.via) {
		p.addVia(merged)
	}
	d := httpcache.Decide(s.policy, http.MethodGet, f.reqHeader, old.Status, merged, reqTime, respTime)
	// Fields named by private="…" / no-cache="…" are stored without, as
	// for a 200 (RFC 9111 §5.2.2.4, §5.2.2.7): a 304 must not bring them
	// back into the shared copy.
	for _, name := range d.StripFields {
		delete(merged, http.CanonicalHeaderKey(name))
	}
	vary, _ := responseVary(s, merged)
	sec := secondaryKey(vary, f.reqHeader)
	o := &store.Object{
		Primary: old.Primary, Secondary: sec, Vary: vary,
		Status: old.Status, Header: merged, Body: old.Body, Keys: p.surrogateKeys(s, merged),
		RequestTime: reqTime, ResponseTime: respTime, InitialAge: d.InitialAge,
		Lifetime: d.Lifetime, SWR: d.SWR, SIE: d.SIE, Keep: keepFor(merged, d.Lifetime),
		MustRevalidate: d.MustRevalidate, NoCache: d.NoCache, Shared: d.Shared,
	}
	res := flightResult{kind: resObject, obj: o, status: old.Status, fwdStatus: http.StatusNotModified,
		storable: d.Storable, reason: d.Reason, ttl: (d.Lifetime - d.InitialAge).Round(time.Second), size: int64(len(old.Body)),
		leaderOnly: !d.Storable, shared: d.Shared}
	if d.Storable {
		res.outcome = p.insert(o, fence)
	} else if len(f.reqHeader["Authorization"]) == 0 {
		// (An answer to one user's credentials says nothing about the
		// shared copy.)
		p.store.Delete(old)
	}
	p.publish(f, res, vary, sec, false)
}

// insert stores o behind the fence taken when its fetch began.
func (p *Proxy) insert(o *store.Object, fence store.Fence) storeOutcome {
	switch err := p.store.Insert(o, fence); {
	case err == nil:
		return storeStored
	case errors.Is(err, store.ErrFenced):
		p.m.fenced.Inc()
		p.log.Debug("response not stored: purged while fetched", zapKey(o.Primary))
		return storeFenced
	case errors.Is(err, store.ErrTooLarge), errors.Is(err, store.ErrExpired):
		p.log.Debug("response not stored", zapKey(o.Primary), zapErr(err))
	default:
		p.log.Warn("response not stored", zapKey(o.Primary), zapErr(err))
	}
	return storeRejected
}

// finishFlight removes a streamed flight once its object is stored (or not).
func (p *Proxy) finishFlight(f *flight) {
	if f.private {
		return
	}
	p.flights.mu.Lock()
	p.flights.removeLocked(f)
	p.flights.mu.Unlock()
}

// staleIfErrorOK reports whether o may be served because the origin failed
// (RFC 5861 §4; never with must-revalidate; no-cache only within an
// explicit stale-if-error window).
func (p *Proxy) staleIfErrorOK(o *store.Object, now time.Time) bool {
	if o == nil || o.MustRevalidate {
		return false
	}
	ttl := o.TTL(now)
	if o.NoCache || ttl <= 0 || p.beforeCutoff(o) {
		return o.SIE > 0 && -ttl <= o.SIE
	}
	return true
}

func viaHas(h http.Header, via string) bool {
	for _, v := range h["Via"] {
		if len(v) >= len(via) && (v == via || containsToken(v, via)) {
			return true
		}
	}
	return false
}

func containsToken(v, via string) bool {
	for i := 0; i+len(via) <= len(v); i++ {
		if v[i:i+len(via)] == via && (i+len(via) == len(v) || v[i+len(via)] == ',') {
			return true
		}
	}
	return false
}

func setContentLength(h http.Header, n int64) {
	if n >= 0 {
		h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	} else {
		delete(h, "Content-Length")
	}
}

var acceptRangesVal = []string{"bytes"}
