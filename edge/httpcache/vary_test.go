package httpcache

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseVary(t *testing.T) {
	many := make([]string, 0, 70)
	for i := 0; i < 70; i++ {
		many = append(many, "x-h"+strings.Repeat("a", i))
	}
	tests := []struct {
		rfc    string
		name   string
		values []string
		fields []string
		star   bool
	}{
		{"RFC 9110 §12.5.5", "absent", nil, nil, false},
		{"RFC 9110 §12.5.5", "one", []string{"accept-encoding"}, []string{"Accept-Encoding"}, false},
		{"RFC 9110 §12.5.5", "sorted, canonical, deduped", []string{"X-Geo-Country-Code, accept-encoding", "Accept-Encoding, cookie"}, []string{"Accept-Encoding", "Cookie", "X-Geo-Country-Code"}, false},
		{"RFC 9111 §4.1", "star", []string{"*"}, nil, true},
		{"RFC 9111 §4.1", "star star", []string{"*, *"}, nil, true},
		{"RFC 9111 §4.1", "star on second line", []string{"", "*"}, nil, true},
		{"RFC 9111 §4.1", "empty then star", []string{", *"}, nil, true},
		{"RFC 9111 §4.1", "star with names", []string{"Foo, *"}, []string{"Foo"}, true},
		{"RFC 9110 §5.6.1", "empty elements and OWS", []string{" ,\tfoo\t, ,bar,"}, []string{"Bar", "Foo"}, false},
		{"RFC 9110 §5.6.2", "malformed names skipped", []string{"foo bar, b@d, ok"}, []string{"Ok"}, false},
		{"hostile input", "more than 64 names treated as star", []string{strings.Join(many, ",")}, nil, true},
		{"hostile input", "more than 1024 members treated as star", []string{strings.Repeat("a,", 1100)}, nil, true},
		{"hostile input", "1024 duplicate members are fine", []string{strings.Repeat("a,", 1024)}, []string{"A"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.name, func(t *testing.T) {
			fields, star := ParseVary(tc.values)
			if varyStar(tc.values) != tc.star {
				t.Errorf("varyStar(%.60q) != %v", tc.values, tc.star)
			}
			if !reflect.DeepEqual(fields, tc.fields) || star != tc.star {
				t.Errorf("ParseVary(%.60q) = %q, %v; want %q, %v", tc.values, fields, star, tc.fields, tc.star)
			}
		})
	}
}

func TestNormalizeAcceptEncoding(t *testing.T) {
	tests := []struct {
		rfc, in, want string
	}{
		{"RFC 9110 §12.5.3", "", ""},
		{"RFC 9110 §12.5.3", "gzip, deflate, br", "br"},
		{"RFC 9110 §12.5.3", "gzip", "gzip"},
		{"RFC 9110 §12.5.3", "x-gzip", "gzip"},
		{"RFC 9110 §12.5.3", "GZIP", "gzip"},
		{"RFC 9110 §12.5.3", "br;q=0, gzip", "gzip"},
		{"RFC 9110 §12.5.3", "br;q=0.0, gzip;q=0.000", ""},
		{"RFC 9110 §12.5.3", "br;q=0.001", "br"},
		{"RFC 9110 §12.5.3", "br; q=0.5, gzip;q=1", "br"},
		{"RFC 9110 §12.5.3", "br;Q=0", ""},
		{"RFC 9110 §12.5.3", "*", "br"},
		{"RFC 9110 §12.5.3", "*;q=0", ""},
		{"RFC 9110 §12.5.3", "br;q=0, *", "gzip"},
		{"RFC 9110 §12.5.3", "gzip;q=0, *;q=0.5", "br"},
		{"RFC 9110 §12.5.3", "br;q=0, gzip;q=0, *", ""},
		{"RFC 9110 §12.5.3", "identity", ""},
		{"RFC 9110 §12.5.3", "deflate, compress", ""},
		{"RFC 9110 §12.5.3", "br;q=1.5", "gzip"[:0]},   // invalid qvalue refuses
		{"RFC 9110 §12.5.3", "br;q=abc, gzip", "gzip"}, // invalid qvalue refuses
		{"RFC 9110 §12.5.3", "br;q=1.000", "br"},
		{"RFC 9110 §12.5.3", "br;level=5", "br"},
		{"RFC 9110 §12.5.3", "gzip, br;q=0, br", "gzip"}, // an explicit refusal sticks
		{"RFC 9110 §12.5.3", " gzip ,  br ", "br"},
		{"RFC 9110 §12.5.3", "brotli", ""},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.in, func(t *testing.T) {
			if got := NormalizeAcceptEncoding(tc.in); got != tc.want {
				t.Errorf("NormalizeAcceptEncoding(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
