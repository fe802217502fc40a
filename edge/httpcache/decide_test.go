package httpcache

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestCacheableByDefault(t *testing.T) {
	// RFC 9110 §15.1: heuristically cacheable status codes.
	want := map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true, 308: true, 404: true, 405: true, 410: true, 414: true, 501: true}
	for code := 100; code < 600; code++ {
		if got := CacheableByDefault(code); got != want[code] {
			t.Errorf("RFC 9110 §15.1: CacheableByDefault(%d) = %v", code, got)
		}
	}
}

func TestCorrectedInitialAge(t *testing.T) {
	req := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	resp := req.Add(2 * time.Second)
	tests := []struct {
		rfc  string
		name string
		h    http.Header
		want time.Duration
	}{
		{"RFC 9111 §4.2.3", "no Date, no Age: response delay", hdr(), 2 * s},
		{"RFC 9111 §4.2.3", "Date = response time", hdr("Date", httpDate(resp)), 2 * s},
		{"RFC 9111 §4.2.3", "apparent age wins", hdr("Date", httpDate(resp.Add(-100*s))), 100 * s},
		{"RFC 9111 §4.2.3", "Date in the future: apparent age 0", hdr("Date", httpDate(resp.Add(time.Hour))), 2 * s},
		{"RFC 9111 §4.2.3", "Age plus response delay wins", hdr("Date", httpDate(resp), "Age", "50"), 52 * s},
		{"RFC 9111 §4.2.3", "apparent age beats small Age", hdr("Date", httpDate(resp.Add(-100*s)), "Age", "50"), 100 * s},
		{"RFC 9111 §5.1", "non-numeric Age ignored", hdr("Age", "abc"), 2 * s},
		{"RFC 9111 §5.1", "negative Age ignored", hdr("Age", "-7200"), 2 * s},
		{"RFC 9111 §5.1", "decimal Age ignored", hdr("Age", "7200.0"), 2 * s},
		{"RFC 9111 §5.1", "first member of a list", hdr("Age", "7200,0"), 7202 * s},
		{"RFC 9111 §5.1", "first line", hdr("Age", "7200", "Age", "0"), 7202 * s},
		{"RFC 9111 §1.2.2", "huge Age saturates", hdr("Age", "999999999999999999999"), maxDelta},
		{"RFC 9110 §6.6.1", "invalid Date ignored", hdr("Date", "garbage"), 2 * s},
		{"RFC 9111 §1.2.2", "ancient Date saturates", hdr("Date", "Mon, 01 Jan 0001 00:00:00 GMT"), maxDelta},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			if got := CorrectedInitialAge(tc.h, req, resp); got != tc.want {
				t.Errorf("CorrectedInitialAge(%v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
	// Response time before request time (clock step): no negative delay.
	if got := CorrectedInitialAge(hdr(), resp, req); got != 0 {
		t.Errorf("negative delay: %v", got)
	}
}

func TestDecide(t *testing.T) {
	reqT := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	respT := reqT
	date := httpDate(respT)
	base := Policy{DefaultTTL: 5 * time.Minute, SurrogateTarget: "meshcdn"}
	noDefault := Policy{SurrogateTarget: "meshcdn"}
	graceful := Policy{DefaultTTL: time.Minute, DefaultSWR: 10 * s, DefaultSIE: time.Hour}

	type want struct {
		storable       bool
		reason         string
		lifetime       time.Duration
		source         string
		swr, sie       time.Duration
		mustRevalidate bool
		noCache        bool
		strip          []string
	}
	ok := func(lifetime time.Duration, source string) want {
		return want{storable: true, lifetime: lifetime, source: source}
	}
	no := func(reason string) want { return want{reason: reason} }
	tests := []struct {
		rfc    string
		name   string
		p      Policy
		method string
		req    http.Header
		status int
		resp   http.Header
		want   want
	}{
		// Storing (RFC 9111 §3).
		{"RFC 9111 §3", "max-age", base, "GET", hdr(), 200, hdr("Cache-Control", "max-age=60", "Date", date), ok(60*s, "max-age")},
		{"RFC 9111 §3", "HEAD", base, "HEAD", hdr(), 200, hdr("Cache-Control", "max-age=60"), ok(60*s, "max-age")},
		{"RFC 9111 §3", "POST not stored", base, "POST", hdr(), 200, hdr("Cache-Control", "max-age=60"), no("method")},
		{"RFC 9111 §3", "extension method not stored", base, "PROPFIND", hdr(), 200, hdr("Cache-Control", "max-age=60"), no("method")},
		{"RFC 9111 §3.4", "206 not stored in a full-object cache", base, "GET", hdr(), 206, hdr("Cache-Control", "max-age=60"), no("partial")},
		{"RFC 9111 §3", "304 is no object", base, "GET", hdr(), 304, hdr("Cache-Control", "max-age=60"), no("status")},
		{"RFC 9111 §3", "1xx not final", base, "GET", hdr(), 103, hdr("Cache-Control", "max-age=60"), no("status")},
		{"RFC 9111 §3", "status out of range", base, "GET", hdr(), 999, hdr("Cache-Control", "max-age=60"), no("status")},
		{"RFC 9111 §4.1", "Vary: *", base, "GET", hdr(), 200, hdr("Cache-Control", "max-age=60", "Vary", "Accept, *"), no("vary-star")},
		{"RFC 9111 §5.2.2.5", "no-store", base, "GET", hdr(), 200, hdr("Cache-Control", "max-age=60, no-store"), no("no-store")},
		{"RFC 9111 §5.2.2.7", "private", base, "GET", hdr(), 200, hdr("Cache-Control", "max-age=60, private"), no("private")},
		{"RFC 9111 §5.2.2.7", "private with field names: store without them", base, "GET", hdr(), 200,
			hdr("Cache-Control", `max-age=60, private="X-User, set-cookie"`, "Set-Cookie", "a=b", "X-User", "9"),
			want{storable: true, lifetime: 60 * s, source: "max-age", strip: []string{"X-User", "Set-Cookie"}}},
		{"RFC 9111 §5.2.2.4", "no-cache with field names: store without them", base, "GET", hdr(), 200,
			hdr("Cache-Control", `no-cache="a"`, "Cache-Control", "max-age=3600", "A", "1"),
			want{storable: true, lifetime: 3600 * s, source: "max-age", strip: []string{"A"}}},
		{"RFC 9111 §5.2.2.4", "field names from private and no-cache merged", base, "GET", hdr(), 200,
			hdr("Cache-Control", `max-age=5, no-cache="a, b", private="b"`),
			want{storable: true, lifetime: 5 * s, source: "max-age", strip: []string{"B", "A"}}},
		{"RFC 9111 §3 (policy)", "Set-Cookie not stored", base, "GET", hdr(), 200, hdr("Cache-Control", "max-age=60", "Set-Cookie", "s=1"), no("set-cookie")},
		{"RFC 9111 §3.5", "Authorization without permission", base, "GET", hdr("Authorization", "Bearer x"), 200, hdr("Cache-Control", "max-age=60"), no("authorization")},
		{"RFC 9111 §3.5", "Authorization with public", base, "GET", hdr("Authorization", "Bearer x"), 200, hdr("Cache-Control", "max-age=60, public"), ok(60*s, "max-age")},
		{"RFC 9111 §3.5", "Authorization with s-maxage", base, "GET", hdr("Authorization", "Bearer x"), 200, hdr("Cache-Control", "s-maxage=60"),
			want{storable: true, lifetime: 60 * s, source: "s-maxage", mustRevalidate: true}},
		{"RFC 9111 §3.5", "Authorization with must-revalidate", base, "GET", hdr("Authorization", "Bearer x"), 200, hdr("Cache-Control", "max-age=60, must-revalidate"),
			want{storable: true, lifetime: 60 * s, source: "max-age", mustRevalidate: true}},
		{"RFC 9111 §5.2.1.5", "request no-store ignored by default", base, "GET", hdr("Cache-Control", "no-store"), 200, hdr("Cache-Control", "max-age=60"), ok(60*s, "max-age")},
		{"RFC 9111 §5.2.1.5", "request no-store honoured when enabled", Policy{DefaultTTL: time.Minute, HonorRequestNoStore: true}, "GET", hdr("Cache-Control", "no-store"), 200, hdr("Cache-Control", "max-age=60"), no("request-no-store")},
		{"RFC 9111 §5.2.2.3", "must-understand overrides no-store for a known status", base, "GET", hdr(), 200, hdr("Cache-Control", "max-age=60, no-store, must-understand"), ok(60*s, "max-age")},
		{"RFC 9111 §5.2.2.3", "must-understand with an unknown status", base, "GET", hdr(), 299, hdr("Cache-Control", "max-age=60, no-store, must-understand"), no("no-store")},
		{"RFC 9111 §5.2.2.3", "must-understand alone with an unknown status", base, "GET", hdr(), 299, hdr("Cache-Control", "max-age=60, must-understand"), no("status")},

		// Which field controls (RFC 9213 §2.2, Surrogate-Control).
		{"Edge Arch §3", "Surrogate-Control over Cache-Control: no-store (demo origin)", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "max-age=3600", "Cache-Control", "no-store"), ok(3600*s, "surrogate-control")},
		{"Edge Arch §3", "Surrogate-Control short over long Cache-Control", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "max-age=1", "Cache-Control", "max-age=3600"), ok(1*s, "surrogate-control")},
		{"Edge Arch §3", "Surrogate-Control no-store beats Cache-Control and Expires", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "no-store", "Cache-Control", "max-age=10000", "Expires", httpDate(respT.Add(time.Hour)), "Date", date), no("no-store")},
		{"Edge Arch §3", "Surrogate-Control targeted at us", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "no-store, max-age=30;meshcdn"), ok(30*s, "surrogate-control")},
		{"Edge Arch §3", "Surrogate-Control with space before = falls back", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "max-age =100", "Cache-Control", "max-age=1"), ok(1*s, "max-age")},
		{"Edge Arch §3", "Surrogate-Control content only falls back", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", `content="ESI/1.0"`, "Cache-Control", "max-age=7"), ok(7*s, "max-age")},
		{"Edge Arch §3", "Surrogate-Control max-age over CDN-Cache-Control", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "max-age=9", "Cdn-Cache-Control", "max-age=99"), ok(9*s, "surrogate-control")},
		{"Edge Arch §3", "Surrogate-Control without max-age: its stale window, Cache-Control freshness", graceful, "GET", hdr(), 200,
			hdr("Surrogate-Control", "stale-if-error=86400", "Cache-Control", "max-age=60, stale-if-error=5, stale-while-revalidate=3"),
			want{storable: true, lifetime: 60 * s, source: "max-age", swr: 3 * s, sie: 86400 * s}},
		{"Edge Arch §3", "Surrogate-Control without max-age adds must-revalidate", graceful, "GET", hdr(), 200,
			hdr("Surrogate-Control", "must-revalidate", "Cdn-Cache-Control", "max-age=60"),
			want{storable: true, lifetime: 60 * s, source: "cdn-cache-control", mustRevalidate: true}},
		{"Edge Arch §3", "Surrogate-Control without max-age adds private", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", "private", "Cache-Control", "max-age=60"), no("private")},
		{"Edge Arch §3", "Surrogate-Control without max-age adds field names", base, "GET", hdr(), 200,
			hdr("Surrogate-Control", `no-cache="X-A"`, "Cache-Control", `max-age=60, private="x-b"`),
			want{storable: true, lifetime: 60 * s, source: "max-age", strip: []string{"X-B", "X-A"}}},
		{"RFC 9213 §2.2", "CDN-Cache-Control short over long Cache-Control", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=1", "Cache-Control", "max-age=3600"), ok(1*s, "cdn-cache-control")},
		{"RFC 9213 §2.2", "CDN-Cache-Control over Cache-Control: no-store", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=10000", "Cache-Control", "no-store"), ok(10000*s, "cdn-cache-control")},
		{"RFC 9213 §2.2", "CDN-Cache-Control ignores Expires", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=3600", "Expires", "0", "Date", date), ok(3600*s, "cdn-cache-control")},
		{"RFC 9213 §2.2", "CDN-Cache-Control max-age=0 over future Expires", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=0", "Expires", httpDate(respT.Add(time.Hour)), "Date", date), ok(0, "cdn-cache-control")},
		{"RFC 9213 §3.1", "CDN-Cache-Control: none hides Cache-Control", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "none", "Cache-Control", "no-store, max-age=3600"), ok(5*time.Minute, "default")},
		{"RFC 9213 §2.1", "invalid CDN-Cache-Control ignored entirely", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=10000, &&&&&", "Cache-Control", "no-store"), no("no-store")},
		{"RFC 9213 §2.1", "wrong-typed CDN-Cache-Control ignored entirely", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", `max-age="10000"`, "Cache-Control", "no-store"), no("no-store")},
		{"RFC 9213 §2.1", "CDN-Cache-Control private", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "private", "Cache-Control", "max-age=10000"), no("private")},
		{"RFC 9213 §2.1", "CDN-Cache-Control no-cache", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "no-cache", "Cache-Control", "max-age=10000"),
			want{storable: true, lifetime: 0, source: "default", noCache: true}},
		{"RFC 9213 §2.1", "CDN-Cache-Control s-maxage before max-age", base, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=100, s-maxage=10"),
			want{storable: true, lifetime: 10 * s, source: "cdn-cache-control", mustRevalidate: true}},

		// Freshness (RFC 9111 §4.2.1).
		{"RFC 9111 §5.2.2.10", "s-maxage over max-age, implies proxy-revalidate", base, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60, s-maxage=10"),
			want{storable: true, lifetime: 10 * s, source: "s-maxage", mustRevalidate: true}},
		{"RFC 9111 §5.2.2.10 + §4.2.4", "stale-while-revalidate and stale-if-error beside s-maxage are not honoured", graceful, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60, s-maxage=10, stale-while-revalidate=30, stale-if-error=300"),
			want{storable: true, lifetime: 10 * s, source: "s-maxage", mustRevalidate: true}},
		{"RFC 9111 §5.2.2.10 + RFC 9213 §2.1", "CDN-Cache-Control s-maxage with stale windows: no stale serving", graceful, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "s-maxage=10, stale-while-revalidate=30"),
			want{storable: true, lifetime: 10 * s, source: "cdn-cache-control", mustRevalidate: true}},
		{"RFC 9111 §5.3", "max-age over Expires", base, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60", "Expires", httpDate(respT.Add(time.Hour)), "Date", date), ok(60*s, "max-age")},
		{"RFC 9111 §4.2.1", "Expires minus Date", base, "GET", hdr(), 200,
			hdr("Expires", httpDate(respT.Add(time.Hour)), "Date", httpDate(respT.Add(-10*s))), ok(time.Hour+10*s, "expires")},
		{"RFC 9111 §4.2.1", "Expires without Date uses the response time", base, "GET", hdr(), 200,
			hdr("Expires", httpDate(respT.Add(time.Hour))), ok(time.Hour, "expires")},
		{"RFC 9111 §5.3", "invalid Expires is already expired", base, "GET", hdr(), 200,
			hdr("Expires", "0", "Date", date), ok(0, "expires")},
		{"RFC 9111 §5.3", "past Expires", base, "GET", hdr(), 200,
			hdr("Expires", httpDate(respT.Add(-time.Hour)), "Date", date), ok(0, "expires")},
		{"RFC 9111 §4.2.1", "invalid max-age is stale", base, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=abc", "Expires", httpDate(respT.Add(time.Hour))), ok(0, "max-age")},
		{"RFC 9111 §4.2.2", "heuristic: 10% of Date - Last-Modified", base, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-30*time.Minute))), ok(3*time.Minute, "heuristic")},
		{"RFC 9111 §4.2.2", "heuristic capped at the site's default TTL", base, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-10*time.Hour))), ok(5*time.Minute, "heuristic")},
		{"RFC 9111 §4.2.2", "heuristic capped at 24h by default", Policy{DefaultTTL: 48 * time.Hour}, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-1000*24*time.Hour))), ok(24*time.Hour, "heuristic")},
		{"RFC 9111 §4.2.2", "heuristic cap and fraction configurable", Policy{DefaultTTL: time.Minute, HeuristicFraction: 0.5, HeuristicMax: 2 * time.Hour}, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-2*time.Hour))), ok(time.Hour, "heuristic")},
		{"RFC 9111 §4.2.2", "heuristic off by negative fraction", Policy{DefaultTTL: time.Minute, HeuristicFraction: -1}, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-2*time.Hour))), ok(time.Minute, "default")},
		{"RFC 9111 §4.2.2", "heuristic without Date uses the response time", base, "GET", hdr(), 200,
			hdr("Last-Modified", httpDate(respT.Add(-30*time.Minute))), ok(3*time.Minute, "heuristic")},
		{"RFC 9111 §4.2.2", "Last-Modified after Date: no heuristic", base, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(time.Hour))), ok(5*time.Minute, "default")},
		{"RFC 9111 §4.2.2", "heuristic for 404", base, "GET", hdr(), 404,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-30*time.Minute))), ok(3*time.Minute, "heuristic")},
		{"RFC 9111 §4.2.2", "no heuristic for 302", base, "GET", hdr(), 302,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-10*time.Hour))), no("no-freshness")},
		{"RFC 9111 §4.2.2", "heuristic for 302 marked public", base, "GET", hdr(), 302,
			hdr("Cache-Control", "public", "Date", date, "Last-Modified", httpDate(respT.Add(-30*time.Minute))), ok(3*time.Minute, "heuristic")},
		{"RFC 9110 §15.1", "no default for 302", base, "GET", hdr(), 302, hdr("Date", date), no("no-freshness")},
		{"RFC 9110 §15.1", "no default for 500", base, "GET", hdr(), 500, hdr(), no("no-freshness")},
		{"RFC 9110 §15.1", "500 with explicit freshness", base, "GET", hdr(), 500, hdr("Cache-Control", "max-age=5"), ok(5*s, "max-age")},
		{"RFC 9110 §15.1", "302 with explicit freshness", base, "GET", hdr(), 302, hdr("Expires", httpDate(respT.Add(time.Minute))), ok(time.Minute, "expires")},
		{"RFC 9110 §15.1", "default for 404", base, "GET", hdr(), 404, hdr(), ok(5*time.Minute, "default")},
		{"RFC 9110 §15.1", "default for 501", base, "GET", hdr(), 501, hdr(), ok(5*time.Minute, "default")},
		{"policy", "DefaultTTL 0: no explicit freshness, not stored", noDefault, "GET", hdr(), 200, hdr("Date", date), no("no-freshness")},
		{"policy", "DefaultTTL 0 disables the heuristic", noDefault, "GET", hdr(), 200,
			hdr("Date", date, "Last-Modified", httpDate(respT.Add(-10*time.Hour))), no("no-freshness")},
		{"policy", "DefaultTTL 0 keeps explicit freshness", noDefault, "GET", hdr(), 200, hdr("Cache-Control", "max-age=9"), ok(9*s, "max-age")},

		// Revalidation and stale serving (RFC 9111 §4.2.4, §5.2.2; RFC 5861).
		{"RFC 9111 §5.2.2.4", "no-cache: store, revalidate every time", base, "GET", hdr(), 200,
			hdr("Cache-Control", "no-cache, max-age=60, stale-if-error=60", "ETag", `"x"`),
			want{storable: true, lifetime: 0, source: "max-age", noCache: true}},
		{"RFC 9111 §5.2.2.2", "must-revalidate: no stale serving", graceful, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30"),
			want{storable: true, lifetime: 60 * s, source: "max-age", mustRevalidate: true}},
		{"RFC 9111 §5.2.2.8", "proxy-revalidate: no stale serving", graceful, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60, proxy-revalidate"),
			want{storable: true, lifetime: 60 * s, source: "max-age", mustRevalidate: true}},
		{"RFC 5861 §3-4", "stale windows from Cache-Control", graceful, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=300"),
			want{storable: true, lifetime: 60 * s, source: "max-age", swr: 30 * s, sie: 300 * s}},
		{"RFC 5861", "site defaults when the origin says nothing", graceful, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60"),
			want{storable: true, lifetime: 60 * s, source: "max-age", swr: 10 * s, sie: time.Hour}},
		{"RFC 5861", "explicit zero beats the default", graceful, "GET", hdr(), 200,
			hdr("Cache-Control", "max-age=60, stale-while-revalidate=0"),
			want{storable: true, lifetime: 60 * s, source: "max-age", swr: 0, sie: time.Hour}},
		{"RFC 9213 §2.2", "winning field's windows; Cache-Control's ignored, site default instead", graceful, "GET", hdr(), 200,
			hdr("Surrogate-Control", "max-age=60, stale-while-revalidate=5", "Cache-Control", "no-store, stale-while-revalidate=100, stale-if-error=7"),
			want{storable: true, lifetime: 60 * s, source: "surrogate-control", swr: 5 * s, sie: time.Hour}},
		{"RFC 9213 §2.2", "CDN-Cache-Control governs: Cache-Control stale windows ignored", graceful, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=60", "Cache-Control", "max-age=5, stale-while-revalidate=100, stale-if-error=7"),
			want{storable: true, lifetime: 60 * s, source: "cdn-cache-control", swr: 10 * s, sie: time.Hour}},
		{"Edge Arch §3", "max-age=N+M gives stale-if-error", graceful, "GET", hdr(), 200,
			hdr("Surrogate-Control", "max-age=60+600"),
			want{storable: true, lifetime: 60 * s, source: "surrogate-control", swr: 10 * s, sie: 600 * s}},
		{"RFC 5861", "CDN-Cache-Control windows", graceful, "GET", hdr(), 200,
			hdr("Cdn-Cache-Control", "max-age=60, stale-if-error=20"),
			want{storable: true, lifetime: 60 * s, source: "cdn-cache-control", swr: 10 * s, sie: 20 * s}},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			d := Decide(tc.p, tc.method, tc.req, tc.status, tc.resp, reqT, respT)
			got := want{d.Storable, d.Reason, d.Lifetime, d.Source, d.SWR, d.SIE, d.MustRevalidate, d.NoCache, d.StripFields}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decide(%s %d %v)\n got %+v\nwant %+v", tc.method, tc.status, tc.resp, got, tc.want)
			}
		})
	}
}

func TestDecideInitialAge(t *testing.T) {
	// RFC 9111 §4.2.3: the decision carries the corrected initial age, so a
	// response whose Age exceeds its lifetime is stale on arrival.
	reqT := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	respT := reqT.Add(time.Second)
	d := Decide(Policy{}, "GET", hdr(), 200, hdr("Cache-Control", "max-age=3600", "Age", "7200", "Date", httpDate(respT)), reqT, respT)
	if !d.Storable || d.InitialAge != 7201*s || d.Lifetime != 3600*s {
		t.Fatalf("%+v", d)
	}
}

func TestDecideAfter304(t *testing.T) {
	// RFC 9111 §4.3.4 with §4.2.3: a stored response fetched two hours ago
	// (Age 100 then) and freshened now by a 304 without Date or Age is
	// fresh again, its age only the revalidation delay.
	fetched := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	stored := hdr("Cache-Control", "max-age=60", "Date", httpDate(fetched), "Age", "100", "ETag", `"v1"`)
	reqT := fetched.Add(2 * time.Hour)
	respT := reqT.Add(time.Second)
	merged := Merge304(stored, hdr("ETag", `"v1"`, "Cache-Control", "max-age=120"))
	d := Decide(Policy{}, "GET", hdr(), 200, merged, reqT, respT)
	if !d.Storable || d.Lifetime != 120*s || d.InitialAge != 1*s {
		t.Fatalf("%+v", d)
	}
}
