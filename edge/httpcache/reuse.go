package httpcache

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ClientAllows reports whether a stored response of the given current age
// and freshness lifetime may be reused for a request carrying the request
// directives req (RFC 9111 §5.2.1), for sites that honour client
// Cache-Control. false means: revalidate (or fetch) first. no-cache and
// max-age=0 force revalidation; min-fresh asks for remaining freshness;
// max-stale admits a stale response unless the origin required revalidation
// (mustRevalidate, RFC 9111 §4.2.4). only-if-cached is left to the caller
// (answer 504 instead of forwarding). Added to the shared API; additive.
func ClientAllows(req Directives, age, lifetime time.Duration, mustRevalidate bool) bool {
	if req.NoCache {
		return false
	}
	if req.MaxAge >= 0 && age > req.MaxAge {
		return false
	}
	if req.MaxAge == 0 {
		return false
	}
	if req.MinFresh >= 0 && lifetime-age < req.MinFresh {
		return false
	}
	if age < lifetime {
		return true
	}
	return req.MaxStale >= 0 && !mustRevalidate && age-lifetime <= req.MaxStale
}

// maxInvalidationRef bounds the Location / Content-Location values read.
const maxInvalidationRef = 8 << 10

// InvalidationURIs returns the URIs a cache must invalidate after a
// response to an unsafe request (RFC 9111 §4.4): for a non-error status
// (2xx, 3xx) to a method other than GET, HEAD, OPTIONS and TRACE, the target
// URI and the URIs in Location and Content-Location when they have the same
// origin (scheme and host) as the target. References are resolved against
// target; malformed or over-long ones are skipped. nil when nothing is to be
// invalidated. Added to the shared API; additive.
func InvalidationURIs(method string, status int, target *url.URL, respHeader http.Header) []*url.URL {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return nil
	}
	if status < 200 || status >= 400 || target == nil {
		return nil
	}
	out := []*url.URL{target}
	for _, name := range [...]string{"Location", "Content-Location"} {
		v := respHeader[name]
		if len(v) == 0 {
			continue
		}
		ref := strings.TrimSpace(v[0])
		if ref == "" || len(ref) > maxInvalidationRef {
			continue
		}
		u, err := url.Parse(ref)
		if err != nil {
			continue
		}
		u = target.ResolveReference(u)
		if !strings.EqualFold(u.Scheme, target.Scheme) || !strings.EqualFold(u.Host, target.Host) {
			continue
		}
		dup := false
		for _, have := range out {
			if have.String() == u.String() {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, u)
		}
	}
	return out
}
