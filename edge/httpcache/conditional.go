package httpcache

import (
	"net/http"
	"time"
)

// scanETag parses an entity-tag (RFC 9110 §8.8.3) at the start of s. opaque
// includes the quotes.
func scanETag(s string) (opaque string, weak bool, rest string, ok bool) {
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		weak = true
		s = s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return "", false, s, false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			return s[:i+1], weak, s[i+1:], true
		}
		// etagc = %x21 / %x23-7E / obs-text
		if c < 0x21 || c == 0x7f {
			return "", false, s, false
		}
	}
	return "", false, s, false
}

// responseETag returns the stored response's entity-tag, if valid.
func responseETag(h http.Header) (opaque string, weak, ok bool) {
	v := h["Etag"]
	if len(v) == 0 {
		return "", false, false
	}
	o, w, rest, ok := scanETag(trimOWS(v[0]))
	if !ok || trimOWS(rest) != "" {
		return "", false, false
	}
	return o, w, true
}

// etagListMatches evaluates an If-Match / If-None-Match list against the
// response's entity-tag. "*" matches any current representation. A malformed
// list matches nothing (at most 256 tags are examined).
func etagListMatches(lines []string, resp http.Header, strong bool) bool {
	tag, weak, have := responseETag(resp)
	n := 0
	for _, v := range lines {
		for {
			for v != "" && (isOWS(v[0]) || v[0] == ',') {
				v = v[1:]
			}
			if v == "" {
				break
			}
			if n++; n > 256 {
				return false
			}
			if v[0] == '*' {
				return true
			}
			o, w, rest, ok := scanETag(v)
			if !ok {
				return false
			}
			v = rest
			if !have || o != tag {
				continue
			}
			if !strong || (!w && !weak) {
				return true
			}
		}
	}
	return false
}

// EvaluateConditional reports whether a GET or HEAD answered from the cache
// may be 304 Not Modified (RFC 9110 §13.1.2, §13.1.3; RFC 9111 §4.3.2):
// If-None-Match is evaluated with the weak comparison; only when it is
// absent is If-Modified-Since compared with the stored Last-Modified (or,
// lacking it, the stored Date). An If-Modified-Since that is not a single
// valid HTTP-date is ignored.
//
// The caller must apply it only to GET and HEAD and only when the stored
// status is 2xx (§13.2.1); Preconditions does both and also handles If-Match
// and If-Unmodified-Since.
func EvaluateConditional(reqHeader, respHeader http.Header) (notModified bool) {
	if inm := reqHeader["If-None-Match"]; len(inm) > 0 {
		return etagListMatches(inm, respHeader, false)
	}
	ims := reqHeader["If-Modified-Since"]
	if len(ims) != 1 {
		return false
	}
	since, ok := parseHTTPDate(ims[0])
	if !ok {
		return false
	}
	lm, ok := headerDate(respHeader, "Last-Modified")
	if !ok {
		if lm, ok = headerDate(respHeader, "Date"); !ok {
			return false
		}
	}
	return !lm.After(since)
}

// Preconditions evaluates the request's preconditions against a stored
// response in the order of RFC 9110 §13.2.2 and returns the status to answer
// with instead of the stored response: 412 (If-Match / If-Unmodified-Since
// failed, or If-None-Match matched on another method), 304 (GET/HEAD not
// modified), or 0 to proceed (Range is evaluated separately, see
// IfRangeMatches). Preconditions are ignored unless status is 2xx or 412
// (§13.2.1). Added to the shared API; additive.
func Preconditions(method string, reqHeader http.Header, status int, respHeader http.Header) int {
	if !(status >= 200 && status < 300 || status == http.StatusPreconditionFailed) {
		return 0
	}
	getHead := method == http.MethodGet || method == http.MethodHead
	if im := reqHeader["If-Match"]; len(im) > 0 {
		if !etagListMatches(im, respHeader, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius := reqHeader["If-Unmodified-Since"]; len(ius) == 1 {
		if since, ok := parseHTTPDate(ius[0]); ok {
			if lm, ok := headerDate(respHeader, "Last-Modified"); !ok || lm.After(since) {
				return http.StatusPreconditionFailed
			}
		}
	}
	if inm := reqHeader["If-None-Match"]; len(inm) > 0 {
		if etagListMatches(inm, respHeader, false) {
			if getHead {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
		return 0
	}
	if getHead && EvaluateConditional(reqHeader, respHeader) {
		return http.StatusNotModified
	}
	return 0
}

// IfRangeMatches reports whether a Range request may be answered with 206
// (RFC 9110 §13.1.5): true when If-Range is absent, or names the stored
// response's entity-tag with the strong comparison, or gives an HTTP-date
// equal to its Last-Modified when that is a strong validator (the stored
// Date is at least 60 s later, §8.8.2.2). false: ignore Range, send 200.
func IfRangeMatches(reqHeader, respHeader http.Header) bool {
	ir := reqHeader["If-Range"]
	if len(ir) == 0 {
		return true
	}
	if len(ir) > 1 {
		return false
	}
	v := trimOWS(ir[0])
	if len(v) > 0 && (v[0] == '"' || v[0] == 'W') && !isDateStart(v) {
		o, w, rest, ok := scanETag(v)
		if !ok || w || trimOWS(rest) != "" {
			return false
		}
		tag, weak, have := responseETag(respHeader)
		return have && !weak && tag == o
	}
	since, ok := parseHTTPDate(v)
	if !ok {
		return false
	}
	lm, ok := headerDate(respHeader, "Last-Modified")
	if !ok || !lm.Equal(since) {
		return false
	}
	date, ok := headerDate(respHeader, "Date")
	return ok && !lm.After(date.Add(-60*time.Second))
}

// isDateStart tells "Wed, 21 Oct…" (an HTTP-date) from W/"…" (a weak tag).
func isDateStart(v string) bool {
	return len(v) >= 2 && v[0] == 'W' && v[1] != '/'
}
