package httpcache

import (
	"net/textproto"
	"strings"
	"time"
)

// maxDelta is the largest delta-seconds value a cache has to represent;
// larger values (and overflows) are treated as this value (RFC 9111 §1.2.2).
const maxDelta = 2147483648 * time.Second

// maxFieldNames bounds the field names kept from a no-cache="…" or
// private="…" argument; a longer list is truncated and flagged Invalid.
const maxFieldNames = 64

// isTchar reports whether c is a token character (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	return tcharTable[c]
}

var tcharTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// directive is one element of a Cache-Control-like field:
// name [ "=" ( token / quoted-string ) ] [ ";" target ].
type directive struct {
	name      string
	value     string
	hasValue  bool
	quoted    bool
	target    string
	hasTarget bool
}

// dirScanner walks the directives of one field line. It never allocates
// except to unescape a quoted-string that contains quoted-pairs.
type dirScanner struct {
	s           string
	i           int
	allowTarget bool // Surrogate-Control: "directive;device-token"
	invalid     bool // some element did not parse and was skipped
}

// skipElement moves past the rest of the current list element (to the next
// comma outside a quoted-string).
func (sc *dirScanner) skipElement() {
	inQuote := false
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case inQuote && c == '\\':
			sc.i++
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			return
		}
		sc.i++
	}
}

func (sc *dirScanner) skipOWS() {
	for sc.i < len(sc.s) && isOWS(sc.s[sc.i]) {
		sc.i++
	}
}

func (sc *dirScanner) token() string {
	start := sc.i
	for sc.i < len(sc.s) && isTchar(sc.s[sc.i]) {
		sc.i++
	}
	return sc.s[start:sc.i]
}

// quoted reads a quoted-string starting at the opening quote; ok is false if
// it is unterminated or holds a forbidden byte.
func (sc *dirScanner) quoted() (string, bool) {
	sc.i++ // opening quote
	start := sc.i
	escaped := false
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			raw := sc.s[start:sc.i]
			sc.i++
			if escaped {
				return unescapeQuoted(raw), true
			}
			return raw, true
		case c == '\\':
			escaped = true
			sc.i++
			if sc.i >= len(sc.s) {
				return "", false
			}
			if c2 := sc.s[sc.i]; c2 != '\t' && (c2 < 0x20 || c2 == 0x7f) {
				return "", false
			}
		case c != '\t' && (c < 0x20 || c == 0x7f):
			return "", false
		}
		sc.i++
	}
	return "", false
}

func unescapeQuoted(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			i++
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

// next stores the next directive in d and reports whether there was one.
// Malformed elements are skipped and recorded in sc.invalid.
func (sc *dirScanner) next(d *directive) bool {
	for {
		for sc.i < len(sc.s) && (isOWS(sc.s[sc.i]) || sc.s[sc.i] == ',') {
			sc.i++
		}
		if sc.i >= len(sc.s) {
			return false
		}
		*d = directive{}
		d.name = sc.token()
		if d.name == "" {
			sc.invalid = true
			sc.skipElement()
			continue
		}
		bad := false
		// No whitespace is allowed around "=" (RFC 9111 §5.2); an element
		// such as "max-age =60" is malformed and skipped.
		if sc.i < len(sc.s) && sc.s[sc.i] == '=' {
			sc.i++
			d.hasValue = true
			if sc.i < len(sc.s) && sc.s[sc.i] == '"' {
				v, ok := sc.quoted()
				d.value, d.quoted = v, true
				bad = !ok
			} else {
				d.value = sc.token()
				if d.value == "" {
					bad = true
				}
			}
		}
		sc.skipOWS()
		if !bad && sc.allowTarget && sc.i < len(sc.s) && sc.s[sc.i] == ';' {
			sc.i++
			sc.skipOWS()
			d.target = sc.token()
			d.hasTarget = true
			bad = d.target == ""
			sc.skipOWS()
		}
		if bad || (sc.i < len(sc.s) && sc.s[sc.i] != ',') {
			sc.invalid = true
			sc.skipElement()
			continue
		}
		return true
	}
}

// lowerName writes the ASCII-lower-case form of a short name into buf and
// returns it; names longer than buf are returned as "" (no known directive is
// that long).
func lowerName(buf []byte, name string) []byte {
	if len(name) > len(buf) {
		return nil
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(name)]
}

// parseDelta parses delta-seconds (RFC 9111 §1.2.2): 1*DIGIT, saturating at
// maxDelta.
func parseDelta(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= int64(maxDelta/time.Second) {
			n = n*10 + int64(c-'0')
		}
	}
	d := time.Duration(n) * time.Second
	if n > int64(maxDelta/time.Second) {
		d = maxDelta
	}
	return d, true
}

// appendFieldNames appends the canonical field names of a comma-separated
// list to dst, skipping duplicates and malformed names. ok is false if the
// list held something malformed or was truncated at maxFieldNames.
func appendFieldNames(dst []string, list string) ([]string, bool) {
	ok := true
	for list != "" {
		var item string
		if i := strings.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			item, list = list, ""
		}
		item = trimOWS(item)
		if item == "" {
			continue
		}
		if !isToken(item) {
			ok = false
			continue
		}
		name := textproto.CanonicalMIMEHeaderKey(item)
		dup := false
		for _, have := range dst {
			if have == name {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if len(dst) >= maxFieldNames {
			return dst, false
		}
		dst = append(dst, name)
	}
	return dst, ok
}
