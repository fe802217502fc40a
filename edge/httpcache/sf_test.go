package httpcache

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// serialize renders parsed members canonically (RFC 9651 §4.1) so that
// tests can compare structure compactly.
func serializeSF(ms []sfMember, dict bool) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		if dict {
			b.WriteString(m.key)
			if !m.isInner && m.item.bare.kind == sfBoolean && m.item.bare.b {
				serializeParams(&b, m.item.params)
				continue
			}
			b.WriteByte('=')
		}
		if m.isInner {
			b.WriteByte('(')
			for j, it := range m.inner {
				if j > 0 {
					b.WriteByte(' ')
				}
				serializeBare(&b, it.bare)
				serializeParams(&b, it.params)
			}
			b.WriteByte(')')
		} else {
			serializeBare(&b, m.item.bare)
		}
		serializeParams(&b, m.item.params)
	}
	return b.String()
}

func serializeParams(b *strings.Builder, ps []sfParam) {
	for _, p := range ps {
		b.WriteByte(';')
		b.WriteString(p.key)
		if p.val.kind == sfBoolean && p.val.b {
			continue
		}
		b.WriteByte('=')
		serializeBare(b, p.val)
	}
}

func serializeBare(b *strings.Builder, v sfBare) {
	switch v.kind {
	case sfInteger:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case sfDecimal:
		str := strconv.FormatFloat(v.f, 'f', 3, 64)
		str = strings.TrimRight(str, "0")
		if strings.HasSuffix(str, ".") {
			str += "0"
		}
		b.WriteString(str)
	case sfString:
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v.s))
		b.WriteByte('"')
	case sfToken:
		b.WriteString(v.s)
	case sfBytes:
		b.WriteString(":" + base64.StdEncoding.EncodeToString([]byte(v.s)) + ":")
	case sfBoolean:
		if v.b {
			b.WriteString("?1")
		} else {
			b.WriteString("?0")
		}
	case sfDate:
		b.WriteString("@" + strconv.FormatInt(v.i, 10))
	case sfDisplayString:
		b.WriteString(`%"`)
		for i := 0; i < len(v.s); i++ {
			c := v.s[i]
			if c == '%' || c == '"' || c < 0x20 || c > 0x7e {
				fmt.Fprintf(b, "%%%02x", c)
			} else {
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	default:
		b.WriteString("<?>")
	}
}

func TestParseSFList(t *testing.T) {
	tests := []struct {
		rfc, in, want string // want "" with ok=false means failure
		ok            bool
	}{
		{"RFC 9651 §3.1", `sugar, tea, rum`, `sugar, tea, rum`, true},
		{"RFC 9651 §3.1", `"a", "b"`, `"a", "b"`, true},
		{"RFC 9651 §4.2", ``, ``, true},
		{"RFC 9651 §4.2", `   a`, `a`, true},
		{"RFC 9651 §4.2", "a\t,\tb", `a, b`, true},
		{"RFC 9651 §4.2", "\ta", ``, false}, // only SP is discarded at the start
		{"RFC 9651 §4.2", `a,`, ``, false},  // trailing comma
		{"RFC 9651 §4.2", `a,,b`, ``, false},
		{"RFC 9651 §4.2", `a b`, ``, false},
		{"RFC 9651 §3.1.1", `("foo" "bar"), ("baz"), ("bat" "one"), ()`, `("foo" "bar"), ("baz"), ("bat" "one"), ()`, true},
		{"RFC 9651 §3.1.1", `("foo"; a=1;b=2);lvl=5, ("bar" "baz");lvl=1`, `("foo";a=1;b=2);lvl=5, ("bar" "baz");lvl=1`, true},
		{"RFC 9651 §3.1.1", `(  a   b  )`, `(a b)`, true},
		{"RFC 9651 §4.2.1.2", `(a,b)`, ``, false},
		{"RFC 9651 §4.2.1.2", `(a b`, ``, false},
		{"RFC 9651 §3.1.2", `abc;a=1;b=2; cde_456, (ghi;jk=4 l);q="9";r=w`, `abc;a=1;b=2;cde_456, (ghi;jk=4 l);q="9";r=w`, true},
		{"RFC 9651 §3.1.2", `a;A=1`, ``, false}, // keys are lower case
		{"RFC 9651 §3.1.2", `a;a=1;a=2`, `a;a=2`, true},
		{"RFC 9651 §3.3.1", `42, -42, 0, 999999999999999, -999999999999999`, `42, -42, 0, 999999999999999, -999999999999999`, true},
		{"RFC 9651 §3.3.1", `1000000000000000`, ``, false}, // 16 digits
		{"RFC 9651 §3.3.1", `-`, ``, false},
		{"RFC 9651 §3.3.1", `- 1`, ``, false},
		{"RFC 9651 §3.3.2", `4.5, -0.25, 123456789012.123`, `4.5, -0.25, 123456789012.123`, true},
		{"RFC 9651 §3.3.2", `1234567890123.1`, ``, false}, // 13 integer digits
		{"RFC 9651 §3.3.2", `1.1234`, ``, false},          // 4 fraction digits
		{"RFC 9651 §3.3.2", `1.`, ``, false},
		{"RFC 9651 §3.3.2", `1.2.3`, ``, false},
		{"RFC 9651 §3.3.3", `"hello world", "a\"b\\c"`, `"hello world", "a\"b\\c"`, true},
		{"RFC 9651 §3.3.3", `"a\b"`, ``, false},
		{"RFC 9651 §3.3.3", "\"tab\tno\"", ``, false},
		{"RFC 9651 §3.3.3", `"unterminated`, ``, false},
		{"RFC 9651 §3.3.3", "\"é\"", ``, false},
		{"RFC 9651 §3.3.4", `foo123/456, *foo, a:b/c`, `foo123/456, *foo, a:b/c`, true},
		{"RFC 9651 §3.3.4", `Foo`, `Foo`, true},
		{"RFC 9651 §3.3.5", `:cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:`, `:cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:`, true},
		{"RFC 9651 §3.3.5", `:aGVsbG8:`, `:aGVsbG8=:`, true}, // missing padding tolerated
		{"RFC 9651 §3.3.5", `:a$b:`, ``, false},
		{"RFC 9651 §3.3.5", `:abc`, ``, false},
		{"RFC 9651 §3.3.6", `?1, ?0`, `?1, ?0`, true},
		{"RFC 9651 §3.3.6", `?2`, ``, false},
		{"RFC 9651 §3.3.7", `@1659578233, @-1`, `@1659578233, @-1`, true},
		{"RFC 9651 §3.3.7", `@1.5`, ``, false},
		{"RFC 9651 §3.3.8", `%"This is intended for display to %c3%bcsers."`, `%"This is intended for display to %c3%bcsers."`, true},
		{"RFC 9651 §3.3.8", `%"%C3%BC"`, ``, false}, // upper-case hex
		{"RFC 9651 §3.3.8", `%"%ff"`, ``, false},    // not UTF-8
		{"RFC 9651 §3.3.8", `%"%c"`, ``, false},
		{"RFC 9651 §3.3", `&`, ``, false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.in, func(t *testing.T) {
			got, ok := parseSFList(tc.in)
			if ok != tc.ok {
				t.Fatalf("parseSFList(%q) ok=%v, want %v (%q)", tc.in, ok, tc.ok, serializeSF(got, false))
			}
			if ok && serializeSF(got, false) != tc.want {
				t.Errorf("parseSFList(%q) = %q, want %q", tc.in, serializeSF(got, false), tc.want)
			}
		})
	}
}

func TestParseSFDictionary(t *testing.T) {
	tests := []struct {
		rfc, in, want string
		ok            bool
	}{
		{"RFC 9651 §3.2", `en="Applepie", da=:w4ZibGV0w6ZydGUK:`, `en="Applepie", da=:w4ZibGV0w6ZydGUK:`, true},
		{"RFC 9651 §3.2", `a=?0, b, c; foo=bar`, `a=?0, b, c;foo=bar`, true},
		{"RFC 9651 §3.2", `rating=1.5, feelings=(joy sadness)`, `rating=1.5, feelings=(joy sadness)`, true},
		{"RFC 9651 §3.2", `a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid`, `a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid`, true},
		{"RFC 9651 §4.2.2", `a=1, b=2, a=3`, `a=3, b=2`, true}, // later value, first position
		{"RFC 9651 §4.2.2", `A=1`, ``, false},
		{"RFC 9651 §4.2.2", `a =1`, ``, false},
		{"RFC 9651 §4.2.2", `a= 1`, ``, false},
		{"RFC 9651 §4.2.2", `a=1,`, ``, false},
		{"RFC 9651 §4.2.2", `*a.b_c-d=1`, `*a.b_c-d=1`, true},
		{"RFC 9651 §4.2.2", `1a=1`, ``, false},
		{"RFC 9651 §4.2.2", `a=1 ,b=2`, `a=1, b=2`, true},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.in, func(t *testing.T) {
			got, ok := parseSFDictionary(tc.in)
			if ok != tc.ok {
				t.Fatalf("parseSFDictionary(%q) ok=%v, want %v", tc.in, ok, tc.ok)
			}
			if ok && serializeSF(got, true) != tc.want {
				t.Errorf("parseSFDictionary(%q) = %q, want %q", tc.in, serializeSF(got, true), tc.want)
			}
		})
	}
}

func TestParseSFBounds(t *testing.T) {
	// RFC 9651 §3.1-3.2: at least 1024 members must be supported; beyond
	// our bound the field fails instead of growing without limit.
	many := strings.Repeat("a, ", maxSFMembers-1) + "a"
	if got, ok := parseSFList(many); !ok || len(got) != maxSFMembers {
		t.Fatalf("1024 members: ok=%v n=%d", ok, len(got))
	}
	if _, ok := parseSFList(many + ", a"); ok {
		t.Fatal("1025 members accepted")
	}
	if _, ok := parseSFList("(" + strings.Repeat("a ", maxSFInner+1) + ")"); ok {
		t.Fatal("oversized inner list accepted")
	}
	var p strings.Builder
	p.WriteString("a")
	for i := 0; i <= maxSFParams; i++ {
		fmt.Fprintf(&p, ";k%d", i)
	}
	if _, ok := parseSFList(p.String()); ok {
		t.Fatal("too many parameters accepted")
	}
	if _, ok := parseSFList(strings.Repeat(" ", maxSFInput+1)); ok {
		t.Fatal("oversized input accepted")
	}
	// Many distinct keys (indexed lookup) with repeats: last value wins.
	var d strings.Builder
	for round := 0; round < 3; round++ {
		for i := 0; i < 100; i++ {
			if d.Len() > 0 {
				d.WriteString(", ")
			}
			fmt.Fprintf(&d, "k%d=%d", i, round)
		}
	}
	if got, ok := parseSFDictionary(d.String()); !ok || len(got) != 100 || got[99].key != "k99" || got[99].item.bare.i != 2 {
		t.Fatalf("indexed dictionary: ok=%v n=%d", ok, len(got))
	}
	// Repeated parameters are bounded in work too.
	if _, ok := parseSFList("a" + strings.Repeat(";x", 4*maxSFParams+1)); ok {
		t.Fatal("unbounded repeated parameters accepted")
	}
	if got, ok := parseSFList("a" + strings.Repeat(";x", 300)); !ok || len(got[0].item.params) != 1 {
		t.Fatal("repeated parameter not collapsed")
	}
	// Dictionary with many duplicate keys stays within the member bound.
	dup := strings.Repeat("a=1, ", 5000) + "a=2"
	if got, ok := parseSFDictionary(dup); !ok || len(got) != 1 || got[0].item.bare.i != 2 {
		t.Fatalf("duplicates: ok=%v %v", ok, got)
	}
}

func TestJoinFieldLines(t *testing.T) {
	// RFC 9651 §4.2: field lines are combined with commas.
	got, ok := parseSFList(mustJoin(t, []string{`"a"`, "", `"b", "c"`}))
	if !ok || serializeSF(got, false) != `"a", "b", "c"` {
		t.Fatalf("got %q ok=%v", serializeSF(got, false), ok)
	}
	if _, ok := joinFieldLines([]string{strings.Repeat("a", 10), strings.Repeat("b", 10)}, 15); ok {
		t.Fatal("limit not enforced")
	}
}

func mustJoin(t *testing.T, v []string) string {
	t.Helper()
	s, ok := joinFieldLines(v, maxSFInput)
	if !ok {
		t.Fatal("join failed")
	}
	return s
}
