package httpcache

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	type br = ByteRange
	tests := []struct {
		rfc  string
		in   string
		size int64
		want []ByteRange
		err  error
	}{
		{"RFC 9110 §14.1.2", "bytes=0-499", 10000, []br{{0, 499}}, nil},
		{"RFC 9110 §14.1.2", "bytes=500-999", 10000, []br{{500, 999}}, nil},
		{"RFC 9110 §14.1.2", "bytes=-500", 10000, []br{{9500, 9999}}, nil},
		{"RFC 9110 §14.1.2", "bytes=9500-", 10000, []br{{9500, 9999}}, nil},
		{"RFC 9110 §14.1.2", "bytes=0-0,-1", 10000, []br{{0, 0}, {9999, 9999}}, nil},
		{"RFC 9110 §5.6.1.2: leading whitespace tolerated (recipient leniency)", "bytes= 0-999", 10000, []br{{0, 999}}, nil},
		{"RFC 9110 §14.1.2", "bytes=0-999, 4500-5499, -1000", 10000, []br{{0, 999}, {4500, 5499}, {9000, 9999}}, nil},
		{"RFC 9110 §14.1.1", "BYTES=0-1", 10, []br{{0, 1}}, nil},
		{"RFC 9110 §14.1.1: last-pos beyond size is clamped", "bytes=5-100", 10, []br{{5, 9}}, nil},
		{"RFC 9110 §14.1.1: suffix longer than size selects all", "bytes=-100", 10, []br{{0, 9}}, nil},
		{"RFC 9110 §14.1.1: huge numbers saturate", "bytes=0-99999999999999999999999", 10, []br{{0, 9}}, nil},
		{"RFC 9110 §14.1.1: huge first-pos unsatisfiable", "bytes=99999999999999999999999-", 10, nil, ErrUnsatisfiable},
		{"RFC 9110 §14.1.1: first-pos at size unsatisfiable", "bytes=10-", 10, nil, ErrUnsatisfiable},
		{"RFC 9110 §14.1.1: suffix of 0 unsatisfiable", "bytes=-0", 10, nil, ErrUnsatisfiable},
		{"RFC 9110 §14.1.1: empty representation", "bytes=0-", 0, nil, ErrUnsatisfiable},
		{"RFC 9110 §14.1.1: empty representation, suffix", "bytes=-5", 0, nil, ErrUnsatisfiable},
		{"RFC 9110 §14.1.1: unsatisfiable dropped, rest kept", "bytes=20-30, 0-1", 10, []br{{0, 1}}, nil},
		{"RFC 9110 §14.1.1: last < first is invalid", "bytes=5-4", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: other unit", "items=0-5", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: missing =", "bytes 0-5", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: no dash", "bytes=5", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: only dash", "bytes=-", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: sign", "bytes=+1-2", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: negative", "bytes=-1-2", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: empty set", "bytes=", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: only commas", "bytes=,,", 10, nil, ErrInvalidRange},
		{"RFC 9110 §5.6.1: empty elements tolerated", "bytes=0-1,,2-3", 10, []br{{0, 1}, {2, 3}}, nil},
		{"RFC 9110 §14.1.1: garbage after", "bytes=0-1x", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.1.1: unsatisfiable does not hide a syntax error", "bytes=20-30, x", 10, nil, ErrInvalidRange},
		{"RFC 9110 §14.3: overlapping ranges coalesced", "bytes=0-5, 3-8", 10, []br{{0, 8}}, nil},
		{"RFC 9110 §14.3: repeated ranges coalesced", "bytes=0-,0-,0-", 10, []br{{0, 9}}, nil},
		{"RFC 9110 §14.3: non-overlapping keep request order", "bytes=5-6, 0-1", 10, []br{{5, 6}, {0, 1}}, nil},
		{"RFC 9110 §14.3: overlap sorted and merged", "bytes=8-9, 0-2, 1-3", 10, []br{{0, 3}, {8, 9}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.rfc+"/"+tc.in, func(t *testing.T) {
			got, err := ParseRange(tc.in, tc.size)
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRange(%q, %d) = %v, %v; want %v, %v", tc.in, tc.size, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseRangeBound(t *testing.T) {
	// RFC 9110 §14.3: a server may ignore a Range with too many ranges.
	ok := "bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", MaxRanges), ",")
	if got, err := ParseRange(ok, 10); err != nil || len(got) != 1 {
		t.Fatalf("%d ranges: %v %v", MaxRanges, got, err)
	}
	if _, err := ParseRange(ok+",1-1", 10); !errors.Is(err, ErrInvalidRange) {
		t.Fatalf("%d ranges: %v", MaxRanges+1, err)
	}
	if r := (ByteRange{Start: 3, End: 7}); r.Length() != 5 {
		t.Fatalf("Length = %d", r.Length())
	}
}
