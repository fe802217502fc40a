package geo

import (
	"net/http"
	"net/netip"
	"strings"
)

// Proxy headers a Resolver reads when the socket peer is a trusted proxy
// (ResolverConfig.ProxyHeader). Exactly one is read, never both: a proxy
// that appends to one of them passes the other through from the client
// unchanged, so reading the other would let a client choose its address.
const (
	// HeaderXForwardedFor (also the default, "") uses only X-Forwarded-For,
	// which nginx, HAProxy, AWS ALB/ELB, Google Cloud and most other proxies
	// append to. A Forwarded header is ignored.
	HeaderXForwardedFor = "X-Forwarded-For"
	// HeaderForwarded uses only RFC 7239 Forwarded, for proxies configured
	// to append to it; X-Forwarded-For is then ignored.
	HeaderForwarded = "Forwarded"
)

const (
	// MaxHops bounds how many proxy hops ClientIP walks back through; past
	// it the walk stops at the last trusted hop.
	MaxHops = 64
	// maxElement bounds the bytes of one hop (one list element); a longer
	// element is garbage.
	maxElement = 512
	// maxSteps bounds the iterator's work including empty list elements and
	// blank header lines.
	maxSteps = 4 * MaxHops
)

// hopKind classifies one element of a proxy header.
type hopKind uint8

const (
	hopAddr    hopKind = iota // an IP address
	hopOpaque                 // "unknown" or an obfuscated identifier (RFC 7239 §6.2, §6.3)
	hopNoFor                  // a Forwarded element without a for= parameter
	hopGarbage                // does not parse, or too long / too many steps
	hopEnd                    // no more elements
)

// hopIter walks the elements of a proxy header from the right: last header
// line first, each line from its end. Parsing from the right means the
// elements the trusted proxies appended are read exactly as written, whatever
// the client put to their left (an unterminated quote, say).
type hopIter struct {
	lines     []string
	li        int // current line, counting down
	end       int // unread part of the current line: lines[li][:end]
	steps     int
	forwarded bool // Forwarded syntax, else X-Forwarded-For
}

func newHopIter(lines []string, forwarded bool) hopIter {
	it := hopIter{lines: lines, li: len(lines) - 1, forwarded: forwarded}
	if it.li >= 0 {
		it.end = len(lines[it.li])
	}
	return it
}

// next returns the next element from the right.
func (it *hopIter) next() (netip.Addr, hopKind) {
	for {
		if it.li < 0 {
			return netip.Addr{}, hopEnd
		}
		if it.steps++; it.steps > maxSteps {
			return netip.Addr{}, hopGarbage
		}
		if it.end < 0 {
			it.li--
			if it.li >= 0 {
				it.end = len(it.lines[it.li])
			}
			continue
		}
		line := it.lines[it.li][:it.end]
		var start int // element is line[start:], its separator at start-1
		if it.forwarded {
			s, ok := forwardedElementStart(line)
			if !ok {
				it.li = -1
				return netip.Addr{}, hopGarbage
			}
			start = s
		} else {
			lo := max(0, len(line)-maxElement-1)
			i := strings.LastIndexByte(line[lo:], ',')
			if i < 0 && lo > 0 {
				it.li = -1
				return netip.Addr{}, hopGarbage
			}
			if i >= 0 {
				i += lo
			}
			start = i + 1
		}
		elem := trimOWS(line[start:])
		it.end = start - 1 // -1 when the line is used up
		if elem == "" {
			continue // empty list elements are ignored (RFC 9110 §5.6.1)
		}
		if len(elem) > maxElement {
			it.li = -1
			return netip.Addr{}, hopGarbage
		}
		var a netip.Addr
		var k hopKind
		if it.forwarded {
			a, k = parseForwardedElement(elem)
		} else {
			a, k = parseXFFNode(elem)
		}
		if k == hopGarbage {
			it.li = -1
		}
		return a, k
	}
}

// forwardedElementStart finds where the last element of line begins: just
// after the last comma that is not inside a quoted string. It reads from the
// right, at most maxElement+1 bytes; ok is false when the element is longer or
// a quoted string is not closed. Inside a quoted string, a quote is escaped
// when an odd run of backslashes precedes it.
func forwardedElementStart(line string) (start int, ok bool) {
	inQuote := false
	for i := len(line) - 1; i >= 0; i-- {
		if len(line)-i > maxElement+1 {
			return 0, false
		}
		switch line[i] {
		case '"':
			if !inQuote {
				inQuote = true
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && j >= i-maxElement && line[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				inQuote = false
			}
		case ',':
			if !inQuote {
				return i + 1, true
			}
		}
	}
	return 0, !inQuote
}

// parseForwardedElement parses one RFC 7239 forwarded-element
// (pair *( ";" pair ), pair = token "=" ( token / quoted-string )) and
// classifies its for= node. Every pair must be well formed; for= may occur
// at most once. Parameters other than for are checked for syntax only.
func parseForwardedElement(elem string) (netip.Addr, hopKind) {
	var forVal string
	haveFor := false
	rest := elem
	for rest != "" {
		// One pair: up to the next ';' outside a quoted string.
		end := len(rest)
		inQuote := false
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if inQuote {
				if c == '\\' {
					i++
				} else if c == '"' {
					inQuote = false
				}
				continue
			}
			if c == '"' {
				inQuote = true
			} else if c == ';' {
				end = i
				break
			}
		}
		if inQuote {
			return netip.Addr{}, hopGarbage
		}
		pair := trimOWS(rest[:end])
		if end < len(rest) {
			rest = rest[end+1:]
		} else {
			rest = ""
		}
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			return netip.Addr{}, hopGarbage
		}
		key, val := pair[:eq], pair[eq+1:]
		if !isToken(key) {
			return netip.Addr{}, hopGarbage
		}
		v, ok := forwardedValue(val)
		if !ok {
			return netip.Addr{}, hopGarbage
		}
		if strings.EqualFold(key, "for") {
			if haveFor {
				return netip.Addr{}, hopGarbage
			}
			haveFor, forVal = true, v
		}
	}
	if !haveFor {
		return netip.Addr{}, hopNoFor
	}
	return parseForwardedNode(forVal)
}

// forwardedValue unquotes a token or quoted-string value. Values with
// quoted-pairs (backslashes) are refused: no valid node needs one, and
// refusing keeps parsing allocation-free.
func forwardedValue(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c == '\\' || c == '"' || c < 0x20 && c != '\t' || c == 0x7f {
				return "", false
			}
		}
		return v, true
	}
	// Unquoted: a token, leniently also '[', ']' and ':' (senders that
	// forget to quote an IPv6 node or a port).
	if v == "" {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isTchar(c) && c != '[' && c != ']' && c != ':' {
			return "", false
		}
	}
	return v, true
}

// parseForwardedNode parses an RFC 7239 §6 node:
//
//	node     = nodename [ ":" node-port ]
//	nodename = IPv4address / "[" IPv6address "]" / "unknown" / obfnode
func parseForwardedNode(v string) (netip.Addr, hopKind) {
	if strings.EqualFold(v, "unknown") {
		return netip.Addr{}, hopOpaque
	}
	if v != "" && v[0] == '_' {
		if isObf(v[1:]) {
			return netip.Addr{}, hopOpaque
		}
		return netip.Addr{}, hopGarbage
	}
	if v != "" && v[0] == '[' {
		a, ok := parseBracketed(v)
		if !ok {
			return netip.Addr{}, hopGarbage
		}
		return a, hopAddr
	}
	host := v
	if i := strings.IndexByte(v, ':'); i >= 0 {
		host = v[:i]
		if !isPort(v[i+1:], true) {
			return netip.Addr{}, hopGarbage
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, hopGarbage
	}
	return a, hopAddr
}

// parseXFFNode parses one X-Forwarded-For element: an IPv4 or IPv6 address,
// optionally with a port ("1.2.3.4:80", "[2001:db8::1]:80"), a bracketed
// IPv6 address, or "unknown".
func parseXFFNode(v string) (netip.Addr, hopKind) {
	if strings.EqualFold(v, "unknown") {
		return netip.Addr{}, hopOpaque
	}
	if v[0] == '[' {
		a, ok := parseBracketed(v)
		if !ok {
			return netip.Addr{}, hopGarbage
		}
		return a, hopAddr
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return a, hopAddr
	}
	// IPv4 with a port.
	if i := strings.IndexByte(v, ':'); i > 0 && strings.IndexByte(v[i+1:], ':') < 0 && isPort(v[i+1:], false) {
		if a, err := netip.ParseAddr(v[:i]); err == nil && a.Is4() {
			return a, hopAddr
		}
	}
	return netip.Addr{}, hopGarbage
}

// parseBracketed parses "[IPv6]" or "[IPv6]:port" (the port digits only).
func parseBracketed(v string) (netip.Addr, bool) {
	j := strings.IndexByte(v, ']')
	if j < 0 {
		return netip.Addr{}, false
	}
	if rest := v[j+1:]; rest != "" {
		if rest[0] != ':' || !isPort(rest[1:], true) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(v[1:j])
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// isPort: 1-5 digits ≤ 65535, or (allowObf) an obfuscated port "_xyz".
func isPort(s string, allowObf bool) bool {
	if allowObf && s != "" && s[0] == '_' {
		return isObf(s[1:])
	}
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// isObf: 1*( ALPHA / DIGIT / "." / "_" / "-" ).
func isObf(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

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

// isTchar: RFC 9110 tchar.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseRemoteAddr parses the socket peer as net/http gives it in
// Request.RemoteAddr ("ip:port", "[ipv6]:port"); a bare address is accepted
// too. The address is unmapped and its zone dropped; anything else is the
// zero Addr.
func parseRemoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// trustSet is a list of trusted proxy prefixes.
type trustSet struct{ v4, v6 []netip.Prefix }

func newTrustSet(ps []netip.Prefix) trustSet {
	var t trustSet
	for _, p := range ps {
		if p.Addr().Is4() {
			t.v4 = append(t.v4, p)
		} else {
			t.v6 = append(t.v6, p)
		}
	}
	return t
}

func (t *trustSet) empty() bool { return len(t.v4) == 0 && len(t.v6) == 0 }

// contains expects an unmapped, zone-less address.
func (t *trustSet) contains(a netip.Addr) bool {
	list := t.v6
	if a.Is4() {
		list = t.v4
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client: the peer unless the peer is
// trusted; then the right-most hop of the proxy header (header: HeaderForwarded,
// else X-Forwarded-For) that is not trusted.
// The walk stops at the last trusted hop when a hop is "unknown", obfuscated
// or garbage (what lies to its left was written by a node nobody vouches
// for), after MaxHops hops, and when every hop is trusted (the left-most one).
func clientIP(peer netip.Addr, h http.Header, trusted *trustSet, header string) netip.Addr {
	if !peer.IsValid() || trusted.empty() || !trusted.contains(peer) {
		return peer
	}
	var it hopIter
	if header == HeaderForwarded {
		it = newHopIter(h["Forwarded"], true)
	} else {
		it = newHopIter(h["X-Forwarded-For"], false)
	}
	last := peer
	for hops := 0; hops < MaxHops; hops++ {
		a, k := it.next()
		if k != hopAddr {
			return last
		}
		a = a.Unmap().WithZone("")
		if !trusted.contains(a) {
			return a
		}
		last = a
	}
	return last
}
