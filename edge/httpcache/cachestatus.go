package httpcache

import (
	"strconv"
	"time"
)

// CacheStatus describes what this cache did with one request, for the
// Cache-Status response header (RFC 9211).
type CacheStatus struct {
	Hit       bool          // served from cache without going forward
	Fwd       string        // why it went forward: "bypass", "method", "uri-miss", "vary-miss", "miss", "request", "stale", "partial"
	FwdStatus int           // status of the forward response (with Fwd)
	TTL       time.Duration // remaining freshness; negative when stale (with HasTTL)
	HasTTL    bool
	Stored    bool   // the forward response was stored
	Collapsed bool   // the request was collapsed into another one's forward request
	Detail    string // implementation-specific detail
}

// Format renders the Cache-Status member of this cache (RFC 9211 §2), e.g.
// "meshcdn; hit; ttl=123" or "meshcdn; fwd=uri-miss; fwd-status=200;
// stored". cacheName is emitted as a Token when it is one, else as a
// String. Fwd is ignored on a hit (§2.1, §2.2) and when it is not a Token;
// Detail is emitted as a Token when it is one, else as a String. Characters
// a Structured Fields String cannot carry are dropped.
func (c CacheStatus) Format(cacheName string) string {
	var arr [128]byte
	b := appendTokenOrString(arr[:0], cacheName)
	if c.Hit {
		b = append(b, "; hit"...)
	} else if c.Fwd != "" && isSFToken(c.Fwd) {
		b = append(b, "; fwd="...)
		b = append(b, c.Fwd...)
		if c.FwdStatus >= 100 && c.FwdStatus <= 999 {
			b = append(b, "; fwd-status="...)
			b = strconv.AppendInt(b, int64(c.FwdStatus), 10)
		}
	}
	if c.HasTTL {
		b = append(b, "; ttl="...)
		b = strconv.AppendInt(b, ttlSeconds(c.TTL), 10)
	}
	if c.Stored && !c.Hit {
		b = append(b, "; stored"...)
	}
	if c.Collapsed {
		b = append(b, "; collapsed"...)
	}
	if c.Detail != "" {
		b = append(b, "; detail="...)
		b = appendTokenOrString(b, c.Detail)
	}
	return string(b)
}

// ttlSeconds rounds toward negative infinity, so that a copy stale by less
// than a second still shows a negative ttl; bounded to SF Integer range.
func ttlSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d < 0 && d%time.Second != 0 {
		s--
	}
	const lim = 999_999_999_999_999
	return max(min(s, lim), -lim)
}

// isSFToken reports whether s is a Structured Fields Token (RFC 9651
// §3.3.4).
func isSFToken(s string) bool {
	if s == "" || !(isAlpha(s[0]) || s[0] == '*') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isTchar(c) || c == ':' || c == '/') {
			return false
		}
	}
	return true
}

func appendTokenOrString(b []byte, s string) []byte {
	if isSFToken(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			continue
		}
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}
