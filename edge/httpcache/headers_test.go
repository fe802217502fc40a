package httpcache

import (
	"reflect"
	"testing"
)

func TestRemoveHopByHop(t *testing.T) {
	h := hdr(
		"Connection", "keep-alive, X-Secret , close",
		"Connection", "x-other",
		"Keep-Alive", "timeout=5",
		"Proxy-Connection", "keep-alive",
		"Proxy-Authenticate", "Basic",
		"Proxy-Authorization", "Basic xyz",
		"TE", "trailers",
		"Trailer", "X-T",
		"Transfer-Encoding", "chunked",
		"Upgrade", "websocket",
		"X-Secret", "1",
		"X-Other", "2",
		"Content-Type", "text/plain",
		"Cache-Control", "max-age=60",
	)
	RemoveHopByHop(h)
	want := hdr("Content-Type", "text/plain", "Cache-Control", "max-age=60")
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("RFC 9110 §7.6.1: got %v, want %v", h, want)
	}
	RemoveHopByHop(nil) // must not panic
}

func TestMerge304(t *testing.T) {
	stored := hdr(
		"Content-Type", "text/plain",
		"Content-Length", "10",
		"Content-Encoding", "gzip",
		"ETag", `"a"`,
		"Cache-Control", "max-age=1",
		"X-Test", "A",
		"X-Multi", "1", "X-Multi", "2",
		"Vary", "Accept-Encoding",
	)
	fresh := hdr(
		"Cache-Control", "max-age=3600",
		"Date", "Wed, 01 May 2024 12:00:00 GMT",
		"X-Test", "B",
		"X-Multi", "3",
		"Content-Length", "0",
		"Content-Encoding", "br",
		"Set-Cookie", "a=b",
		"Vary", "Cookie",
		"Connection", "X-Conn",
		"X-Conn", "hop",
		"Keep-Alive", "timeout=5",
		"Proxy-Authentication-Info", "nextnonce=x",
		"Trailer", "X-T",
		"Content-Type", "text/plain;charset=utf-8",
	)
	storedCopy := stored.Clone()
	freshCopy := fresh.Clone()
	got := Merge304(stored, fresh)
	want := hdr(
		"Content-Type", "text/plain;charset=utf-8",
		"Content-Length", "10",
		"Content-Encoding", "gzip",
		"ETag", `"a"`,
		"Cache-Control", "max-age=3600",
		"Date", "Wed, 01 May 2024 12:00:00 GMT",
		"X-Test", "B",
		"X-Multi", "3",
		"Vary", "Cookie",
	)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RFC 9111 §4.3.4:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(stored, storedCopy) || !reflect.DeepEqual(fresh, freshCopy) {
		t.Fatal("Merge304 modified its arguments")
	}
	// The result shares no backing arrays with the inputs.
	got["Etag"][0] = "changed"
	got["X-Test"][0] = "changed"
	if stored.Get("Etag") != `"a"` || fresh.Get("X-Test") != "B" {
		t.Fatal("Merge304 result aliases its inputs")
	}
	// RFC 9111 §4.2.3 / RFC 9110 §6.6.1: the earlier Date and Age do not
	// survive a 304 that lacks them.
	old := hdr("Date", "Wed, 01 May 2024 10:00:00 GMT", "Age", "100", "ETag", `"a"`)
	if m := Merge304(old, hdr("Cache-Control", "max-age=60")); len(m["Date"]) != 0 || len(m["Age"]) != 0 || m.Get("Etag") != `"a"` {
		t.Fatalf("no Date on the 304: %v", m)
	}
	if m := Merge304(old, hdr("Date", "Wed, 01 May 2024 12:00:00 GMT")); m.Get("Date") != "Wed, 01 May 2024 12:00:00 GMT" || len(m["Age"]) != 0 {
		t.Fatalf("Date without Age on the 304: %v", m)
	}
	if m := Merge304(old, hdr("Date", "Wed, 01 May 2024 12:00:00 GMT", "Age", "5")); m.Get("Age") != "5" {
		t.Fatalf("Age on the 304: %v", m)
	}
	if m := Merge304(nil, nil); m == nil || len(m) != 0 {
		t.Fatalf("Merge304(nil, nil) = %v", m)
	}
}

// RFC 9111 §4.3.4: which stored response a 304 updates.
func TestUpdates304(t *testing.T) {
	lm1, lm2 := "Wed, 01 May 2024 10:00:00 GMT", "Wed, 01 May 2024 11:00:00 GMT"
	tests := []struct {
		name          string
		stored, fresh []string
		want          bool
	}{
		{"RFC 9111 §4.3.4 strong ETag equal", []string{"ETag", `"a"`}, []string{"ETag", `"a"`}, true},
		{"RFC 9111 §4.3.4 strong ETag differs: no update", []string{"ETag", `"a"`}, []string{"ETag", `"b"`}, false},
		{"RFC 9111 §4.3.4 strong ETag, stored weak: no update", []string{"ETag", `W/"a"`}, []string{"ETag", `"a"`}, false},
		{"RFC 9111 §4.3.4 strong ETag, stored has none: no update", []string{"Last-Modified", lm1}, []string{"ETag", `"a"`}, false},
		{"RFC 9111 §4.3.4 weak ETag matches weakly", []string{"ETag", `"a"`}, []string{"ETag", `W/"a"`}, true},
		{"RFC 9111 §4.3.4 weak ETag differs: no update", []string{"ETag", `W/"a"`}, []string{"ETag", `W/"b"`}, false},
		{"RFC 9111 §4.3.4 Last-Modified equal", []string{"Last-Modified", lm1}, []string{"Last-Modified", lm1}, true},
		{"RFC 9111 §4.3.4 Last-Modified differs: no update", []string{"Last-Modified", lm1}, []string{"Last-Modified", lm2}, false},
		{"RFC 9111 §4.3.4 no validator on the 304", []string{"ETag", `"a"`}, []string{"Cache-Control", "max-age=5"}, true},
		{"RFC 9111 §4.3.4 malformed ETag ignored", []string{"ETag", `"a"`}, []string{"ETag", `a`}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Updates304(hdr(tc.stored...), hdr(tc.fresh...)); got != tc.want {
				t.Errorf("Updates304(%v, %v) = %v, want %v", tc.stored, tc.fresh, got, tc.want)
			}
		})
	}
}
