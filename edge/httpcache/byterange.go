package httpcache

import (
	"errors"
	"sort"
)

// ByteRange is a satisfiable byte range of a representation; both ends are
// inclusive offsets (RFC 9110 §14.1.1).
type ByteRange struct{ Start, End int64 }

// Length is the number of bytes in the range.
func (r ByteRange) Length() int64 { return r.End - r.Start + 1 }

var (
	// ErrUnsatisfiable: the Range is valid but no range overlaps the
	// representation — answer 416 with "Content-Range: bytes */size"
	// (RFC 9110 §15.5.17).
	ErrUnsatisfiable = errors.New("httpcache: range not satisfiable")
	// ErrInvalidRange: the Range header is malformed, uses another unit, or
	// asks for more than MaxRanges ranges — ignore it and answer 200 with
	// the whole representation (RFC 9110 §14.2).
	ErrInvalidRange = errors.New("httpcache: invalid range")
)

// MaxRanges bounds the range-specs accepted in one Range header; more is
// treated as an attack and the header ignored (RFC 9110 §14.3 permits this).
const MaxRanges = 100

// ParseRange parses a Range header value (RFC 9110 §14.1.1, §14.2) against a
// representation of size bytes. It returns the satisfiable ranges, clamped to
// the representation, in the order requested — unless some overlap, in which
// case all are coalesced into ascending, non-overlapping ranges (§14.3 allows
// coalescing; it also defeats amplification by repeated ranges). Suffix
// ranges ("-N") select the last N bytes. Unsatisfiable range-specs are
// dropped; if none remain, ErrUnsatisfiable. A syntax error anywhere, a unit
// other than "bytes", or more than MaxRanges range-specs: ErrInvalidRange.
func ParseRange(value string, size int64) ([]ByteRange, error) {
	const unit = "bytes="
	if len(value) < len(unit) || !eqFoldASCII(value[:len(unit)-1], "bytes") || value[len(unit)-1] != '=' {
		return nil, ErrInvalidRange
	}
	s := value[len(unit):]
	var out []ByteRange
	specs := 0
	for s != "" {
		i := indexByte(s, ',')
		var spec string
		if i >= 0 {
			spec, s = s[:i], s[i+1:]
		} else {
			spec, s = s, ""
		}
		spec = trimOWS(spec)
		if spec == "" {
			continue // empty list elements are allowed (RFC 9110 §5.6.1.2)
		}
		specs++
		if specs > MaxRanges {
			return nil, ErrInvalidRange
		}
		dash := indexByte(spec, '-')
		if dash < 0 {
			return nil, ErrInvalidRange
		}
		first, last := spec[:dash], spec[dash+1:]
		if first == "" {
			// suffix-range = "-" suffix-length
			n, ok := parseDigits(last)
			if !ok {
				return nil, ErrInvalidRange
			}
			if n == 0 || size <= 0 {
				continue // unsatisfiable
			}
			if n > size {
				n = size
			}
			out = append(out, ByteRange{Start: size - n, End: size - 1})
			continue
		}
		start, ok := parseDigits(first)
		if !ok {
			return nil, ErrInvalidRange
		}
		end := int64(-1)
		if last != "" {
			if end, ok = parseDigits(last); !ok || end < start {
				return nil, ErrInvalidRange
			}
		}
		if start >= size {
			continue // unsatisfiable
		}
		if end < 0 || end >= size {
			end = size - 1
		}
		out = append(out, ByteRange{Start: start, End: end})
	}
	if specs == 0 {
		return nil, ErrInvalidRange
	}
	if len(out) == 0 {
		return nil, ErrUnsatisfiable
	}
	if len(out) > 1 && overlapping(out) {
		out = coalesce(out)
	}
	return out, nil
}

// parseDigits parses 1*DIGIT, saturating at a value beyond any size.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	const limit = 1 << 59
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + int64(c-'0')
		}
	}
	if n > limit {
		n = limit
	}
	return n, true
}

func overlapping(rs []ByteRange) bool {
	sorted := make([]ByteRange, len(rs))
	copy(sorted, rs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Start <= sorted[i-1].End {
			return true
		}
	}
	return false
}

// coalesce sorts rs and merges ranges that overlap or touch.
func coalesce(rs []ByteRange) []ByteRange {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Start <= last.End+1 {
			if r.End > last.End {
				last.End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}
