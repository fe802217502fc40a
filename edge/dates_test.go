package edge

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Issue 9 item 16 / RFC 9111 §5.3: an Expires that is not a valid
// HTTP-date (RFC 9110 §5.6.7 — http.ParseTime's double spaces and one-digit
// hours are not) or that is given on several lines is in the past: the
// response is not served fresh from the cache.
func TestExpiresStrictThroughProxy(t *testing.T) {
	now := time.Now().UTC()
	valid := now.Add(time.Hour).Format(http.TimeFormat)
	nine := time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 0, 0, time.UTC) // tomorrow 09:00
	expires := map[string][]string{
		"/valid":      {valid},
		"/two-spaces": {valid[:16] + " " + valid[16:]},               // "… 2026  16:44:07 GMT"
		"/one-digit":  {nine.Format("Mon, 02 Jan 2006 3:04:05 GMT")}, // "9:00:00"
		"/two-lines":  {valid, valid},
	}
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Expires"] = expires[r.URL.Path]
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		io.WriteString(w, "x")
	})
	e := newEdge(t, o)
	for path, v := range expires {
		e.get(path)
		e.settle()
		r := e.get(path)
		want := "MISS"
		if path == "/valid" {
			want = "HIT"
		}
		if r.Header.Get("X-Cache") != want {
			t.Errorf("Expires %q: %s (%s), want %s", v, r.Header.Get("X-Cache"), r.Header.Get("Cache-Status"), want)
		}
	}
}
