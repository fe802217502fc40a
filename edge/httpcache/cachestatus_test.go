package httpcache

import (
	"testing"
	"time"
)

func TestCacheStatusFormat(t *testing.T) {
	tests := []struct {
		rfc  string
		name string
		c    CacheStatus
		nm   string
		want string
	}{
		{"RFC 9211 §2.1", "hit with ttl", CacheStatus{Hit: true, TTL: 123 * s, HasTTL: true}, "meshcdn", "meshcdn; hit; ttl=123"},
		{"RFC 9211 §2.2-2.5", "miss stored", CacheStatus{Fwd: "uri-miss", FwdStatus: 200, Stored: true}, "meshcdn", "meshcdn; fwd=uri-miss; fwd-status=200; stored"},
		{"RFC 9211 §2.2", "vary-miss with ttl", CacheStatus{Fwd: "vary-miss", FwdStatus: 200, Stored: true, TTL: 60 * s, HasTTL: true}, "meshcdn", "meshcdn; fwd=vary-miss; fwd-status=200; ttl=60; stored"},
		{"RFC 9211 §2.6", "collapsed", CacheStatus{Fwd: "miss", FwdStatus: 200, Collapsed: true}, "meshcdn", "meshcdn; fwd=miss; fwd-status=200; collapsed"},
		{"RFC 9211 §2.2", "stale revalidated", CacheStatus{Fwd: "stale", FwdStatus: 304, TTL: 30 * s, HasTTL: true}, "meshcdn", "meshcdn; fwd=stale; fwd-status=304; ttl=30"},
		{"RFC 9211 §2.2", "bypass", CacheStatus{Fwd: "bypass", FwdStatus: 200}, "meshcdn", "meshcdn; fwd=bypass; fwd-status=200"},
		{"RFC 9211 §2.4", "stale hit shows negative ttl", CacheStatus{Hit: true, TTL: -1500 * time.Millisecond, HasTTL: true}, "meshcdn", "meshcdn; hit; ttl=-2"},
		{"RFC 9211 §2.4", "just stale rounds down", CacheStatus{Hit: true, TTL: -time.Millisecond, HasTTL: true}, "meshcdn", "meshcdn; hit; ttl=-1"},
		{"RFC 9211 §2.4", "zero ttl", CacheStatus{Hit: true, HasTTL: true}, "meshcdn", "meshcdn; hit; ttl=0"},
		{"RFC 9211 §2.1", "hit hides fwd and stored", CacheStatus{Hit: true, Fwd: "miss", FwdStatus: 200, Stored: true}, "meshcdn", "meshcdn; hit"},
		{"RFC 9211 §2.3", "fwd-status only with fwd", CacheStatus{FwdStatus: 200}, "meshcdn", "meshcdn"},
		{"RFC 9211 §2.3", "fwd-status out of range dropped", CacheStatus{Fwd: "miss", FwdStatus: 42}, "meshcdn", "meshcdn; fwd=miss"},
		{"RFC 9211 §2.2", "invalid fwd token dropped", CacheStatus{Fwd: "not a token"}, "meshcdn", "meshcdn"},
		{"RFC 9211 §2.8", "detail token", CacheStatus{Hit: true, Detail: "soft-purged"}, "meshcdn", "meshcdn; hit; detail=soft-purged"},
		{"RFC 9211 §2.8", "detail string escaped", CacheStatus{Fwd: "miss", Detail: `origin "down"\x`}, "meshcdn", `meshcdn; fwd=miss; detail="origin \"down\"\\x"`},
		{"RFC 9211 §2.8", "detail control characters dropped", CacheStatus{Fwd: "miss", Detail: "a\r\nb"}, "meshcdn", `meshcdn; fwd=miss; detail="ab"`},
		{"RFC 9211 §2", "cache name that is not a token becomes a string", CacheStatus{Hit: true}, "edge 1", `"edge 1"; hit`},
		{"RFC 9211 §2", "cache name with a digit first is a string", CacheStatus{Hit: true}, "1edge", `"1edge"; hit`},
		{"RFC 9211 §2", "empty cache name", CacheStatus{Hit: true}, "", `""; hit`},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got := tc.c.Format(tc.nm)
			if got != tc.want {
				t.Errorf("Format = %q, want %q", got, tc.want)
			}
			// The member must be a valid Structured Fields List member.
			if _, ok := parseSFList(got); !ok {
				t.Errorf("%q is not a valid SF list", got)
			}
		})
	}
}
