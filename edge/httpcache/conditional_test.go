package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestEvaluateConditional(t *testing.T) {
	lm := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	date := lm.Add(time.Hour)
	stored := hdr("ETag", `"abc"`, "Last-Modified", httpDate(lm), "Date", httpDate(date))
	weakStored := hdr("ETag", `W/"abc"`)
	noValidators := hdr("Date", httpDate(date))
	tests := []struct {
		rfc  string
		name string
		req  http.Header
		resp http.Header
		want bool
	}{
		{"RFC 9110 §13.1.2", "no conditionals", hdr(), stored, false},
		{"RFC 9110 §13.1.2", "INM strong match", hdr("If-None-Match", `"abc"`), stored, true},
		{"RFC 9110 §13.1.2", "INM mismatch", hdr("If-None-Match", `"xyz"`), stored, false},
		{"RFC 9110 §8.8.3.2", "INM weak comparison: W/ request vs strong stored", hdr("If-None-Match", `W/"abc"`), stored, true},
		{"RFC 9110 §8.8.3.2", "INM weak comparison: strong request vs W/ stored", hdr("If-None-Match", `"abc"`), weakStored, true},
		{"RFC 9110 §13.1.2", "INM list, middle", hdr("If-None-Match", `"1", "abc", "2"`), stored, true},
		{"RFC 9110 §13.1.2", "INM list over two lines", hdr("If-None-Match", `"1"`, "If-None-Match", `"abc"`), stored, true},
		{"RFC 9110 §13.1.2", "INM star", hdr("If-None-Match", `*`), stored, true},
		{"RFC 9110 §13.1.2", "INM star without ETag", hdr("If-None-Match", `*`), noValidators, true},
		{"RFC 9110 §8.8.3", "INM unquoted is malformed", hdr("If-None-Match", `abc`), stored, false},
		{"RFC 9110 §8.8.3", "INM lower-case w/ is malformed", hdr("If-None-Match", `w/"abc"`), hdr("ETag", `w/"abc"`), false},
		{"RFC 9110 §8.8.3", "obs-text in entity-tag", hdr("If-None-Match", "\"abc\xfc\""), hdr("ETag", "\"abc\xfc\""), true},
		{"RFC 9110 §8.8.3", "unquoted stored ETag never matches", hdr("If-None-Match", `"abc"`), hdr("ETag", `abc`), false},
		{"RFC 9110 §13.1.3", "INM present: IMS ignored", hdr("If-None-Match", `"xyz"`, "If-Modified-Since", httpDate(date)), stored, false},
		{"RFC 9110 §13.1.3", "INM precedence over IMS (match)", hdr("If-None-Match", `"abc"`, "If-Modified-Since", httpDate(lm.Add(-time.Hour))), stored, true},
		{"RFC 9110 §13.1.3", "IMS equal to Last-Modified", hdr("If-Modified-Since", httpDate(lm)), stored, true},
		{"RFC 9110 §13.1.3", "IMS later than Last-Modified", hdr("If-Modified-Since", httpDate(lm.Add(time.Minute))), stored, true},
		{"RFC 9110 §13.1.3", "IMS earlier than Last-Modified", hdr("If-Modified-Since", httpDate(lm.Add(-time.Second))), stored, false},
		{"RFC 9110 §13.1.3", "IMS invalid date ignored", hdr("If-Modified-Since", "yesterday"), stored, false},
		{"RFC 9110 §13.1.3", "IMS two lines ignored", hdr("If-Modified-Since", httpDate(date), "If-Modified-Since", httpDate(date)), stored, false},
		{"RFC 9110 §5.6.7", "IMS in RFC 850 format", hdr("If-Modified-Since", lm.Format("Monday, 02-Jan-06 15:04:05 GMT")), stored, true},
		{"RFC 9110 §5.6.7", "IMS in asctime format", hdr("If-Modified-Since", lm.Format(time.ANSIC)), stored, true},
		{"RFC 9111 §4.3.2", "IMS without Last-Modified uses Date", hdr("If-Modified-Since", httpDate(date)), noValidators, true},
		{"RFC 9111 §4.3.2", "IMS before Date without Last-Modified", hdr("If-Modified-Since", httpDate(lm)), noValidators, false},
		{"RFC 9111 §4.3.2", "IMS without any stored date", hdr("If-Modified-Since", httpDate(date)), hdr(), false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			if got := EvaluateConditional(tc.req, tc.resp); got != tc.want {
				t.Errorf("EvaluateConditional(%v, %v) = %v, want %v", tc.req, tc.resp, got, tc.want)
			}
		})
	}
}

func TestPreconditions(t *testing.T) {
	lm := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	stored := hdr("ETag", `"abc"`, "Last-Modified", httpDate(lm))
	weak := hdr("ETag", `W/"abc"`, "Last-Modified", httpDate(lm))
	tests := []struct {
		rfc    string
		name   string
		method string
		req    http.Header
		status int
		resp   http.Header
		want   int
	}{
		{"RFC 9110 §13.2.2", "none", "GET", hdr(), 200, stored, 0},
		{"RFC 9110 §13.1.1", "If-Match strong match", "GET", hdr("If-Match", `"abc"`), 200, stored, 0},
		{"RFC 9110 §13.1.1", "If-Match mismatch", "GET", hdr("If-Match", `"x"`), 200, stored, 412},
		{"RFC 9110 §13.1.1", "If-Match uses strong comparison", "GET", hdr("If-Match", `W/"abc"`), 200, weak, 412},
		{"RFC 9110 §13.1.1", "If-Match star", "GET", hdr("If-Match", `*`), 200, stored, 0},
		{"RFC 9110 §13.1.4", "If-Unmodified-Since passes", "GET", hdr("If-Unmodified-Since", httpDate(lm)), 200, stored, 0},
		{"RFC 9110 §13.1.4", "If-Unmodified-Since fails", "GET", hdr("If-Unmodified-Since", httpDate(lm.Add(-time.Second))), 200, stored, 412},
		{"RFC 9110 §13.2.2", "If-Match present: IUS ignored", "GET", hdr("If-Match", `"abc"`, "If-Unmodified-Since", httpDate(lm.Add(-time.Hour))), 200, stored, 0},
		{"RFC 9110 §13.1.2", "INM match on GET", "GET", hdr("If-None-Match", `"abc"`), 200, stored, 304},
		{"RFC 9110 §13.1.2", "INM match on HEAD", "HEAD", hdr("If-None-Match", `"abc"`), 200, stored, 304},
		{"RFC 9110 §13.1.2", "INM match on other method", "DELETE", hdr("If-None-Match", `"abc"`), 200, stored, 412},
		{"RFC 9110 §13.1.3", "IMS on GET", "GET", hdr("If-Modified-Since", httpDate(lm)), 200, stored, 304},
		{"RFC 9110 §13.1.3", "IMS ignored for other methods", "POST", hdr("If-Modified-Since", httpDate(lm)), 200, stored, 0},
		{"RFC 9110 §13.2.1", "ignored for non-2xx stored status", "GET", hdr("If-None-Match", `"abc"`), 404, stored, 0},
		{"RFC 9110 §13.2.1", "applies to 2xx other than 200", "GET", hdr("If-None-Match", `"abc"`), 203, stored, 304},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			if got := Preconditions(tc.method, tc.req, tc.status, tc.resp); got != tc.want {
				t.Errorf("Preconditions = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestIfRangeMatches(t *testing.T) {
	lm := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	strongLM := hdr("ETag", `"abc"`, "Last-Modified", httpDate(lm), "Date", httpDate(lm.Add(time.Minute)))
	weakLM := hdr("Last-Modified", httpDate(lm), "Date", httpDate(lm.Add(59*time.Second)))
	tests := []struct {
		rfc  string
		name string
		req  http.Header
		resp http.Header
		want bool
	}{
		{"RFC 9110 §13.1.5", "absent", hdr(), strongLM, true},
		{"RFC 9110 §13.1.5", "strong ETag match", hdr("If-Range", `"abc"`), strongLM, true},
		{"RFC 9110 §13.1.5", "ETag mismatch", hdr("If-Range", `"abd"`), strongLM, false},
		{"RFC 9110 §13.1.5", "weak request tag never matches", hdr("If-Range", `W/"abc"`), strongLM, false},
		{"RFC 9110 §13.1.5", "weak stored tag never matches", hdr("If-Range", `"abc"`), hdr("ETag", `W/"abc"`), false},
		{"RFC 9110 §13.1.5", "date equal to strong Last-Modified", hdr("If-Range", httpDate(lm)), strongLM, true},
		{"RFC 9110 §8.8.2.2", "Last-Modified less than 60 s before Date is weak", hdr("If-Range", httpDate(lm)), weakLM, false},
		{"RFC 9110 §8.8.2.2", "Last-Modified without Date is weak", hdr("If-Range", httpDate(lm)), hdr("Last-Modified", httpDate(lm)), false},
		{"RFC 9110 §13.1.5", "date not equal", hdr("If-Range", httpDate(lm.Add(time.Second))), strongLM, false},
		{"RFC 9110 §13.1.5", "garbage", hdr("If-Range", `abc`), strongLM, false},
		{"RFC 9110 §13.1.5", "weekday W date is a date", hdr("If-Range", "Wed, 01 May 2024 12:00:00 GMT"), strongLM, true},
		{"RFC 9110 §13.1.5", "two lines", hdr("If-Range", `"abc"`, "If-Range", `"abc"`), strongLM, false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			if got := IfRangeMatches(tc.req, tc.resp); got != tc.want {
				t.Errorf("IfRangeMatches(%v, %v) = %v, want %v", tc.req, tc.resp, got, tc.want)
			}
		})
	}
}
