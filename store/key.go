package store

import (
	"bytes"
	"slices"
	"strings"
)

// KeyFor returns the primary cache key for a request: the host in lower
// case, the path as sent, and the query with its parameters sorted by name
// (so ?a=1&b=2 and ?b=2&a=1 share one object). host is the request's
// authority as NormalHost returns it: KeyFor itself does not drop ports,
// since which port is the default depends on the scheme. An empty path is
// "/", and a path that does not start with "/" gets one, so host and path
// cannot run into each other. The key of a URL given to a purge is
// computed the same way (NormalHost with the URL's scheme, then KeyFor).
//
// Two requests share a key only when no origin can tell them apart, so the
// query is sorted by sortQuery's rules: parameters are ordered by their
// names as the most lenient common frameworks read them, parameters whose
// names read the same keep their order, and a query that cannot be read
// unambiguously is left as sent.
func KeyFor(host, path, rawQuery string) string {
	host = lowerASCII(host)
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if rawQuery == "" {
		return host + path
	}
	return host + path + "?" + sortQuery(rawQuery)
}

// NormalHost is a request's Host as the cache keys it and the origin is
// sent it: ASCII letters in lower case, and without the default port of the
// scheme the request arrived with (":80" for "http", ":443" for "https") or
// an empty port (RFC 3986 §6.2.3). Any other port stays: "example.com:443"
// on plain HTTP is not "example.com" (an origin may build links with it).
// No allocation when nothing changes but the port.
func NormalHost(scheme, host string) string {
	host = lowerASCII(host)
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return host
	}
	if strings.IndexByte(host[:i], ':') >= 0 && host[i-1] != ']' {
		return host // an IPv6 address without brackets: no port
	}
	switch port := host[i+1:]; {
	case port == "",
		port == "80" && scheme == "http",
		port == "443" && scheme == "https":
		return host[:i]
	}
	return host
}

// lowerASCII lower-cases ASCII letters (hosts are ASCII; unlike
// strings.ToLower it never changes the length or touches other bytes) and
// allocates only when something changes.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// queryParam is one '&'-separated parameter of a query and its name as
// sortQuery compares it (names[s:e] of the shared buffer).
type queryParam struct {
	raw  string
	s, e int
}

// sortQuery orders the parameters of q by name for the cache key. An
// origin must not be able to tell apart two queries that share a key, and
// origins read names differently, so names are compared as the most
// lenient common readers see them (readName): %-decoded, '+' as a space,
// ASCII case ignored (ASP.NET), ' ' and '.' as '_' and a[…] as a (PHP).
// Parameters whose names compare equal keep their relative order
// (?%61=1&a=2 is not ?a=2&%61=1: both name "a", and an origin may read the
// first or the last). A query is left exactly as sent when it contains ';'
// (a parameter separator for some frameworks) or a name that does not read
// unambiguously (a malformed %-escape, a control or non-ASCII byte once
// decoded, unbalanced brackets). The parameters themselves are never
// rewritten. No allocation when q is already in order.
func sortQuery(q string) string {
	if strings.IndexByte(q, '&') < 0 || strings.IndexByte(q, ';') >= 0 {
		return q
	}
	var paramBuf [32]queryParam
	var nameBuf [512]byte
	ps, names := paramBuf[:0], nameBuf[:0]
	sorted := true
	for rest := q; ; {
		p := rest
		i := strings.IndexByte(rest, '&')
		if i >= 0 {
			p, rest = rest[:i], rest[i+1:]
		}
		s := len(names)
		var ok bool
		if names, ok = readName(names, paramName(p)); !ok {
			return q
		}
		if n := len(ps); n > 0 && bytes.Compare(names[ps[n-1].s:ps[n-1].e], names[s:]) > 0 {
			sorted = false
		}
		ps = append(ps, queryParam{raw: p, s: s, e: len(names)})
		if i < 0 {
			break
		}
	}
	if sorted {
		return q
	}
	slices.SortStableFunc(ps, func(a, b queryParam) int {
		return bytes.Compare(names[a.s:a.e], names[b.s:b.e])
	})
	var b strings.Builder
	b.Grow(len(q))
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.raw)
	}
	return b.String()
}

// paramName is the raw name of a query parameter (before '=').
func paramName(p string) string {
	if i := strings.IndexByte(p, '='); i >= 0 {
		return p[:i]
	}
	return p
}

// readName appends the raw parameter name raw as sortQuery compares it;
// ok=false: the name cannot be read unambiguously and the query must not
// be reordered.
func readName(b []byte, raw string) ([]byte, bool) {
	start := len(b)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return b, false
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return b, false
			}
			c = hi<<4 | lo
			i += 2
		}
		switch {
		case c < 0x20 || c >= 0x7f:
			return b, false
		case c == '+' || c == ' ': // '+' (raw or %2B) is a space to form decoders, literal to others
			if len(b) == start {
				continue // PHP drops leading spaces
			}
			c = '_'
		case c == '.':
			c = '_'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	name := b[start:]
	open, shut := bytes.IndexByte(name, '['), bytes.IndexByte(name, ']')
	switch {
	case open < 0 && shut < 0:
		return b, true
	case open > 0 && shut > open:
		return b[:start+open], true // a[x], a[]: the parameter a as PHP and Rack read it
	}
	return b, false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
