package httpcache

import (
	"net/http"
	"time"
)

// maxDateLen bounds the length of an HTTP-date accepted for parsing; the
// longest legitimate form (RFC 850 with "Wednesday") is 33 bytes.
const maxDateLen = 64

// parseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7): exactly one of the
// three formats the grammar names, nothing more lenient. It is the one
// date parser of the cache: Date, Expires, Last-Modified, If-Modified-Since,
// If-Unmodified-Since and If-Range dates all go through it.
func parseHTTPDate(s string) (time.Time, bool) { return parseDate(s, 0) }

// parseDate parses an HTTP-date in one of the three formats of RFC 9110
// §5.6.7, whitespace and letter case exactly as the grammar has them (the
// names, "GMT" included, are case-sensitive; one SP between fields):
//
//	IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
//	asctime-date Sun Nov  6 08:49:37 1994     (day is 2DIGIT or SP DIGIT)
//
// OWS around the field value is not part of it and is ignored. The day must
// exist (no 31 Apr), hours run 00-23, minutes 00-59, seconds 00-59 and 60
// for a leap second at 23:59 (read as the next second). The weekday is not
// checked against the date. An rfc850-date's two-digit year is read as the
// year within 50 years of year (the current year; 0 means now) — one that
// would be more than 50 years ahead is the same year a century earlier. The
// result is in UTC; ok is false for anything else.
func parseDate(s string, year int) (t time.Time, ok bool) {
	s = trimOWS(s)
	if len(s) < len("Sun Nov  6 08:49:37 1994") || len(s) > maxDateLen {
		return time.Time{}, false
	}
	switch {
	case s[3] == ',':
		return parseIMFFixdate(s)
	case s[3] == ' ':
		return parseASCTime(s)
	}
	return parseRFC850(s, year)
}

// parseIMFFixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMFFixdate(s string) (time.Time, bool) {
	if len(s) != 29 || !dayName(s[:3]) || s[3:5] != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	month := monthName(s[8:11])
	year, ok2 := digits(s[12:16])
	if !ok1 || !ok2 || month == 0 {
		return time.Time{}, false
	}
	return dateTime(year, month, day, s[17:25])
}

// parseASCTime: "Sun Nov  6 08:49:37 1994".
func parseASCTime(s string) (time.Time, bool) {
	if len(s) != 24 || !dayName(s[:3]) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	month := monthName(s[4:7])
	d := s[8:10]
	if d[0] == ' ' {
		d = d[1:] // SP DIGIT
	}
	day, ok1 := digits(d)
	year, ok2 := digits(s[20:24])
	if !ok1 || !ok2 || month == 0 {
		return time.Time{}, false
	}
	return dateTime(year, month, day, s[11:19])
}

// parseRFC850: "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(s string, year int) (time.Time, bool) {
	i := indexByte(s, ',')
	if i < 0 || !longDayName(s[:i]) {
		return time.Time{}, false
	}
	r := s[i:] // ", 06-Nov-94 08:49:37 GMT"
	if len(r) != 24 || r[:2] != ", " || r[4] != '-' || r[8] != '-' || r[11] != ' ' || r[20:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(r[2:4])
	month := monthName(r[5:8])
	yy, ok2 := digits(r[9:11])
	if !ok1 || !ok2 || month == 0 {
		return time.Time{}, false
	}
	if year == 0 {
		year = time.Now().UTC().Year()
	}
	y := year - year%100 + yy
	if y > year+50 {
		y -= 100
	} else if y <= year-50 {
		y += 100
	}
	return dateTime(y, month, day, r[12:20])
}

// dateTime validates and builds the time from a date and a time-of-day
// "hh:mm:ss".
func dateTime(year int, month time.Month, day int, clock string) (time.Time, bool) {
	if clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := digits(clock[0:2])
	minute, ok2 := digits(clock[3:5])
	sec, ok3 := digits(clock[6:8])
	if !ok1 || !ok2 || !ok3 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 && (sec != 60 || hour != 23 || minute != 59) {
		return time.Time{}, false
	}
	if day > 28 && day > daysIn(month, year) { // 31 Apr, 29 Feb 2023
		return time.Time{}, false
	}
	return time.Date(year, month, day, hour, minute, sec, 0, time.UTC), true // a leap second is read as the next one
}

// daysIn is the number of days of month in year (proleptic Gregorian).
func daysIn(month time.Month, year int) int {
	switch month {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// digits parses a fixed-width run of ASCII digits (no sign, no space).
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func dayName(s string) bool {
	switch s {
	case "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat":
		return true
	}
	return false
}

func longDayName(s string) bool {
	switch s {
	case "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday":
		return true
	}
	return false
}

// monthName returns the month named exactly s, or 0.
func monthName(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

// headerDate parses a date field; ok is false when it is absent,
// malformed, or given on more than one line (a date field is a single
// HTTP-date, RFC 9110 §5.6.7; several Expires lines are an invalid Expires,
// RFC 9111 §5.3).
func headerDate(h http.Header, name string) (time.Time, bool) {
	v := h[name]
	if len(v) != 1 {
		return time.Time{}, false
	}
	return parseHTTPDate(v[0])
}
