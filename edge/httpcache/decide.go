package httpcache

import (
	"net/http"
	"time"
)

// CacheableByDefault reports whether a status code is heuristically
// cacheable — may be stored and given heuristic freshness without explicit
// freshness information (RFC 9110 §15.1).
func CacheableByDefault(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports whether the cache implements the semantics of a
// status code — those defined by RFC 9110 §15 — for must-understand (RFC 9111
// §5.2.2.3).
func understoodStatus(status int) bool {
	switch status {
	case 200, 201, 202, 203, 204, 205, 206,
		300, 301, 302, 303, 304, 305, 307, 308,
		400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426,
		500, 501, 502, 503, 504, 505:
		return true
	}
	return false
}

// CorrectedInitialAge is the age of a response when it was received (RFC
// 9111 §4.2.3): the larger of the apparent age (response time − Date, at
// least 0) and the corrected Age value (the origin's or an upstream cache's
// Age plus the response delay). A missing or malformed Date counts as the
// response time; a malformed Age as 0; the first Age line is used. The result
// is capped at 2^31 s.
func CorrectedInitialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	date, ok := headerDate(h, "Date")
	return correctedInitialAge(h, date, ok, requestTime, responseTime)
}

func correctedInitialAge(h http.Header, date time.Time, dateOK bool, requestTime, responseTime time.Time) time.Duration {
	var apparent time.Duration
	if dateOK {
		apparent = responseTime.Sub(date)
		if apparent < 0 {
			apparent = 0
		}
	}
	delay := responseTime.Sub(requestTime)
	if delay < 0 {
		delay = 0
	}
	var ageValue time.Duration
	if v := h["Age"]; len(v) > 0 {
		s := v[0]
		if i := indexByte(s, ','); i >= 0 {
			s = s[:i]
		}
		if a, ok := parseDelta(trimOWS(s)); ok {
			ageValue = a
		}
	}
	corrected := ageValue + delay
	if corrected < ageValue { // overflow
		corrected = maxDelta
	}
	age := max(apparent, corrected)
	if age > maxDelta || age < 0 {
		age = maxDelta
	}
	return age
}

// Policy is a site's caching policy for responses the origin says little
// about.
type Policy struct {
	// DefaultTTL is the freshness lifetime of a response without explicit
	// freshness (and without the heuristic). 0: such responses are not
	// stored, and the heuristic is off too.
	DefaultTTL time.Duration
	// DefaultSWR and DefaultSIE are the stale-while-revalidate and
	// stale-if-error windows used when the controlling field gives none.
	DefaultSWR, DefaultSIE time.Duration
	// HeuristicFraction of (Date − Last-Modified) is the heuristic lifetime
	// (RFC 9111 §4.2.2), capped at HeuristicMax. 0 means the defaults 0.1
	// and min(24 h, DefaultTTL); a negative fraction turns the heuristic off.
	HeuristicFraction float64
	HeuristicMax      time.Duration
	// SurrogateTarget is this cache's device-token for targeted
	// Surrogate-Control directives (e.g. "meshcdn").
	SurrogateTarget string
	// HonorRequestNoStore makes a request's Cache-Control: no-store prevent
	// storing the response (RFC 9111 §5.2.1.5). Off by default: CDNs ignore
	// client cache directives to protect the origin. Added to the shared
	// API; additive.
	HonorRequestNoStore bool
}

// Decision is the outcome of Decide for one origin response.
type Decision struct {
	// Storable reports whether the response may be stored; when not, Reason
	// says why: "method", "status", "partial", "vary-star", "no-store",
	// "private", "authorization", "set-cookie", "request-no-store",
	// "no-freshness".
	Storable bool
	Reason   string

	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1); SWR and SIE the
	// stale-while-revalidate and stale-if-error windows after it; InitialAge
	// the corrected initial age (§4.2.3).
	Lifetime, SWR, SIE time.Duration
	InitialAge         time.Duration

	// MustRevalidate: a stale copy must never be served without successful
	// revalidation (must-revalidate, proxy-revalidate or s-maxage in the
	// controlling field; RFC 9111 §4.2.4). NoCache: every reuse needs
	// revalidation (unqualified no-cache; Lifetime is then 0). In both cases
	// SWR and SIE are 0.
	MustRevalidate, NoCache bool

	// Shared: the governing directives permit reuse for requests with
	// Authorization (public, s-maxage or must-revalidate; RFC 9111 §3.5).
	// The edge answers such requests from a stored response only when it
	// is Shared.
	Shared bool

	// Source names where Lifetime came from: "surrogate-control",
	// "cdn-cache-control", "s-maxage", "max-age", "expires", "heuristic",
	// "default".
	Source string

	// StripFields are the fields to remove before storing: those named by
	// private="…" and no-cache="…" (RFC 9111 §5.2.2.4, §5.2.2.7), which a
	// shared cache may store only without them.
	StripFields []string
}

// controlling returns the directives of the field that governs this shared
// cache (see the package documentation) and its name. A Surrogate-Control
// that applies to us but says neither max-age nor no-store does not govern;
// its other directives are folded into the governing field's: its stale
// windows take precedence, and its restrictive directives (private,
// no-cache, must-revalidate, proxy-revalidate) add to the governing ones.
func controlling(p *Policy, h http.Header) (Directives, string) {
	var sc Directives
	scOK := false
	if v := h["Surrogate-Control"]; len(v) > 0 {
		sc, scOK = ParseSurrogateControl(v, p.SurrogateTarget)
		if scOK && (sc.MaxAge >= 0 || sc.NoStore) {
			return sc, "surrogate-control"
		}
	}
	d, field := emptyDirectives(), ""
	if v := h["Cdn-Cache-Control"]; len(v) > 0 {
		if cdn, ok := ParseCDNCacheControl(v); ok {
			d, field = cdn, "cdn-cache-control"
		}
	}
	if field == "" {
		d, field = ParseCacheControl(h["Cache-Control"]), "cache-control"
	}
	if scOK {
		if sc.StaleWhileRevalidate >= 0 {
			d.StaleWhileRevalidate = sc.StaleWhileRevalidate
		}
		if sc.StaleIfError >= 0 {
			d.StaleIfError = sc.StaleIfError
		}
		d.Private = d.Private || sc.Private
		d.NoCache = d.NoCache || sc.NoCache
		d.MustRevalidate = d.MustRevalidate || sc.MustRevalidate
		d.ProxyRevalidate = d.ProxyRevalidate || sc.ProxyRevalidate
		for _, f := range sc.PrivateFields {
			if !containsString(d.PrivateFields, f) {
				d.PrivateFields = append(d.PrivateFields, f)
			}
		}
		for _, f := range sc.NoCacheFields {
			if !containsString(d.NoCacheFields, f) {
				d.NoCacheFields = append(d.NoCacheFields, f)
			}
		}
	}
	return d, field
}

// Decide applies the shared-cache storing and freshness rules (RFC 9111 §3,
// §4.2, §5.2; RFC 9213; RFC 5861; Surrogate-Control) to an origin response to
// method with reqHeader, received with status and respHeader; the request
// was sent at requestTime and the response received at responseTime.
//
// Freshness, first present wins: Surrogate-Control max-age,
// CDN-Cache-Control (s-maxage, then max-age), Cache-Control s-maxage,
// max-age, Expires − Date (an invalid Expires is in the past), the heuristic
// (HeuristicFraction of Date − Last-Modified, capped at HeuristicMax; only
// for status codes cacheable by default or a public response, RFC 9111
// §4.2.2), then DefaultTTL (status codes cacheable by default only). A
// targeted field that controls (see the package documentation) hides
// Cache-Control and Expires entirely (RFC 9213 §2.2).
func Decide(p Policy, method string, reqHeader http.Header, status int, respHeader http.Header, requestTime, responseTime time.Time) Decision {
	var dec Decision
	if method != http.MethodGet && method != http.MethodHead {
		dec.Reason = "method"
		return dec
	}
	if status == http.StatusPartialContent {
		dec.Reason = "partial"
		return dec
	}
	if status < 200 || status > 599 || status == http.StatusNotModified {
		dec.Reason = "status"
		return dec
	}
	if vary := respHeader["Vary"]; len(vary) > 0 && varyStar(vary) {
		dec.Reason = "vary-star"
		return dec
	}
	d, field := controlling(&p, respHeader)

	if d.NoStore && !(d.MustUnderstand && understoodStatus(status)) {
		dec.Reason = "no-store"
		return dec
	}
	if d.MustUnderstand && !understoodStatus(status) {
		dec.Reason = "status"
		return dec
	}
	if d.Private {
		dec.Reason = "private"
		return dec
	}
	if p.HonorRequestNoStore {
		if rcc := reqHeader["Cache-Control"]; len(rcc) > 0 && ParseCacheControl(rcc).NoStore {
			dec.Reason = "request-no-store"
			return dec
		}
	}
	// RFC 9111 §3.5: a request with Authorization only with an explicit
	// permission for shared caches: public, s-maxage or must-revalidate
	// among the directives that govern this cache. When a targeted field
	// governs, Cache-Control is ignored for this as for everything else
	// (RFC 9213 §2.2): "Cache-Control: public" beside "CDN-Cache-Control:
	// max-age=60" gives no permission, "CDN-Cache-Control: public" does. A
	// Surrogate-Control that does not govern still adds its
	// must-revalidate, which then also permits (the cache obeys it).
	dec.Shared = d.Public || d.MustRevalidate || d.SMaxAge >= 0
	if len(reqHeader["Authorization"]) > 0 && !dec.Shared {
		dec.Reason = "authorization"
		return dec
	}
	if len(d.PrivateFields)+len(d.NoCacheFields) > 0 {
		dec.StripFields = make([]string, 0, len(d.PrivateFields)+len(d.NoCacheFields))
		dec.StripFields = append(dec.StripFields, d.PrivateFields...)
		for _, f := range d.NoCacheFields {
			if !containsString(dec.StripFields, f) {
				dec.StripFields = append(dec.StripFields, f)
			}
		}
	}
	if len(respHeader["Set-Cookie"]) > 0 && !containsString(dec.StripFields, "Set-Cookie") {
		dec.Reason = "set-cookie"
		dec.StripFields = nil
		return dec
	}

	// Freshness lifetime.
	// A missing or invalid Date counts as the time of receipt (RFC 9110
	// §6.6.1, RFC 9111 §4.2.1).
	date, dateOK := headerDate(respHeader, "Date")
	if !dateOK {
		date = responseTime
	}
	lifetime := time.Duration(-1)
	switch field {
	case "surrogate-control":
		if d.MaxAge >= 0 {
			lifetime, dec.Source = d.MaxAge, "surrogate-control"
		}
	case "cdn-cache-control":
		if d.SMaxAge >= 0 {
			lifetime, dec.Source = d.SMaxAge, "cdn-cache-control"
		} else if d.MaxAge >= 0 {
			lifetime, dec.Source = d.MaxAge, "cdn-cache-control"
		}
	default:
		switch {
		case d.SMaxAge >= 0:
			lifetime, dec.Source = d.SMaxAge, "s-maxage"
		case d.MaxAge >= 0:
			lifetime, dec.Source = d.MaxAge, "max-age"
		case len(respHeader["Expires"]) > 0:
			// Malformed or on several lines: in the past (RFC 9111 §5.3).
			dec.Source = "expires"
			lifetime = 0
			if exp, ok := headerDate(respHeader, "Expires"); ok && exp.After(date) {
				lifetime = min(exp.Sub(date), maxDelta)
			}
		}
	}
	if lifetime < 0 && p.DefaultTTL > 0 {
		if CacheableByDefault(status) || d.Public {
			if h, ok := heuristic(&p, respHeader, date); ok {
				lifetime, dec.Source = h, "heuristic"
			}
		}
		if lifetime < 0 && CacheableByDefault(status) {
			lifetime, dec.Source = p.DefaultTTL, "default"
		}
	}
	if lifetime < 0 {
		dec.Reason = "no-freshness"
		dec.Source = ""
		dec.StripFields = nil
		return dec
	}

	dec.Storable = true
	dec.Lifetime = lifetime
	dec.InitialAge = correctedInitialAge(respHeader, date, dateOK, requestTime, responseTime)
	dec.MustRevalidate = d.MustRevalidate || d.ProxyRevalidate
	dec.NoCache = d.NoCache
	if dec.NoCache {
		dec.Lifetime = 0
	}
	if dec.MustRevalidate || dec.NoCache {
		return dec
	}
	if d.SMaxAge >= 0 {
		// RFC 9111 §5.2.2.10: s-maxage incorporates proxy-revalidate for a
		// shared cache, and §4.2.4 forbids serving such a response stale,
		// so stale-while-revalidate / stale-if-error beside it (RFC 5861
		// §3-4 windows are only permissions "unless prohibited") and the
		// site's default grace are all ignored.
		dec.MustRevalidate = true
		return dec
	}
	// Stale windows: the controlling field's, else the site's defaults.
	// A targeted field that governs hides Cache-Control entirely, its
	// stale-while-revalidate and stale-if-error included (RFC 9213 §2.2).
	swr, sie := d.StaleWhileRevalidate, d.StaleIfError
	if swr < 0 {
		swr = p.DefaultSWR
	}
	if sie < 0 {
		sie = p.DefaultSIE
	}
	dec.SWR, dec.SIE = max(swr, 0), max(sie, 0)
	return dec
}

// heuristic computes the heuristic freshness lifetime (RFC 9111 §4.2.2)
// from Last-Modified; ok is false without a usable Last-Modified or when the
// heuristic is off.
func heuristic(p *Policy, h http.Header, date time.Time) (time.Duration, bool) {
	frac, limit := p.HeuristicFraction, p.HeuristicMax
	if frac < 0 {
		return 0, false
	}
	if frac == 0 {
		frac = 0.1
	}
	if limit <= 0 {
		// The site's default lifetime is also the heuristic's ceiling: an
		// operator who said "an hour when the origin says nothing" does not
		// get a day because a resource has not changed for ten.
		limit = min(24*time.Hour, p.DefaultTTL)
	}
	lm, ok := headerDate(h, "Last-Modified")
	if !ok || lm.After(date) {
		return 0, false
	}
	since := date.Sub(lm)
	life := time.Duration(float64(since) * frac)
	if life > limit || life < 0 {
		life = limit
	}
	return life, true
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
