package httpcache

// maxLanguageMembers bounds the list members of an Accept-Language that
// are normalised; a longer list is left as it is (it is no browser's).
const maxLanguageMembers = 64

// NormalizeAcceptLanguage returns the canonical form of an Accept-Language
// field (see AppendAcceptLanguage); ok is false when it is not a
// well-formed list, which is then to be used as it is.
func NormalizeAcceptLanguage(lines []string) (string, bool) {
	var buf [128]byte
	b, ok := AppendAcceptLanguage(buf[:0], lines)
	if !ok {
		return "", false
	}
	return string(b), true
}

// AppendAcceptLanguage appends to b the canonical form of an
// Accept-Language field given on lines (RFC 9110 §12.5.4): values that
// differ only in what the grammar makes insignificant read the same, so
// that they are one variant (RFC 9111 §4.1) and the origin, sent the same
// form, cannot tell them apart either. The list members are joined by ","
// without whitespace (list OWS and empty members go, RFC 9110 §5.6.1);
// each language range (RFC 4647 §2.1, case-insensitive) gets the case
// conventions of RFC 5646 §2.1.1 — primary subtag lower case, 2-letter
// subtags (regions) upper case, 4-letter ones (scripts) title case, the
// rest lower case, everything after a singleton ("x-…") lower case — which
// leaves what browsers send ("en-US,en;q=0.9") unchanged; a weight is
// written ";q=" and its qvalue as given. ok is false, and b is returned
// unchanged, when a member is not a language range with an optional weight
// (whitespace inside a tag, a parameter other than q, a control byte) or
// there are more than 64 members. It does not allocate when b has room.
func AppendAcceptLanguage(b []byte, lines []string) ([]byte, bool) {
	start := len(b)
	n := 0
	for _, v := range lines {
		for v != "" {
			m := v
			if i := indexByte(v, ','); i >= 0 {
				m, v = v[:i], v[i+1:]
			} else {
				v = ""
			}
			m = trimOWS(m)
			if m == "" {
				continue
			}
			if n++; n > maxLanguageMembers {
				return b[:start], false
			}
			rng, weight, hasWeight := m, "", false
			if i := indexByte(m, ';'); i >= 0 {
				rng, weight, hasWeight = trimOWS(m[:i]), trimOWS(m[i+1:]), true
				// weight = OWS ";" OWS "q=" qvalue (RFC 9110 §12.4.2)
				if len(weight) < 2 || weight[0]|0x20 != 'q' || weight[1] != '=' || !isQvalue(weight[2:]) {
					return b[:start], false
				}
			}
			if len(b) > start {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendLanguageRange(b, rng); !ok {
				return b[:start], false
			}
			if hasWeight {
				b = append(b, ";q="...)
				b = append(b, weight[2:]...)
			}
		}
	}
	return b, true
}

// appendLanguageRange appends a basic language range (RFC 4647 §2.1:
// "*" or 1*8ALPHA *("-" 1*8alphanum)) in canonical case; ok is false when
// rng is not one.
func appendLanguageRange(b []byte, rng string) ([]byte, bool) {
	if rng == "*" {
		return append(b, '*'), true
	}
	first, private := true, false
	for rng != "" || first {
		sub := rng
		if i := indexByte(rng, '-'); i >= 0 {
			sub, rng = rng[:i], rng[i+1:]
			if rng == "" {
				return b, false // trailing "-"
			}
		} else {
			rng = ""
		}
		if len(sub) < 1 || len(sub) > 8 {
			return b, false
		}
		if !first {
			b = append(b, '-')
		}
		for i := 0; i < len(sub); i++ {
			c := sub[i]
			isAlpha := 'a' <= c|0x20 && c|0x20 <= 'z'
			if !isAlpha && (first || c < '0' || c > '9') {
				return b, false
			}
			if isAlpha {
				upper := !first && !private && (len(sub) == 2 || len(sub) == 4 && i == 0)
				if upper {
					c &^= 0x20
				} else {
					c |= 0x20
				}
			}
			b = append(b, c)
		}
		if !first && len(sub) == 1 {
			private = true // a singleton: extensions and private use follow
		}
		first = false
	}
	return b, true
}

// isQvalue reports whether q is a qvalue (RFC 9110 §12.4.2):
// "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ].
func isQvalue(q string) bool {
	if q == "" || len(q) > 5 || len(q) > 1 && q[1] != '.' {
		return false
	}
	switch q[0] {
	case '0':
		return len(q) == 1 || allOf(q[2:], '0', '9')
	case '1':
		return len(q) == 1 || allOf(q[2:], '0', '0')
	}
	return false
}
