package httpcache

import (
	"net/http"
	"net/textproto"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshcdn/meshcdn/edge/purgegate"
)

// Fuzz targets: every parser must terminate, never panic, and keep its
// documented invariants for any input. Run one with, e.g.
//
//	go test -run='^$' -fuzz=FuzzParseCacheControl -fuzztime=45s ./edge/httpcache/

func checkDuration(t *testing.T, name string, d time.Duration) {
	t.Helper()
	if d != -1 && (d < 0 || d > maxDelta) {
		t.Fatalf("%s = %v out of range", name, d)
	}
}

func checkDirectives(t *testing.T, d Directives) {
	t.Helper()
	checkDuration(t, "MaxAge", d.MaxAge)
	checkDuration(t, "SMaxAge", d.SMaxAge)
	checkDuration(t, "StaleWhileRevalidate", d.StaleWhileRevalidate)
	checkDuration(t, "StaleIfError", d.StaleIfError)
	checkDuration(t, "MinFresh", d.MinFresh)
	checkDuration(t, "MaxStale", d.MaxStale)
	for _, list := range [][]string{d.NoCacheFields, d.PrivateFields} {
		if len(list) > maxFieldNames {
			t.Fatalf("%d field names", len(list))
		}
		seen := map[string]bool{}
		for _, f := range list {
			if seen[f] || f != textproto.CanonicalMIMEHeaderKey(f) || !isToken(f) {
				t.Fatalf("bad field name list %q", list)
			}
			seen[f] = true
		}
	}
}

var ccSeeds = []string{
	"max-age=60", `max-age="60"`, "max-age=60, s-maxage=10, stale-while-revalidate=5, stale-if-error=9",
	`no-cache="set-cookie, x-a", private="b"`, "no-store, must-revalidate, proxy-revalidate, public",
	`extension="max-age=3600", max-age=1`, "max-age =1", "max-stale, min-fresh=3, only-if-cached",
	`no-cache="a\,b`, "max-age=99999999999999999999", ",,,", "\"", "a=\"\\",
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range ccSeeds {
		f.Add(s, "")
	}
	f.Add("max-age=1", "max-age=2")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := ParseCacheControl([]string{a, b})
		checkDirectives(t, d)
		// One field line per value or joined with a comma: same directives
		// (list semantics, RFC 9110 §5.3) — unless a quoted-string is left
		// open, which a join would close differently.
		if !strings.Contains(a, `"`) && !strings.Contains(a, `\`) {
			j := ParseCacheControl([]string{a + "," + b})
			j.Invalid, d.Invalid = false, false
			if !equalDirectives(j, d) {
				t.Fatalf("lines %q, %q: %+v\njoined: %+v", a, b, d, j)
			}
		}
	})
}

// checkSFRoundTrip verifies that a successful parse serializes to a form
// that parses to the same structure (RFC 9651 §4.1 / §4.2 consistency).
func checkSFRoundTrip(t *testing.T, in string, dict bool) {
	t.Helper()
	parse := parseSFList
	if dict {
		parse = parseSFDictionary
	}
	ms, ok := parse(in)
	if !ok {
		return
	}
	out := serializeSF(ms, dict)
	ms2, ok := parse(out)
	if !ok {
		t.Fatalf("serialized form %q of %q does not parse", out, in)
	}
	if out2 := serializeSF(ms2, dict); out2 != out {
		t.Fatalf("round trip of %q: %q != %q", in, out2, out)
	}
}

func FuzzParseSF(f *testing.F) {
	for _, s := range []string{
		`sugar, tea, rum`, `("foo" "bar");lvl=5, ()`, `abc;a=1;b=2; cde_456, (ghi;jk=4 l);q="9";r=w`,
		`4.5, -0.25, 123456789012.123`, `:aGVsbG8:`, `?1, ?0`, `@1659578233`, `%"f%c3%bc"`,
		`en="Applepie", da=:w4ZibGV0w6ZydGUK:`, `a=?0, b, c; foo=bar`, `a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid`,
		`max-age=60, private="set-cookie"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkSFRoundTrip(t, in, false)
		checkSFRoundTrip(t, in, true)
	})
}

func FuzzParseCDNCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=3600", "none", `max-age="1"`, "max-age=1, &&", `no-cache="a, b", private`, "no-store=?0",
		"s-maxage=10, stale-while-revalidate=20, stale-if-error=30, must-revalidate;x=1", "MaX-aGe=3600",
		"max-age=999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, ok := ParseCDNCacheControl([]string{in})
		checkDirectives(t, d)
		if !ok && !equalDirectives(d, dirs(func(x *Directives) { x.Invalid = d.Invalid })) {
			t.Fatalf("ok=false but directives set: %+v", d)
		}
		if ok {
			if _, valid := parseSFDictionary(in); !valid {
				t.Fatalf("ok for an invalid dictionary %q", in)
			}
		}
	})
}

func FuzzParseSurrogateControl(f *testing.F) {
	for _, s := range []string{
		"max-age=3600", "max-age=60+600", "no-store, max-age=300;meshcdn", `content="ESI/1.0", max-age=5`,
		"max-age=10;othercdn", "no-store-remote", "max-age=60, stale-while-revalidate=10", "max-age=+", ";",
	} {
		f.Add(s, "meshcdn")
	}
	f.Fuzz(func(t *testing.T, in, target string) {
		d, ok := ParseSurrogateControl([]string{in}, target)
		checkDirectives(t, d)
		if !ok && (d.MaxAge >= 0 || d.NoStore) {
			t.Fatalf("ok=false with directives: %+v", d)
		}
	})
}

func FuzzParseCacheGroups(f *testing.F) {
	for _, s := range []string{`"a", "b"`, `"a", b, 1, ("c")`, `"a`, `"a\"b", "a\"b"`, ``, `"x";p=1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		groups, ok := ParseCacheGroups([]string{in})
		if !ok && groups != nil {
			t.Fatal("groups without ok")
		}
		seen := map[string]bool{}
		for _, g := range groups {
			if g == "" || len(g) > purgegate.MaxKeyBytes || seen[g] {
				t.Fatalf("bad group %q in %q", g, groups)
			}
			seen[g] = true
		}
	})
}

func FuzzParseVary(f *testing.F) {
	for _, s := range []string{"accept-encoding", "*", "Foo, *", ", *", "a,b,,a, B", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fields, star := ParseVary([]string{in})
		if varyStar([]string{in}) != star {
			t.Fatalf("varyStar disagrees with ParseVary on %q", in)
		}
		if len(fields) > maxVaryFields || !sort.StringsAreSorted(fields) {
			t.Fatalf("fields %q", fields)
		}
		for i, fl := range fields {
			if fl != textproto.CanonicalMIMEHeaderKey(fl) || !isToken(fl) || i > 0 && fields[i-1] == fl {
				t.Fatalf("fields %q", fields)
			}
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=0-5, 3-8",
		"bytes=0-,0-,0-", "bytes=5-4", "items=0-1", "bytes=99999999999999999999999-"} {
		f.Add(s, int64(10000))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, in string, size int64) {
		rs, err := ParseRange(in, size)
		if err != nil {
			if rs != nil || (err != ErrInvalidRange && err != ErrUnsatisfiable) {
				t.Fatalf("%v %v", rs, err)
			}
			return
		}
		if len(rs) == 0 || len(rs) > MaxRanges {
			t.Fatalf("%d ranges", len(rs))
		}
		for _, r := range rs {
			if r.Start < 0 || r.End < r.Start || r.End >= size {
				t.Fatalf("range %+v outside size %d", r, size)
			}
		}
	})
}

func FuzzParseSurrogateKeys(f *testing.F) {
	for _, s := range []string{"company/42 user/9", "a a\tb", "a\x00b c", strings.Repeat("k", 1100) + " x"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		keys, dropped := ParseSurrogateKeys([]string{a, b})
		if dropped < 0 {
			t.Fatal("negative dropped")
		}
		if len(a)+len(b) > MaxHeaderBytes && keys != nil {
			t.Fatal("keys from an oversized header")
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k == "" || len(k) > purgegate.MaxKeyBytes || hasCTL(k) || strings.ContainsAny(k, " \t") || seen[k] {
				t.Fatalf("bad key %q", k)
			}
			seen[k] = true
		}
	})
}

func FuzzDecide(f *testing.F) {
	f.Add("max-age=60", "", "", "Wed, 01 May 2024 12:00:00 GMT", "", "", 200)
	f.Add("no-cache, s-maxage=5", "max-age=9+9", "max-age=1", "", "0", "5", 404)
	f.Add("", "", "", "", "", "", 302)
	f.Fuzz(func(t *testing.T, cc, sc, cdn, date, expires, age string, status int) {
		h := hdr("Cache-Control", cc, "Surrogate-Control", sc, "Cdn-Cache-Control", cdn,
			"Date", date, "Expires", expires, "Age", age, "Last-Modified", date)
		now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		p := Policy{DefaultTTL: time.Minute, DefaultSWR: s, DefaultSIE: s, SurrogateTarget: "meshcdn"}
		d := Decide(p, "GET", hdr(), status, h, now, now.Add(time.Second))
		if d.Storable != (d.Reason == "") || d.Storable != (d.Source != "") {
			t.Fatalf("inconsistent decision %+v", d)
		}
		for _, v := range []time.Duration{d.Lifetime, d.SWR, d.SIE, d.InitialAge} {
			if v < 0 || v > maxDelta {
				t.Fatalf("duration out of range: %+v", d)
			}
		}
		if (d.MustRevalidate || d.NoCache) && (d.SWR != 0 || d.SIE != 0) {
			t.Fatalf("stale windows with revalidation required: %+v", d)
		}
	})
}

func FuzzConditional(f *testing.F) {
	f.Add(`"a", W/"b"`, `W/"b"`, "Wed, 01 May 2024 12:00:00 GMT", "Wed, 01 May 2024 12:00:00 GMT")
	f.Add(`*`, `"x"`, "", "")
	f.Fuzz(func(t *testing.T, inm, etag, ims, lm string) {
		req := hdr("If-None-Match", inm, "If-Modified-Since", ims, "If-Range", inm, "If-Match", inm)
		resp := hdr("Etag", etag, "Last-Modified", lm, "Date", ims)
		EvaluateConditional(req, resp)
		IfRangeMatches(req, resp)
		Preconditions("GET", req, 200, resp)
		NormalizeAcceptEncoding(inm)
		Merge304(resp, req)
	})
}

// FuzzHTTPDate: the strict parser never panics; what it accepts is one of
// the three formats exactly as time.Format writes them (the weekday aside,
// which is not checked, and asctime's 2DIGIT day), in UTC, whole seconds;
// and http.ParseTime, more lenient, reads the same instant from it.
func FuzzHTTPDate(f *testing.F) {
	for _, d := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sun Nov 06 08:49:37 1994", "Thu, 31 Apr 2024 00:00:00 GMT", "Thu, 29 Feb 2024 23:59:59 GMT", "THU, 18 AUG 2050 02:01:18 GMT",
		"Mon, 01 Jan 0000 00:00:60 GMT", "Wed, 31 Dec 2008 23:59:60 GMT", "Sun, 06 Nov 1994  08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT"} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := parseDate(in, 2026)
		if !ok {
			return
		}
		if got.Location() != time.UTC || got.Nanosecond() != 0 {
			t.Fatalf("%q: %v", in, got)
		}
		s := trimOWS(in)
		if strings.Contains(s, ":60 ") {
			return // leap second: read as the next second, which http.ParseTime rejects
		}
		var canon string
		switch {
		case s[3] == ',':
			canon = got.Format(layoutIMF)
			s, canon = s[3:], canon[3:]
		case s[3] == ' ':
			canon = got.Format(layoutASCTime)
			if s[8] == '0' {
				canon = got.Format("Mon Jan 02 15:04:05 2006")
			}
			s, canon = s[3:], canon[3:]
		default:
			canon = got.Format(layoutRFC850)
			s, canon = s[strings.IndexByte(s, ','):], canon[strings.IndexByte(canon, ','):]
		}
		if s != canon {
			t.Fatalf("%q accepted as %v, which reads %q", in, got, canon)
		}
		lenient, err := http.ParseTime(trimOWS(in))
		if err != nil {
			t.Fatalf("%q accepted, http.ParseTime: %v", in, err)
		}
		if lenient.Year()%100 == got.Year()%100 { // RFC 850: http.ParseTime has its own century rule
			lenient = lenient.AddDate(got.Year()-lenient.Year(), 0, 0)
		}
		if !lenient.Equal(got) {
			t.Fatalf("%q: %v, http.ParseTime %v", in, got, lenient)
		}
	})
}

func FuzzCacheStatus(f *testing.F) {
	f.Add("meshcdn", "uri-miss", 200, int64(3600e9), "detail")
	f.Add("edge 1", "not a token", 42, int64(-1), "a\"b\\c")
	f.Fuzz(func(t *testing.T, name, fwd string, status int, ttl int64, detail string) {
		for _, hit := range []bool{true, false} {
			c := CacheStatus{Hit: hit, Fwd: fwd, FwdStatus: status, TTL: time.Duration(ttl), HasTTL: true, Stored: true, Collapsed: true, Detail: detail}
			out := c.Format(name)
			if _, ok := parseSFList(out); !ok {
				t.Fatalf("Format produced an invalid SF list member: %q", out)
			}
		}
	})
}

// FuzzAcceptLanguage: normalisation is idempotent, and what it accepts it
// writes in its own alphabet (no OWS, no control bytes).
func FuzzAcceptLanguage(f *testing.F) {
	f.Add("en-US,en;q=0.9")
	f.Add(" ZH-hant-tw ; Q=0.5 , *")
	f.Add("en-x-AB")
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := NormalizeAcceptLanguage([]string{in})
		if !ok {
			return
		}
		again, ok := NormalizeAcceptLanguage([]string{n})
		if !ok || again != n {
			t.Fatalf("%q → %q → %q, %v", in, n, again, ok)
		}
		if strings.ContainsAny(n, " \t\r\n%") {
			t.Fatalf("%q → %q", in, n)
		}
	})
}
