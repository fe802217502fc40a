package httpcache

import (
	"encoding/base64"
	"unicode/utf8"
)

// A minimal, strict Structured Fields parser (RFC 9651, which obsoletes RFC
// 8941) for Lists and Dictionaries: Integers, Decimals, Strings, Tokens, Byte
// Sequences, Booleans, Dates, Display Strings, Parameters and Inner Lists.
// Any syntax error fails the whole field, as §4.2 requires. Sizes are bounded
// (maxSFInput, maxSFMembers, maxSFInner, maxSFParams); exceeding a bound is a
// parse failure.

const (
	maxSFInput   = 64 << 10 // bytes of the combined field value
	maxSFMembers = 1024     // RFC 9651 §3.1/§3.2: parsers MUST support at least 1024
	maxSFInner   = 256      // §3.1.1: at least 256
	maxSFParams  = 256      // §3.1.2: at least 256
)

type sfKind uint8

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfDate
	sfDisplayString
)

// sfBare is a bare item. Integers and Dates use i, Decimals f, Booleans b,
// the textual types (and decoded Byte Sequences) s.
type sfBare struct {
	kind sfKind
	i    int64
	f    float64
	s    string
	b    bool
}

type sfParam struct {
	key string
	val sfBare
}

type sfItem struct {
	bare   sfBare
	params []sfParam
}

// sfMember is a List or Dictionary member: an Item, or an Inner List with
// its own parameters (in item.params).
type sfMember struct {
	key     string // Dictionary members only
	isInner bool
	item    sfItem
	inner   []sfItem
}

type sfParser struct {
	s   string
	i   int
	bad bool
}

// joinFieldLines combines field lines for Structured Fields parsing (RFC
// 9651 §4.2): joined with ", ", empty lines skipped. ok is false if the
// result exceeds limit bytes.
func joinFieldLines(values []string, limit int) (string, bool) {
	n, count, only := 0, 0, ""
	for _, v := range values {
		if trimOWS(v) == "" {
			continue
		}
		if count > 0 {
			n += 2
		}
		n += len(v)
		count++
		only = v
		if n > limit {
			return "", false
		}
	}
	if count <= 1 {
		return only, true
	}
	buf := make([]byte, 0, n)
	for _, v := range values {
		if trimOWS(v) == "" {
			continue
		}
		if len(buf) > 0 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, v...)
	}
	return string(buf), true
}

// parseSFList parses a Structured Fields List (RFC 9651 §4.2.1).
func parseSFList(s string) ([]sfMember, bool) {
	if len(s) > maxSFInput {
		return nil, false
	}
	p := sfParser{s: s}
	p.skipSP()
	out := make([]sfMember, 0, memberEstimate(s))
	for p.i < len(p.s) && !p.bad {
		if len(out) >= maxSFMembers {
			return nil, false
		}
		out = append(out, p.itemOrInnerList())
		if !p.listSeparator() {
			break
		}
	}
	p.skipSP()
	if p.bad || p.i != len(p.s) {
		return nil, false
	}
	return out, true
}

// parseSFDictionary parses a Structured Fields Dictionary (RFC 9651
// §4.2.2). A repeated key overwrites the earlier value in place.
func parseSFDictionary(s string) ([]sfMember, bool) {
	if len(s) > maxSFInput {
		return nil, false
	}
	p := sfParser{s: s}
	p.skipSP()
	out := make([]sfMember, 0, memberEstimate(s))
	var index map[string]int // key → position, once there are many members
	for p.i < len(p.s) && !p.bad {
		key := p.key()
		if p.bad {
			return nil, false
		}
		var m sfMember
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			m = p.itemOrInnerList()
		} else {
			m.item.bare = sfBare{kind: sfBoolean, b: true}
			m.item.params = p.parameters()
		}
		m.key = key
		j := -1
		if index != nil {
			if k, ok := index[key]; ok {
				j = k
			}
		} else {
			for k := range out {
				if out[k].key == key {
					j = k
					break
				}
			}
		}
		if j >= 0 {
			out[j] = m
		} else {
			if len(out) >= maxSFMembers {
				return nil, false
			}
			out = append(out, m)
			if index != nil {
				index[key] = len(out) - 1
			} else if len(out) > 32 {
				index = make(map[string]int, 2*len(out))
				for k := range out {
					index[out[k].key] = k
				}
			}
		}
		if !p.listSeparator() {
			break
		}
	}
	p.skipSP()
	if p.bad || p.i != len(p.s) {
		return nil, false
	}
	return out, true
}

// memberEstimate bounds the members of s by its commas, so that the member
// slice is allocated once.
func memberEstimate(s string) int {
	n := 1
	for i := 0; i < len(s) && n < maxSFMembers; i++ {
		if s[i] == ',' {
			n++
		}
	}
	return n
}

// listSeparator consumes OWS "," OWS between members. It returns false at
// the end of input (or on error, setting bad); a trailing comma is an error.
func (p *sfParser) listSeparator() bool {
	if p.bad {
		return false
	}
	p.skipOWS()
	if p.i >= len(p.s) {
		return false
	}
	if p.s[p.i] != ',' {
		p.bad = true
		return false
	}
	p.i++
	p.skipOWS()
	if p.i >= len(p.s) {
		p.bad = true
		return false
	}
	return true
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && isOWS(p.s[p.i]) {
		p.i++
	}
}

func (p *sfParser) itemOrInnerList() sfMember {
	if p.i < len(p.s) && p.s[p.i] == '(' {
		return p.innerList()
	}
	return sfMember{item: p.item()}
}

func (p *sfParser) innerList() sfMember {
	p.i++ // "("
	var m sfMember
	m.isInner = true
	for p.i < len(p.s) && !p.bad {
		p.skipSP()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			m.item.params = p.parameters()
			return m
		}
		if len(m.inner) >= maxSFInner {
			p.bad = true
			return m
		}
		m.inner = append(m.inner, p.item())
		if p.i >= len(p.s) || (p.s[p.i] != ' ' && p.s[p.i] != ')') {
			p.bad = true
			return m
		}
	}
	p.bad = true
	return m
}

func (p *sfParser) item() sfItem {
	var it sfItem
	it.bare = p.bareItem()
	it.params = p.parameters()
	return it
}

func (p *sfParser) parameters() []sfParam {
	var out []sfParam
	for n := 0; !p.bad && p.i < len(p.s) && p.s[p.i] == ';'; n++ {
		if n >= maxSFParams*4 { // repeated keys: bound the work too
			p.bad = true
			return nil
		}
		p.i++
		p.skipSP()
		key := p.key()
		if p.bad {
			return nil
		}
		val := sfBare{kind: sfBoolean, b: true}
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			val = p.bareItem()
		}
		replaced := false
		for j := range out {
			if out[j].key == key {
				out[j].val = val
				replaced = true
				break
			}
		}
		if !replaced {
			if len(out) >= maxSFParams {
				p.bad = true
				return nil
			}
			out = append(out, sfParam{key: key, val: val})
		}
	}
	return out
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || ('A' <= c && c <= 'Z') }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }

// key parses a key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() string {
	if p.i >= len(p.s) || !(isLCAlpha(p.s[p.i]) || p.s[p.i] == '*') {
		p.bad = true
		return ""
	}
	start := p.i
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

func (p *sfParser) bareItem() sfBare {
	if p.bad || p.i >= len(p.s) {
		p.bad = true
		return sfBare{}
	}
	c := p.s[p.i]
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		return p.tokenItem()
	case c == ':':
		return p.byteSeq()
	case c == '?':
		return p.boolean()
	case c == '@':
		p.i++
		n := p.number()
		if n.kind != sfInteger {
			p.bad = true
		}
		n.kind = sfDate
		return n
	case c == '%':
		return p.displayString()
	}
	p.bad = true
	return sfBare{}
}

// number parses an Integer or Decimal (RFC 9651 §4.2.4).
func (p *sfParser) number() sfBare {
	neg := false
	if p.i < len(p.s) && p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	if p.i >= len(p.s) || !isDigit(p.s[p.i]) {
		p.bad = true
		return sfBare{}
	}
	var intPart, frac int64
	digits, fracDigits := 0, 0
	decimal := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isDigit(c) {
			if decimal {
				frac = frac*10 + int64(c-'0')
				fracDigits++
			} else {
				intPart = intPart*10 + int64(c-'0')
				digits++
			}
		} else if c == '.' && !decimal {
			if digits > 12 {
				p.bad = true
				return sfBare{}
			}
			decimal = true
		} else {
			break
		}
		p.i++
		if !decimal && digits > 15 || decimal && digits+1+fracDigits > 16 {
			p.bad = true
			return sfBare{}
		}
	}
	if !decimal {
		if neg {
			intPart = -intPart
		}
		return sfBare{kind: sfInteger, i: intPart}
	}
	if fracDigits == 0 || fracDigits > 3 {
		p.bad = true
		return sfBare{}
	}
	f := float64(intPart)
	scale := 1.0
	for k := 0; k < fracDigits; k++ {
		scale *= 10
	}
	f += float64(frac) / scale
	if neg {
		f = -f
	}
	return sfBare{kind: sfDecimal, f: f}
}

// str parses a String (§4.2.5): printable ASCII, escapes only \" and \\.
func (p *sfParser) str() sfBare {
	p.i++ // opening quote
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			p.i++
			if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				p.bad = true
				return sfBare{}
			}
			escaped = true
		case c == '"':
			raw := p.s[start:p.i]
			p.i++
			if escaped {
				raw = unescapeQuoted(raw)
			}
			return sfBare{kind: sfString, s: raw}
		case c < 0x20 || c > 0x7e:
			p.bad = true
			return sfBare{}
		}
		p.i++
	}
	p.bad = true
	return sfBare{}
}

// tokenItem parses a Token (§4.2.6): ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func (p *sfParser) tokenItem() sfBare {
	start := p.i
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(isTchar(c) || c == ':' || c == '/') {
			break
		}
		p.i++
	}
	return sfBare{kind: sfToken, s: p.s[start:p.i]}
}

func isBase64(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '='
}

// byteSeq parses a Byte Sequence (§4.2.7), accepting missing padding.
func (p *sfParser) byteSeq() sfBare {
	p.i++ // ":"
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ':' {
		if !isBase64(p.s[p.i]) {
			p.bad = true
			return sfBare{}
		}
		p.i++
	}
	if p.i >= len(p.s) {
		p.bad = true
		return sfBare{}
	}
	enc := p.s[start:p.i]
	p.i++
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(enc)
		if err != nil {
			p.bad = true
			return sfBare{}
		}
	}
	return sfBare{kind: sfBytes, s: string(b)}
}

func (p *sfParser) boolean() sfBare {
	p.i++ // "?"
	if p.i < len(p.s) && (p.s[p.i] == '0' || p.s[p.i] == '1') {
		b := p.s[p.i] == '1'
		p.i++
		return sfBare{kind: sfBoolean, b: b}
	}
	p.bad = true
	return sfBare{}
}

func unhexLower(c byte) (byte, bool) {
	switch {
	case isDigit(c):
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// displayString parses a Display String (RFC 9651 §4.2.10).
func (p *sfParser) displayString() sfBare {
	p.i++ // "%"
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		p.bad = true
		return sfBare{}
	}
	p.i++
	var buf []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '%':
			if p.i+2 >= len(p.s) {
				p.bad = true
				return sfBare{}
			}
			h, ok1 := unhexLower(p.s[p.i+1])
			l, ok2 := unhexLower(p.s[p.i+2])
			if !ok1 || !ok2 {
				p.bad = true
				return sfBare{}
			}
			buf = append(buf, h<<4|l)
			p.i += 3
			continue
		case c == '"':
			p.i++
			if !utf8.Valid(buf) {
				p.bad = true
				return sfBare{}
			}
			return sfBare{kind: sfDisplayString, s: string(buf)}
		case c < 0x20 || c > 0x7e:
			p.bad = true
			return sfBare{}
		}
		buf = append(buf, c)
		p.i++
	}
	p.bad = true
	return sfBare{}
}
