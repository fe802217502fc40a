package store

import (
	"sort"
	"strings"
)

// KeyFor returns the primary cache key for a request: the host in lower case
// without a default port (:80, :443), the path as sent, and the query with
// its parameters sorted by name (so ?a=1&b=2 and ?b=2&a=1 share one object),
// keeping the order of repeated names (?a=2&a=1 is not ?a=1&a=2, an origin
// may read the first or the last). An empty path is "/", and a path that
// does not start with "/" gets one, so host and path cannot run into each
// other. The key of a URL given to a purge is computed the same way.
func KeyFor(host, path, rawQuery string) string {
	host = lowerASCII(host)
	host = strings.TrimSuffix(host, ":80")
	host = strings.TrimSuffix(host, ":443")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if rawQuery == "" {
		return host + path
	}
	return host + path + "?" + sortQuery(rawQuery)
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

func sortQuery(q string) string {
	if !strings.Contains(q, "&") {
		return q
	}
	parts := byName(strings.Split(q, "&"))
	if sort.IsSorted(parts) {
		return q
	}
	sort.Stable(parts)
	return strings.Join(parts, "&")
}

// byName sorts query parameters by name only, keeping the order of repeated
// names (a=2&a=1 is not a=1&a=2).
type byName []string

func (b byName) Len() int      { return len(b) }
func (b byName) Swap(i, j int) { b[i], b[j] = b[j], b[i] }
func (b byName) Less(i, j int) bool {
	return paramName(b[i]) < paramName(b[j])
}

func paramName(p string) string {
	if i := strings.IndexByte(p, '='); i >= 0 {
		return p[:i]
	}
	return p
}
