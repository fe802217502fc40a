package httpcache

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop lists the connection-specific fields a proxy must not forward
// (RFC 9110 §7.6.1), plus the legacy Keep-Alive, Proxy-Connection and the
// proxy authentication fields.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// maxConnectionOptions bounds the names read from Connection.
const maxConnectionOptions = 64

// connectionOptions returns the canonical field names listed in Connection
// (at most maxConnectionOptions).
func connectionOptions(h http.Header) []string {
	var out []string
	for _, v := range h["Connection"] {
		for v != "" && len(out) < maxConnectionOptions {
			var name string
			if i := strings.IndexByte(v, ','); i >= 0 {
				name, v = v[:i], v[i+1:]
			} else {
				name, v = v, ""
			}
			name = trimOWS(name)
			if isToken(name) {
				out = append(out, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	return out
}

// RemoveHopByHop deletes the hop-by-hop fields from h, including every field
// named in Connection (RFC 9110 §7.6.1). At most 64 names are read from
// Connection.
func RemoveHopByHop(h http.Header) {
	if h == nil {
		return
	}
	for _, name := range connectionOptions(h) {
		delete(h, name)
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// notMerged are fields a 304 does not update in the stored response (RFC
// 9111 §3.2):
//   - Content-Length (§3.2 names it);
//   - the fields §3.1 excludes from storage: the connection-specific ones
//     (RFC 9110 §7.6.1: Connection, Proxy-Connection, Keep-Alive, TE,
//     Transfer-Encoding, Upgrade) and Proxy-Authenticate,
//     Proxy-Authentication-Info and Proxy-Authorization;
//   - fields whose update would make the stored body wrong, which §3.2 lets
//     a cache leave alone: Content-Encoding (the store keeps the bytes as
//     the origin encoded them; a 304 saying "br" over stored gzip bytes
//     would corrupt every later hit) and Content-Range (processed with the
//     body; only 200s are stored);
//   - Trailer, which announces trailer fields of the message that carries
//     it (a 304 has no content; the stored body has no trailers);
//   - Set-Cookie (and the obsolete Set-Cookie2), which belongs to the one
//     response that carried it and must never become part of a shared
//     stored response.
//
// Vary is merged: a 304 carries the Vary a 200 would have (RFC 9110
// §15.4.5), and the caller re-derives the variant key from the result.
var notMerged = map[string]bool{
	"Content-Length":            true,
	"Connection":                true,
	"Keep-Alive":                true,
	"Proxy-Connection":          true,
	"Te":                        true,
	"Transfer-Encoding":         true,
	"Upgrade":                   true,
	"Proxy-Authenticate":        true,
	"Proxy-Authentication-Info": true,
	"Proxy-Authorization":       true,
	"Content-Encoding":          true,
	"Content-Range":             true,
	"Trailer":                   true,
	"Set-Cookie":                true,
	"Set-Cookie2":               true,
}

// Updates304 reports whether a 304 (or a HEAD response) with header fresh
// identifies the stored response with header stored for update (RFC 9111
// §4.3.4, §4.3.5). A strong entity-tag on fresh must equal the stored
// response's by strong comparison, a weak one by weak comparison (RFC 9110
// §8.8.3.2); without a valid entity-tag on fresh, Last-Modified values on
// both must be equal. A 304 without validators selects the stored response.
// false: the stored response must not be updated from fresh (the selected
// representation has changed); fetch it in full instead.
func Updates304(stored, fresh http.Header) bool {
	if fo, fw, ok := responseETag(fresh); ok {
		so, sw, sok := responseETag(stored)
		if !sok || so != fo {
			return false
		}
		return fw || !sw // strong comparison for a strong validator
	}
	if fl, ok := headerDate(fresh, "Last-Modified"); ok {
		if sl, ok := headerDate(stored, "Last-Modified"); ok && !sl.Equal(fl) {
			return false
		}
	}
	return true
}

// Merge304 returns a new header for a stored response freshened by a 304
// (RFC 9111 §4.3.4, §3.2) — or by a HEAD response (§4.3.5): every field of
// fresh replaces all stored lines of that field, except those in notMerged
// and those fresh's Connection names. Neither argument is modified; the
// result shares no slices with them.
//
// The stored Date and Age are dropped when fresh lacks them (they describe
// the earlier response; Decide then takes the receipt time of the 304 as its
// date). The caller then re-runs Decide on the merged header to get the new
// freshness (and StripFields), and re-reads surrogate keys if fresh carried
// Surrogate-Key or Cache-Groups, removes the Decision's StripFields from the
// result before storing it (a field named by private="…" or no-cache="…"
// must not come back through a 304), and checks Updates304 first. A
// Set-Cookie on the 304 is for the client
// whose request caused the revalidation only: forward it on that response,
// never store it.
func Merge304(stored, fresh http.Header) http.Header {
	out := make(http.Header, len(stored)+len(fresh))
	for k, v := range stored {
		out[k] = append([]string(nil), v...)
	}
	// The stored Date and Age describe the earlier response. A 304 without
	// them was generated (or validated) now: its Date is its receipt time
	// (RFC 9110 §6.6.1) and its age only the response delay, so the old
	// values must not survive into the freshened response's age
	// calculation (RFC 9111 §4.2.3).
	if len(fresh["Date"]) == 0 {
		delete(out, "Date")
		delete(out, "Age")
	}
	if len(fresh["Age"]) == 0 {
		delete(out, "Age")
	}
	named := connectionOptions(fresh)
next:
	for k, v := range fresh {
		if notMerged[k] {
			continue
		}
		for _, n := range named {
			if n == k {
				continue next
			}
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}
