package store

import (
	"sort"
	"strings"
)

// KeyFor returns the primary cache key for a request: the host in lower case
// without a default port, the path as sent, and the query with its
// parameters sorted (so ?a=1&b=2 and ?b=2&a=1 share one object). An empty
// path is "/". The key of a URL given to a purge is computed the same way.
func KeyFor(host, path, rawQuery string) string {
	host = strings.ToLower(host)
	host = strings.TrimSuffix(host, ":80")
	host = strings.TrimSuffix(host, ":443")
	if path == "" {
		path = "/"
	}
	if rawQuery == "" {
		return host + path
	}
	return host + path + "?" + sortQuery(rawQuery)
}

func sortQuery(q string) string {
	if !strings.Contains(q, "&") {
		return q
	}
	parts := strings.Split(q, "&")
	if sort.StringsAreSorted(parts) {
		return q
	}
	sort.Stable(byName(parts))
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
