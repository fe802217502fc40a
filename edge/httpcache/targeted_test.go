package httpcache

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshcdn/meshcdn/edge/purgegate"
)

func TestParseCDNCacheControl(t *testing.T) {
	invalid := dirs(func(d *Directives) { d.Invalid = true })
	tests := []struct {
		rfc    string
		name   string
		values []string
		want   Directives
		ok     bool
	}{
		{"RFC 9213 §2.2", "absent", nil, dirs(nil), false},
		{"RFC 9213 §2.2", "empty is ignored", []string{""}, dirs(nil), false},
		{"RFC 9213 §2.1", "max-age", []string{"max-age=3600"}, dirs(func(d *Directives) { d.MaxAge = 3600 * s }), true},
		{"RFC 9213 §2.1", "max-age 2^31", []string{"max-age=2147483648"}, dirs(func(d *Directives) { d.MaxAge = maxDelta }), true},
		{"RFC 9213 §2.1", "max-age beyond 2^31 saturates", []string{"max-age=99999999999"}, dirs(func(d *Directives) { d.MaxAge = maxDelta }), true},
		{"RFC 9213 §2.1", "extension directive ignored", []string{"foobar, max-age=3600"}, dirs(func(d *Directives) { d.MaxAge = 3600 * s }), true},
		{"RFC 9213 §3.1", "no known directive still valid (overrides Cache-Control)", []string{"none"}, dirs(nil), true},
		{"RFC 9213 §2.1", "no-store", []string{"no-store"}, dirs(func(d *Directives) { d.NoStore = true }), true},
		{"RFC 9213 §2.1", "no-store=?0 is absent", []string{"no-store=?0, max-age=5"}, dirs(func(d *Directives) { d.MaxAge = 5 * s }), true},
		{"RFC 9213 §2.1", "private", []string{"private"}, dirs(func(d *Directives) { d.Private = true }), true},
		{"RFC 9213 §2.1", "no-cache with field names (String)", []string{`no-cache="set-cookie, x-a"`}, dirs(func(d *Directives) { d.NoCacheFields = []string{"Set-Cookie", "X-A"} }), true},
		{"RFC 9213 §2.1", "private with field names (String)", []string{`private="x-user"`}, dirs(func(d *Directives) { d.PrivateFields = []string{"X-User"} }), true},
		{"RFC 9213 §2.1", "s-maxage, swr, sie, must-revalidate", []string{"s-maxage=10, stale-while-revalidate=20, stale-if-error=30, must-revalidate"}, dirs(func(d *Directives) {
			d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError, d.MustRevalidate = 10*s, 20*s, 30*s, true
		}), true},
		{"RFC 9213 §2.1", "parameters ignored", []string{"max-age=60;foo=bar, public;x"}, dirs(func(d *Directives) { d.MaxAge = 60 * s; d.Public = true }), true},
		{"RFC 9213 §2.1", "two lines combined", []string{"max-age=60", "no-store"}, dirs(func(d *Directives) { d.MaxAge = 60 * s; d.NoStore = true }), true},
		{"RFC 9651 §4.2.2", "repeated key: last wins", []string{"max-age=60, max-age=10"}, dirs(func(d *Directives) { d.MaxAge = 10 * s }), true},
		{"RFC 9213 §2.1", "wrong type (String max-age) invalidates the field", []string{`max-age="10000"`}, invalid, false},
		{"RFC 9213 §2.1", "wrong type (Decimal max-age)", []string{`max-age=1.5`}, invalid, false},
		{"RFC 9213 §2.1", "negative max-age", []string{`max-age=-1`}, invalid, false},
		{"RFC 9213 §2.1", "wrong type (Token no-store)", []string{`no-store=yes`}, invalid, false},
		{"RFC 9213 §2.1", "wrong type (Inner List private)", []string{`private=(a b)`}, invalid, false},
		{"RFC 9651 §4.2", "invalid SF (unknown type)", []string{"max-age=10000, &&&&&"}, invalid, false},
		{"RFC 9651 §4.2.2", "space before = is invalid", []string{"max-age =100"}, invalid, false},
		{"RFC 9651 §4.2.2", "space after = is invalid", []string{"max-age= 100"}, invalid, false},
		{"RFC 9651 §4.2.2", "upper-case key is invalid", []string{"MaX-aGe=3600"}, invalid, false},
		{"RFC 9651 §4.2", "one bad line spoils the field", []string{"max-age=60", "@@"}, invalid, false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got, ok := ParseCDNCacheControl(tc.values)
			if ok != tc.ok || !equalDirectives(got, tc.want) {
				t.Errorf("ParseCDNCacheControl(%q)\n got %+v ok=%v\nwant %+v ok=%v", tc.values, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseSurrogateControl(t *testing.T) {
	tests := []struct {
		spec   string
		name   string
		values []string
		target string
		want   Directives
		ok     bool
	}{
		{"Edge Arch §3", "absent", nil, "meshcdn", dirs(nil), false},
		{"Edge Arch §3", "max-age", []string{"max-age=3600"}, "meshcdn", dirs(func(d *Directives) { d.MaxAge = 3600 * s }), true},
		{"Edge Arch §3", "max-age case-insensitive", []string{"MaX-aGe=3600"}, "meshcdn", dirs(func(d *Directives) { d.MaxAge = 3600 * s }), true},
		{"Edge Arch §3", "max-age=N+M: M is stale-if-error", []string{"max-age=60+600"}, "meshcdn", dirs(func(d *Directives) { d.MaxAge = 60 * s; d.StaleIfError = 600 * s }), true},
		{"Edge Arch §3", "bad extension after +", []string{"max-age=60+x"}, "", dirs(func(d *Directives) { d.MaxAge = 60 * s; d.Invalid = true }), true},
		{"Edge Arch §3", "no-store", []string{"no-store"}, "meshcdn", dirs(func(d *Directives) { d.NoStore = true }), true},
		{"Edge Arch §3", "no-store-remote (we are a remote surrogate)", []string{"no-store-remote"}, "", dirs(func(d *Directives) { d.NoStore = true }), true},
		{"Edge Arch §3", "content alone is no caching directive", []string{`content="ESI/1.0"`}, "meshcdn", dirs(nil), false},
		{"Edge Arch §3", "content with a comma inside quotes", []string{`content="ESI/1.0, ESI-Inline/1.0", max-age=5`}, "", dirs(func(d *Directives) { d.MaxAge = 5 * s }), true},
		{"Edge Arch §3", "extension ignored", []string{"foobar, max-age=3600"}, "", dirs(func(d *Directives) { d.MaxAge = 3600 * s }), true},
		{"Edge Arch §3", "space before = ignored", []string{"max-age =100"}, "", dirs(func(d *Directives) { d.Invalid = true }), false},
		{"Edge Arch §3", "space after = ignored", []string{"max-age= 100"}, "", dirs(func(d *Directives) { d.Invalid = true }), false},
		{"Edge Arch §3", "targeted at us wins over untargeted", []string{"no-store, max-age=300;meshcdn"}, "meshcdn", dirs(func(d *Directives) { d.MaxAge = 300 * s }), true},
		{"Edge Arch §3", "OWS around the target", []string{"no-store ; meshcdn , max-age=5"}, "meshcdn", dirs(func(d *Directives) { d.NoStore = true }), true},
		{"Edge Arch §3", "target compared case-insensitively", []string{"max-age=10, max-age=300;MeshCDN"}, "meshcdn", dirs(func(d *Directives) { d.MaxAge = 300 * s }), true},
		{"Edge Arch §3", "targeted at another surrogate ignored", []string{"max-age=10, no-store;othercdn"}, "meshcdn", dirs(func(d *Directives) { d.MaxAge = 10 * s }), true},
		{"Edge Arch §3", "only other targets: nothing applies", []string{"max-age=10;othercdn"}, "meshcdn", dirs(nil), false},
		{"Edge Arch §3", "no target configured: targeted ignored", []string{"max-age=300;meshcdn, max-age=5"}, "", dirs(func(d *Directives) { d.MaxAge = 5 * s }), true},
		{"RFC 5861", "stale directives accepted", []string{"max-age=60, stale-while-revalidate=10, stale-if-error=20"}, "", dirs(func(d *Directives) {
			d.MaxAge, d.StaleWhileRevalidate, d.StaleIfError = 60*s, 10*s, 20*s
		}), true},
		{"RFC 9111 §4.2.1", "first max-age wins", []string{"max-age=60", "max-age=10"}, "", dirs(func(d *Directives) { d.MaxAge = 60 * s }), true},
		{"RFC 9111 §4.2.1", "invalid max-age is stale", []string{"max-age=abc"}, "", dirs(func(d *Directives) { d.MaxAge = 0; d.Invalid = true }), true},
	}
	for _, tc := range tests {
		t.Run(tc.spec+"/"+tc.name, func(t *testing.T) {
			got, ok := ParseSurrogateControl(tc.values, tc.target)
			if ok != tc.ok || !equalDirectives(got, tc.want) {
				t.Errorf("ParseSurrogateControl(%q, %q)\n got %+v ok=%v\nwant %+v ok=%v", tc.values, tc.target, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseCacheGroups(t *testing.T) {
	long := strings.Repeat("g", purgegate.MaxKeyBytes+1)
	tests := []struct {
		rfc    string
		name   string
		values []string
		want   []string
		ok     bool
	}{
		{"RFC 9875 §2", "absent", nil, nil, false},
		{"RFC 9875 §2", "strings", []string{`"scripts", "styles"`}, []string{"scripts", "styles"}, true},
		{"RFC 9875 §2", "two lines", []string{`"a"`, `"b"`}, []string{"a", "b"}, true},
		{"RFC 9875 §2", "non-string members ignored", []string{`"a", b, 1, ?1, ("c"), "d";p=1`}, []string{"a", "d"}, true},
		{"RFC 9875 §2", "duplicates removed", []string{`"a", "b", "a"`}, []string{"a", "b"}, true},
		{"RFC 9875 §2", "empty list is valid", []string{""}, nil, true},
		{"RFC 9651 §4.2", "invalid list ignored entirely", []string{`"a", b c`}, nil, false},
		{"RFC 9651 §4.2", "unterminated string", []string{`"a`}, nil, false},
		{"Fastly limits", "over-long group dropped", []string{`"` + long + `", "ok"`}, []string{"ok"}, true},
		{"Fastly limits", "header over 16 KiB ignored", []string{`"` + strings.Repeat("x", MaxHeaderBytes) + `"`}, nil, false},
		{"RFC 9651 §3.3.3", "escapes", []string{`"a\"b"`}, []string{`a"b`}, true},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			got, ok := ParseCacheGroups(tc.values)
			if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCacheGroups(%.60q) = %q, %v; want %q, %v", tc.values, got, ok, tc.want, tc.ok)
			}
		})
	}
	// Many distinct groups (exercises the set-based dedupe).
	var b strings.Builder
	for i := 0; i < 200; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"g` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `"`)
	}
	got, ok := ParseCacheGroups([]string{b.String()})
	if !ok || len(got) != 7*26 {
		t.Fatalf("distinct groups: %d ok=%v", len(got), ok)
	}
}

func TestParseSurrogateKeys(t *testing.T) {
	long := strings.Repeat("k", purgegate.MaxKeyBytes+1)
	max := strings.Repeat("k", purgegate.MaxKeyBytes)
	tests := []struct {
		name    string
		values  []string
		want    []string
		dropped int
	}{
		{"absent", nil, nil, 0},
		{"space separated", []string{"company/42 user/9 salesforce"}, []string{"company/42", "user/9", "salesforce"}, 0},
		{"tabs and runs of spaces", []string{"  a\t\tb   c "}, []string{"a", "b", "c"}, 0},
		{"several lines", []string{"a b", "c a"}, []string{"a", "b", "c"}, 0},
		{"duplicates removed, not counted", []string{"a a a b"}, []string{"a", "b"}, 0},
		{"key of exactly 1024 bytes kept", []string{max}, []string{max}, 0},
		{"key over 1024 bytes dropped", []string{"a " + long + " b"}, []string{"a", "b"}, 1},
		{"control characters dropped", []string{"a b\x00c d\x7fe f"}, []string{"a", "f"}, 2},
		{"header over 16 KiB: all dropped", []string{strings.Repeat("abcdefg ", MaxHeaderBytes/8) + "x y"}, nil, MaxHeaderBytes/8 + 2},
		{"16 KiB across lines counts", []string{strings.Repeat("a", MaxHeaderBytes/2), strings.Repeat("b", MaxHeaderBytes/2) + " c"}, nil, 3},
		{"commas are part of keys", []string{"a,b"}, []string{"a,b"}, 0},
		{"non-ASCII kept", []string{"schlüssel"}, []string{"schlüssel"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, dropped := ParseSurrogateKeys(tc.values)
			if !reflect.DeepEqual(got, tc.want) || dropped != tc.dropped {
				t.Errorf("ParseSurrogateKeys(%.50q) = %.80q, %d; want %.80q, %d", tc.values, got, dropped, tc.want, tc.dropped)
			}
		})
	}
	// Many distinct keys: dedupe stays exact.
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString("k")
		b.WriteString(strings.Repeat("x", i%10))
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(' ')
	}
	got, _ := ParseSurrogateKeys([]string{b.String()})
	if len(got) != 130 { // lcm(10, 26) distinct keys
		t.Fatalf("distinct keys = %d, want 130", len(got))
	}
}
