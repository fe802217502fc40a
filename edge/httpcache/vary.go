package httpcache

import (
	"net/textproto"
	"sort"
)

// maxVaryFields bounds the distinct field names a Vary may list; a longer
// list is treated like "Vary: *" (the response is not reused), since no
// sensible response varies on that many fields.
const maxVaryFields = 64

// maxVaryMembers bounds the list members (duplicates and empty ones
// included) examined; a longer Vary is treated like "Vary: *" too.
const maxVaryMembers = 1024

// ParseVary parses Vary lines (RFC 9110 §12.5.5) into canonical field names,
// sorted and deduplicated. star reports a "*" member (RFC 9111 §4.1: such a
// response never matches) — or more than 64 distinct names, or more than
// 1024 list members. Malformed members are skipped. fields is nil when none
// are listed.
func ParseVary(values []string) (fields []string, star bool) {
	members := 0
	for _, v := range values {
		for v != "" {
			if members++; members > maxVaryMembers {
				return nil, true
			}
			var item string
			i := 0
			for i < len(v) && v[i] != ',' {
				i++
			}
			item, v = v[:i], v[i:]
			if v != "" {
				v = v[1:]
			}
			item = trimOWS(item)
			if item == "" {
				continue
			}
			if item == "*" {
				star = true
				continue
			}
			if !isToken(item) {
				continue
			}
			name := textproto.CanonicalMIMEHeaderKey(item)
			dup := false
			for _, f := range fields {
				if f == name {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			if len(fields) >= maxVaryFields {
				return nil, true
			}
			fields = append(fields, name)
		}
	}
	if len(fields) > 1 {
		sort.Strings(fields)
	}
	return fields, star
}

// varyStar reports whether Vary makes a response unusable, as ParseVary's
// star does, without allocating in the common case.
func varyStar(values []string) bool {
	members := 0
	for _, v := range values {
		for v != "" {
			i := indexByte(v, ',')
			item := v
			if i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				v = ""
			}
			item = trimOWS(item)
			if item == "*" {
				return true
			}
			members++
		}
	}
	if members > maxVaryFields || members > maxVaryMembers {
		_, star := ParseVary(values)
		return star
	}
	return false
}

// NormalizeAcceptEncoding reduces an Accept-Encoding value (RFC 9110 §12.5.3)
// to the one coding the cache keys on: "br" if acceptable (q > 0, listed or
// covered by "*"), else "gzip" (or its alias x-gzip), else "" (identity).
// An explicit q=0 refuses a coding, also against "*".
func NormalizeAcceptEncoding(v string) string {
	const (
		unset = iota
		refused
		accepted
	)
	br, gz, star := unset, unset, unset
	n := 0
	for v != "" && n < 64 {
		n++
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		item := v[:i]
		if i < len(v) {
			v = v[i+1:]
		} else {
			v = ""
		}
		name, params := item, ""
		for j := 0; j < len(item); j++ {
			if item[j] == ';' {
				name, params = item[:j], item[j+1:]
				break
			}
		}
		name = trimOWS(name)
		state := accepted
		if !qPositive(params) {
			state = refused
		}
		switch {
		case eqFoldASCII(name, "br"):
			if br != refused {
				br = state
			}
		case eqFoldASCII(name, "gzip"), eqFoldASCII(name, "x-gzip"):
			if gz != refused {
				gz = state
			}
		case name == "*":
			star = state
		}
	}
	if br == accepted || br == unset && star == accepted {
		return "br"
	}
	if gz == accepted || gz == unset && star == accepted {
		return "gzip"
	}
	return ""
}

// qPositive reports whether the parameters of a coding give it a weight
// above zero. A missing q means 1; a malformed q refuses the coding.
func qPositive(params string) bool {
	for params != "" {
		var p string
		if i := indexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, ""
		}
		p = trimOWS(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') {
			continue
		}
		rest := trimOWS(p[1:])
		if rest == "" || rest[0] != '=' {
			continue
		}
		q := trimOWS(rest[1:])
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if q == "" || len(q) > 5 {
			return false
		}
		switch q[0] {
		case '1':
			return len(q) == 1 || q[1] == '.' && allOf(q[2:], '0', '0')
		case '0':
			if len(q) == 1 {
				return false
			}
			if q[1] != '.' || !allOf(q[2:], '0', '9') {
				return false
			}
			return !allOf(q[2:], '0', '0') // "0." followed by zeros only is 0
		}
		return false
	}
	return true
}

func allOf(s string, lo, hi byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > hi {
			return false
		}
	}
	return true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func eqFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
