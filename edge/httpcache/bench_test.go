package httpcache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// go test -run='^$' -bench=. -benchmem ./edge/httpcache/

var sinkDirectives Directives
var sinkDecision Decision

func BenchmarkParseCacheControl(b *testing.B) {
	cases := map[string][]string{
		"simple":    {"max-age=3600"},
		"typical":   {"public, max-age=300, s-maxage=600, stale-while-revalidate=30, stale-if-error=86400"},
		"no-store":  {"no-store"},
		"fieldlist": {`private="Set-Cookie", no-cache="X-User, X-Session", max-age=60`},
	}
	for name, v := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				sinkDirectives = ParseCacheControl(v)
			}
		})
	}
}

func BenchmarkParseCDNCacheControl(b *testing.B) {
	v := []string{"max-age=600, stale-while-revalidate=30, stale-if-error=3600"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sinkDirectives, _ = ParseCDNCacheControl(v)
	}
}

func BenchmarkDecide(b *testing.B) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	p := Policy{DefaultTTL: time.Hour, DefaultSWR: 10 * time.Second, DefaultSIE: time.Hour, SurrogateTarget: "meshcdn"}
	req := http.Header{"Accept-Encoding": {"gzip, br"}, "User-Agent": {"bench"}}
	cases := map[string]http.Header{
		"cache-control": {
			"Cache-Control": {"public, max-age=300"}, "Date": {date}, "Etag": {`"abc"`},
			"Last-Modified": {date}, "Content-Type": {"application/json"}, "Vary": {"Accept-Encoding"},
		},
		"surrogate-control": {
			"Surrogate-Control": {"max-age=3600"}, "Cache-Control": {"no-store"}, "Date": {date},
			"Surrogate-Key": {"company/42 user/9"}, "Content-Type": {"application/json"},
			"Vary": {"X-Geo-Country-Code"},
		},
		"cdn-cache-control": {
			"Cdn-Cache-Control": {"max-age=600, stale-while-revalidate=30"}, "Cache-Control": {"max-age=60"},
			"Date": {date}, "Content-Type": {"text/html"},
		},
		"heuristic": {
			"Date": {date}, "Last-Modified": {now.Add(-240 * time.Hour).Format(http.TimeFormat)}, "Content-Type": {"image/png"},
		},
		"no-store": {"Cache-Control": {"private, no-store"}, "Content-Type": {"application/json"}},
	}
	for name, h := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				sinkDecision = Decide(p, "GET", req, 200, h, now, now)
			}
		})
	}
}

func BenchmarkParseSurrogateKeys(b *testing.B) {
	v := []string{"company/42 user/9 salesforce region/eu"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParseSurrogateKeys(v)
	}
}

func BenchmarkParseRange(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParseRange("bytes=0-1023", 1<<20)
	}
}

func BenchmarkCacheStatusFormat(b *testing.B) {
	c := CacheStatus{Fwd: "uri-miss", FwdStatus: 200, Stored: true, TTL: time.Hour, HasTTL: true}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = c.Format("meshcdn")
	}
}

func BenchmarkNormalizeAcceptEncoding(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		NormalizeAcceptEncoding("gzip, deflate, br, zstd")
	}
}

func BenchmarkEvaluateConditional(b *testing.B) {
	req := http.Header{"If-None-Match": {`"xyz", "abc"`}}
	resp := http.Header{"Etag": {`"abc"`}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		EvaluateConditional(req, resp)
	}
}

func BenchmarkParseHTTPDate(b *testing.B) {
	for _, in := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		b.Run(in[:strings.IndexByte(in, ' ')], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				parseHTTPDate(in)
			}
		})
	}
}
