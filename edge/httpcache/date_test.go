package httpcache

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// Layouts of the three HTTP-date formats (RFC 9110 §5.6.7) for
// time.Format, which writes the literal "GMT" of the first two as is.
const (
	layoutIMF     = http.TimeFormat                  // IMF-fixdate
	layoutRFC850  = "Monday, 02-Jan-06 15:04:05 GMT" // obsolete RFC 850 format
	layoutASCTime = time.ANSIC                       // asctime: "Mon Jan _2 15:04:05 2006"
)

func TestParseHTTPDate(t *testing.T) {
	nov6 := time.Date(1994, time.November, 6, 8, 49, 37, 0, time.UTC)
	const year = 2026 // the current year, for rfc850-date's two-digit years
	tests := []struct {
		rfc, name, in string
		want          time.Time // zero: invalid
	}{
		{"RFC 9110 §5.6.7", "IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", nov6},
		{"RFC 9110 §5.6.7", "rfc850-date", "Sunday, 06-Nov-94 08:49:37 GMT", nov6},
		{"RFC 9110 §5.6.7", "asctime-date, day SP DIGIT", "Sun Nov  6 08:49:37 1994", nov6},
		{"RFC 9110 §5.6.7", "asctime-date, day 2DIGIT", "Sun Nov 06 08:49:37 1994", nov6},
		{"RFC 9110 §5.6.7", "asctime-date, two-digit day", "Wed Nov 16 08:49:37 1994", nov6.AddDate(0, 0, 10)},
		{"RFC 9110 §5.6.1", "surrounding OWS is not part of the value", " \tSun, 06 Nov 1994 08:49:37 GMT ", nov6},
		{"RFC 9110 §5.6.7", "weekday not checked", "Mon, 06 Nov 1994 08:49:37 GMT", nov6},
		{"RFC 9110 §5.6.7", "leap second", "Wed, 31 Dec 2008 23:59:60 GMT", time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"RFC 9110 §5.6.7", "year 0000", "Sat, 01 Jan 0000 00:00:00 GMT", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"RFC 9110 §5.6.7", "29 Feb of a leap year", "Thu, 29 Feb 2024 23:59:59 GMT", time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)},
		{"RFC 9110 §5.6.7", "rfc850: 50 years ahead is ahead", "Sunday, 06-Nov-76 08:49:37 GMT", time.Date(2076, 11, 6, 8, 49, 37, 0, time.UTC)},
		{"RFC 9110 §5.6.7", "rfc850: more than 50 years ahead is the past", "Sunday, 06-Nov-77 08:49:37 GMT", time.Date(1977, 11, 6, 8, 49, 37, 0, time.UTC)},
		{"RFC 9110 §5.6.7", "rfc850: this century", "Sunday, 06-Nov-25 08:49:37 GMT", time.Date(2025, 11, 6, 8, 49, 37, 0, time.UTC)},

		// What http.ParseTime accepts and the grammar does not.
		{"RFC 9110 §5.6.7", "double space between fields", "Sun, 06 Nov 1994  08:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "double space after the comma", "Sun,  06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "one-digit hour", "Sun, 06 Nov 1994 8:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "one-digit day", "Sun, 6 Nov 1994 08:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "month names are case-sensitive", "Sun, 06 NOV 1994 08:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "day names are case-sensitive", "sun, 06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "GMT is case-sensitive", "Sun, 06 Nov 1994 08:49:37 gmt", time.Time{}},
		{"RFC 9110 §5.6.7", "asctime one-digit day after one space", "Sun Nov 6 08:49:37 1994", time.Time{}},
		{"RFC 9110 §5.6.7", "asctime double space before the time", "Sun Nov  6  08:49:37 1994", time.Time{}},
		{"RFC 9110 §5.6.7", "rfc850 one-digit hour", "Sunday, 06-Nov-94 8:49:37 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "rfc850 short day name", "Sun, 06-Nov-94 08:49:37 GMT", time.Time{}},

		// Other malformations.
		{"RFC 9110 §5.6.7", "UTC instead of GMT", "Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}},
		{"RFC 9110 §5.6.7", "numeric zone", "Sun, 06 Nov 1994 08:49:37 +0000", time.Time{}},
		{"RFC 9110 §5.6.7", "no such day", "Thu, 31 Apr 2024 00:00:00 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "29 Feb of another year", "Wed, 29 Feb 2023 00:00:00 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "day 00", "Thu, 00 Apr 2024 00:00:00 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "hour 24", "Thu, 01 Apr 2024 24:00:00 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "minute 60", "Thu, 01 Apr 2024 00:60:00 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "second 60 outside a leap second", "Thu, 01 Apr 2024 00:00:60 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "sign in a number", "Thu, +1 Apr 2024 00:00:00 GMT", time.Time{}},
		{"RFC 9110 §5.6.7", "trailing garbage", "Sun, 06 Nov 1994 08:49:37 GMTx", time.Time{}},
		{"RFC 9110 §5.6.7", "two dates", "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"RFC 9111 §5.3", "Expires: 0", "0", time.Time{}},
		{"RFC 9110 §5.6.7", "empty", "", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got, ok := parseDate(tc.in, year)
			if ok != !tc.want.IsZero() || ok && !got.Equal(tc.want) {
				t.Errorf("parseDate(%q) = %v, %v; want %v (zero: invalid)", tc.in, got, ok, tc.want)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("parseDate(%q) is in %v, want UTC", tc.in, got.Location())
			}
		})
	}
}

// checkRoundTrip: a time written in any of the three formats reads back
// as itself (to the second; RFC 850 only within its 100-year window).
func checkRoundTrip(t *testing.T, tm time.Time) {
	t.Helper()
	tm = tm.UTC().Truncate(time.Second)
	layouts := []string{layoutIMF, layoutASCTime}
	if y := tm.Year() - 2026; y > -50 && y <= 50 {
		layouts = append(layouts, layoutRFC850)
	}
	for _, l := range layouts {
		in := tm.Format(l)
		got, ok := parseDate(in, 2026)
		if !ok || !got.Equal(tm) {
			t.Fatalf("parseDate(%q) = %v, %v; want %v", in, got, ok, tm)
		}
	}
}

func TestHTTPDateRoundTrip(t *testing.T) {
	// Random seconds of the years 0000-9999 (what a 4DIGIT year can
	// express) and the edges; a fixed seed keeps the test reproducible.
	rng := rand.New(rand.NewPCG(9, 16))
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 20000 {
		checkRoundTrip(t, time.Unix(lo+rng.Int64N(hi-lo+1), 0))
	}
	for _, tm := range []time.Time{time.Unix(lo, 0), time.Unix(hi, 0), time.Unix(0, 0), time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)} {
		checkRoundTrip(t, tm)
	}
}

// FuzzHTTPDateRoundTrip: the round trip for any second of years 0000-9999.
func FuzzHTTPDateRoundTrip(f *testing.F) {
	f.Add(int64(784111777))
	f.Add(int64(-62167219200)) // 0000-01-01
	f.Fuzz(func(t *testing.T, sec int64) {
		lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
		if sec < lo || sec > hi {
			return
		}
		checkRoundTrip(t, time.Unix(sec, 0))
	})
}

func TestDecideStrictDates(t *testing.T) {
	// RFC 9111 §5.3: an Expires that is not a valid HTTP-date — malformed
	// by http.ParseTime's leniency or given on several lines — is in the
	// past. RFC 9110 §5.6.7: a malformed Date is no Date.
	reqT := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	date := httpDate(reqT)
	future := "Wed, 01 May 2024  13:00:00 GMT" // an hour ahead, but two spaces
	oneDigit := "Wed, 01 May 2024 9:00:00 GMT"
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"valid Expires", hdr("Date", date, "Expires", httpDate(reqT.Add(time.Hour))), time.Hour},
		{"Expires with a double space", hdr("Date", date, "Expires", future), 0},
		{"Expires on two lines", hdr("Date", date, "Expires", httpDate(reqT.Add(time.Hour)), "Expires", httpDate(reqT.Add(time.Hour))), 0},
		{"Date with a one-digit hour is ignored", hdr("Date", oneDigit, "Expires", httpDate(reqT.Add(time.Hour))), time.Hour},
		{"Date on two lines is ignored", hdr("Date", httpDate(reqT.Add(-time.Hour)), "Date", httpDate(reqT.Add(-time.Hour)), "Expires", httpDate(reqT.Add(time.Hour))), time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(Policy{}, "GET", hdr(), 200, tc.h, reqT, reqT)
			if !d.Storable || d.Source != "expires" || d.Lifetime != tc.want {
				t.Errorf("Decide(%v) = %+v, want lifetime %v from expires", tc.h, d, tc.want)
			}
		})
	}
	// The heuristic reads Last-Modified with the same parser.
	lm := "Wed, 01 May 2024 1:00:00 GMT"
	d := Decide(Policy{DefaultTTL: time.Hour}, "GET", hdr(), 200, hdr("Date", date, "Last-Modified", lm), reqT, reqT)
	if d.Source != "default" {
		t.Errorf("a one-digit-hour Last-Modified fed the heuristic: %+v", d)
	}
	// Conditionals: a lenient If-Modified-Since or If-Range date is no date.
	stored := hdr("Last-Modified", httpDate(reqT.Add(-time.Hour)), "Date", date)
	if EvaluateConditional(hdr("If-Modified-Since", "Wed, 01 May 2024  12:00:00 GMT"), stored) {
		t.Error("If-Modified-Since with a double space was evaluated")
	}
	if IfRangeMatches(hdr("If-Range", "Wed, 01 May 2024 11:00:00 gmt"), stored) {
		t.Error("If-Range with a lower-case zone matched")
	}
	if !IfRangeMatches(hdr("If-Range", httpDate(reqT.Add(-time.Hour))), stored) {
		t.Error("If-Range with a valid date did not match")
	}
}
