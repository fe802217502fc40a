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
// 9111 §3.2): Content-Length; the fields the stored body depends on
// (Content-Encoding, Content-Range, Transfer-Encoding) and the variant
// selection (Vary); Set-Cookie, which belongs to the one response that
// carried it and must never become part of a shared stored response; and the
// hop-by-hop fields.
var notMerged = map[string]bool{
	"Content-Length":      true,
	"Content-Encoding":    true,
	"Content-Range":       true,
	"Transfer-Encoding":   true,
	"Vary":                true,
	"Set-Cookie":          true,
	"Set-Cookie2":         true,
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Upgrade":             true,
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
// Surrogate-Key or Cache-Groups. A Set-Cookie on the 304 is for the client
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
