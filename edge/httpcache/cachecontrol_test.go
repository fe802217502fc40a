package httpcache

import (
	"strings"
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		rfc    string
		name   string
		values []string
		want   Directives
	}{
		{"RFC 9111 §5.2", "absent", nil, dirs(nil)},
		{"RFC 9111 §5.2.2.1", "max-age", []string{"max-age=60"}, dirs(func(d *Directives) { d.MaxAge = 60 * s })},
		{"RFC 9111 §5.2", "names are case-insensitive", []string{"MAX-AGE=60, No-Store"}, dirs(func(d *Directives) { d.MaxAge = 60 * s; d.NoStore = true })},
		{"RFC 9111 §5.2", "quoted argument accepted", []string{`max-age="60"`}, dirs(func(d *Directives) { d.MaxAge = 60 * s })},
		{"RFC 9111 §5.2", "leading zeros", []string{"max-age=003600"}, dirs(func(d *Directives) { d.MaxAge = 3600 * s })},
		{"RFC 9111 §1.2.2", "delta-seconds overflow saturates at 2^31", []string{"max-age=99999999999999999999999"}, dirs(func(d *Directives) { d.MaxAge = maxDelta })},
		{"RFC 9111 §1.2.2", "2^31 exactly", []string{"s-maxage=2147483648"}, dirs(func(d *Directives) { d.SMaxAge = maxDelta })},
		{"RFC 9111 §4.2.1", "first of two max-age wins (same line)", []string{"max-age=1800, max-age=1"}, dirs(func(d *Directives) { d.MaxAge = 1800 * s })},
		{"RFC 9111 §4.2.1", "first of two max-age wins (two lines)", []string{"max-age=1", "max-age=1800"}, dirs(func(d *Directives) { d.MaxAge = 1 * s })},
		{"RFC 9111 §4.2.1", "non-numeric max-age is stale", []string{"max-age=a3600"}, dirs(func(d *Directives) { d.MaxAge = 0; d.Invalid = true })},
		{"RFC 9111 §4.2.1", "decimal max-age is stale", []string{"max-age=3600.5"}, dirs(func(d *Directives) { d.MaxAge = 0; d.Invalid = true })},
		{"RFC 9111 §4.2.1", "negative max-age is stale", []string{"max-age=-1"}, dirs(func(d *Directives) { d.MaxAge = 0; d.Invalid = true })},
		{"RFC 9111 §5.2", "space before = makes the element malformed", []string{"max-age =3600"}, dirs(func(d *Directives) { d.Invalid = true })},
		{"RFC 9111 §5.2", "space after = makes the element malformed", []string{"max-age= 3600"}, dirs(func(d *Directives) { d.Invalid = true })},
		{"RFC 9111 §4.2.1", "single quotes are not quotes: invalid value, stale", []string{"max-age='3600'"}, dirs(func(d *Directives) { d.MaxAge = 0; d.Invalid = true })},
		{"RFC 9111 §5.2", "directive inside a quoted extension is not a directive", []string{`extension="max-age=3600", max-age=1`}, dirs(func(d *Directives) { d.MaxAge = 1 * s })},
		{"RFC 9111 §5.2", "quoted extension after", []string{`max-age=1, extension="max-age=3600, no-store"`}, dirs(func(d *Directives) { d.MaxAge = 1 * s })},
		{"RFC 9111 §5.2", "malformed element skipped, rest used", []string{"max-age=5, @@@, no-store"}, dirs(func(d *Directives) { d.MaxAge = 5 * s; d.NoStore = true; d.Invalid = true })},
		{"RFC 9111 §5.2", "empty list elements", []string{" , ,max-age=5,, "}, dirs(func(d *Directives) { d.MaxAge = 5 * s })},
		{"RFC 9111 §5.2.2.10", "s-maxage", []string{"s-maxage=10, max-age=5"}, dirs(func(d *Directives) { d.SMaxAge = 10 * s; d.MaxAge = 5 * s })},
		{"RFC 9111 §5.2.2.4", "no-cache bare", []string{"no-cache"}, dirs(func(d *Directives) { d.NoCache = true })},
		{"RFC 9111 §5.2.2.4", "no-cache with field names", []string{`no-cache="set-cookie, x-foo"`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"Set-Cookie", "X-Foo"} })},
		{"RFC 9111 §5.2.2.4", "no-cache token form", []string{`no-cache=x-foo`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"X-Foo"} })},
		{"RFC 9111 §5.2.2.4", "no-cache empty quoted string is unqualified", []string{`no-cache=""`}, dirs(func(d *Directives) { d.NoCache = true })},
		{"RFC 9111 §5.2.2.4", "no-cache both forms", []string{`no-cache="a", no-cache`}, dirs(func(d *Directives) { d.NoCache = true; d.NoCacheFields = []string{"A"} })},
		{"RFC 9111 §5.2.2.4", "no-cache field names deduplicated", []string{`no-cache="a, A", no-cache="a"`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"A"} })},
		{"RFC 9111 §5.2.2.4", "no-cache list with only junk is unqualified", []string{`no-cache="@@"`}, dirs(func(d *Directives) { d.NoCache = true; d.Invalid = true })},
		{"RFC 9111 §5.2.2.7", "private bare", []string{"private"}, dirs(func(d *Directives) { d.Private = true })},
		{"RFC 9111 §5.2.2.7", "private with field names", []string{`private="Authorization-Info"`}, dirs(func(d *Directives) { d.PrivateFields = []string{"Authorization-Info"} })},
		{"RFC 9111 §5.2.2.7", "private empty is unqualified", []string{`private=""`}, dirs(func(d *Directives) { d.Private = true })},
		{"RFC 9111 §5.2.2.5", "no-store", []string{"no-store"}, dirs(func(d *Directives) { d.NoStore = true })},
		{"RFC 9111 §5.2.2", "flags", []string{"public, must-revalidate, proxy-revalidate, no-transform, must-understand, immutable"}, dirs(func(d *Directives) {
			d.Public, d.MustRevalidate, d.ProxyRevalidate, d.NoTransform, d.MustUnderstand, d.Immutable = true, true, true, true, true, true
		})},
		{"RFC 9111 §5.2", "argument on a flag is flagged but honoured", []string{"no-store=1"}, dirs(func(d *Directives) { d.NoStore = true; d.Invalid = true })},
		{"RFC 5861 §3-4", "stale-while-revalidate and stale-if-error", []string{"max-age=60, stale-while-revalidate=30, stale-if-error=600"}, dirs(func(d *Directives) {
			d.MaxAge, d.StaleWhileRevalidate, d.StaleIfError = 60*s, 30*s, 600*s
		})},
		{"RFC 5861 §3", "malformed swr ignored", []string{"stale-while-revalidate=x"}, dirs(func(d *Directives) { d.Invalid = true })},
		{"RFC 9111 §5.2.1", "request directives", []string{"max-stale=10, min-fresh=5, only-if-cached, no-cache"}, dirs(func(d *Directives) {
			d.MaxStale, d.MinFresh, d.OnlyIfCached, d.NoCache = 10*s, 5*s, true, true
		})},
		{"RFC 9111 §5.2.1.2", "bare max-stale accepts any staleness", []string{"max-stale"}, dirs(func(d *Directives) { d.MaxStale = maxDelta })},
		{"RFC 9111 §5.2", "unterminated quoted string", []string{`no-cache="a, max-age=5`}, dirs(func(d *Directives) { d.Invalid = true })},
		{"RFC 9110 §5.6.4", "quoted-pair unescaped", []string{`no-cache="a\,b"`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"A", "B"} })},
		{"RFC 9111 §5.2", "unknown extensions ignored", []string{`foo, bar=baz, qux="x"`}, dirs(nil)},
		{"RFC 9110 §5.6.1", "OWS before a comma", []string{"public , max-age=5 ,no-store"}, dirs(func(d *Directives) { d.MaxAge = 5 * s; d.Public = true; d.NoStore = true })},
		{"RFC 9111 §5.2", "tabs as OWS", []string{"\tmax-age=5\t,\tpublic"}, dirs(func(d *Directives) { d.MaxAge = 5 * s; d.Public = true })},
		{"RFC 9111 §5.2", "control character makes element malformed", []string{"max-age=5\x00, public"}, dirs(func(d *Directives) { d.Public = true; d.Invalid = true })},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got := ParseCacheControl(tc.values)
			if !equalDirectives(got, tc.want) {
				t.Errorf("ParseCacheControl(%q)\n got %+v\nwant %+v", tc.values, got, tc.want)
			}
		})
	}
}

func TestParseCacheControlFieldNameBound(t *testing.T) {
	// RFC 9111 §5.2.2.4 (hostile input): the field name list is bounded.
	var b strings.Builder
	b.WriteString(`no-cache="`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("x-h")
		b.WriteString(strings.Repeat("a", i%50+1))
		b.WriteByte(byte('a' + i%26))
	}
	b.WriteString(`"`)
	d := ParseCacheControl([]string{b.String()})
	if len(d.NoCacheFields) != maxFieldNames || !d.Invalid {
		t.Fatalf("fields=%d invalid=%v", len(d.NoCacheFields), d.Invalid)
	}
}
