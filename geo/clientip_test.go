package geo

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func mustPrefixes(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hdr builds a header from "Name: value" lines, keeping repeated lines.
func hdr(lines ...string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		h.Add(name, strings.TrimPrefix(value, " "))
	}
	return h
}

const trustedCSV = "10.0.0.0/8, 2001:db8:1::/48, 198.51.100.7"

func TestClientIP(t *testing.T) {
	trusted := newTrustSet(mustPrefixes(t, trustedCSV))
	cases := []struct {
		name, remote string
		h            http.Header
		header       string // ProxyHeader
		want         string // "" = zero Addr
	}{
		// The peer, when it is not trusted, whatever the headers say.
		{"peer v4", "81.2.69.142:51234", nil, "", "81.2.69.142"},
		{"peer v6", "[2a02:cf40::7]:443", nil, "", "2a02:cf40::7"},
		{"peer mapped", "[::ffff:81.2.69.142]:80", nil, "", "81.2.69.142"},
		{"peer zone", "[fe80::1%eth0]:80", nil, "", "fe80::1"},
		{"peer no port", "81.2.69.142", nil, "", "81.2.69.142"},
		{"peer bracketed no port", "[2a02:cf40::7]", nil, "", "2a02:cf40::7"},
		{"peer garbage", "not-an-address", nil, "", ""},
		{"peer empty", "", nil, "", ""},
		{"spoofed XFF from untrusted peer", "81.2.69.142:1", hdr("X-Forwarded-For: 8.8.8.8"), "", "81.2.69.142"},
		{"spoofed Forwarded from untrusted peer", "81.2.69.142:1", hdr("Forwarded: for=8.8.8.8"), "", "81.2.69.142"},
		{"untrusted mapped peer", "[::ffff:11.0.0.1]:1", hdr("X-Forwarded-For: 8.8.8.8"), "", "11.0.0.1"},

		// Trusted peer, X-Forwarded-For.
		{"xff one", "10.0.0.1:80", hdr("X-Forwarded-For: 81.2.69.142"), "", "81.2.69.142"},
		{"xff client spoof left of real", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, 81.2.69.142"), "", "81.2.69.142"},
		{"xff through trusted hops", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, 81.2.69.142, 10.1.1.1, 198.51.100.7"), "", "81.2.69.142"},
		{"xff several lines", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, 81.2.69.142", "X-Forwarded-For: 10.2.2.2", "X-Forwarded-For: 10.3.3.3"), "", "81.2.69.142"},
		{"xff blank line and empty elements", "10.0.0.1:80", hdr("X-Forwarded-For: 81.2.69.142,, ", "X-Forwarded-For: ", "X-Forwarded-For: ,10.2.2.2 ,"), "", "81.2.69.142"},
		{"xff all trusted: left-most", "10.0.0.1:80", hdr("X-Forwarded-For: 10.9.9.9, 10.8.8.8"), "", "10.9.9.9"},
		{"xff absent: peer", "10.0.0.1:80", nil, "", "10.0.0.1"},
		{"xff v6", "[2001:db8:1::5]:443", hdr("X-Forwarded-For: 2a02:cf40::9"), "", "2a02:cf40::9"},
		{"xff v6 trusted hop", "[2001:db8:1::5]:443", hdr("X-Forwarded-For: 2a02:cf40::9, 2001:db8:1::77"), "", "2a02:cf40::9"},
		{"xff mapped", "10.0.0.1:80", hdr("X-Forwarded-For: ::ffff:81.2.69.142"), "", "81.2.69.142"},
		{"xff mapped trusted hop", "10.0.0.1:80", hdr("X-Forwarded-For: 81.2.69.142, ::ffff:10.4.4.4"), "", "81.2.69.142"},
		{"xff trusted mapped peer", "[::ffff:10.0.0.1]:80", hdr("X-Forwarded-For: 81.2.69.142"), "", "81.2.69.142"},
		{"xff v4 port", "10.0.0.1:80", hdr("X-Forwarded-For: 81.2.69.142:4711"), "", "81.2.69.142"},
		{"xff v6 bracket port", "10.0.0.1:80", hdr("X-Forwarded-For: [2a02:cf40::9]:4711"), "", "2a02:cf40::9"},
		{"xff v6 bracket", "10.0.0.1:80", hdr("X-Forwarded-For: [2a02:cf40::9]"), "", "2a02:cf40::9"},
		{"xff zone", "10.0.0.1:80", hdr("X-Forwarded-For: fe80::9%eth0"), "", "fe80::9"},
		{"xff tabs", "10.0.0.1:80", hdr("X-Forwarded-For: \t81.2.69.142\t"), "", "81.2.69.142"},
		// Garbage: stop at the last trusted hop.
		{"xff garbage first", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, nonsense"), "", "10.0.0.1"},
		{"xff garbage after trusted hop", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, 999.1.1.1, 10.5.5.5"), "", "10.5.5.5"},
		{"xff unknown", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, unknown"), "", "10.0.0.1"},
		{"xff bad port", "10.0.0.1:80", hdr("X-Forwarded-For: 81.2.69.142:99999"), "", "10.0.0.1"},
		{"xff v6 unbracketed with port-like tail", "10.0.0.1:80", hdr("X-Forwarded-For: [2a02:cf40::9]x"), "", "10.0.0.1"},
		{"xff overlong element", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8, " + strings.Repeat("1", 600)), "", "10.0.0.1"},
		{"xff overlong element left of client", "10.0.0.1:80", hdr("X-Forwarded-For: " + strings.Repeat("1", 600) + ", 81.2.69.142"), "", "81.2.69.142"},

		// Trusted peer, Forwarded (RFC 7239 examples and variants).
		{"fwd basic", "10.0.0.1:80", hdr(`Forwarded: for=81.2.69.142`), HeaderForwarded, "81.2.69.142"},
		{"fwd params", "10.0.0.1:80", hdr(`Forwarded: for=81.2.69.142;proto=http;by=203.0.113.43`), HeaderForwarded, "81.2.69.142"},
		{"fwd params first", "10.0.0.1:80", hdr(`Forwarded: proto=https; by=10.0.0.1 ;For="81.2.69.142"`), HeaderForwarded, "81.2.69.142"},
		{"fwd quoted v4 port", "10.0.0.1:80", hdr(`Forwarded: for="81.2.69.142:4711"`), HeaderForwarded, "81.2.69.142"},
		{"fwd v6", "10.0.0.1:80", hdr(`Forwarded: for="[2001:db8:cafe::17]:4711"`), HeaderForwarded, "2001:db8:cafe::17"},
		{"fwd v6 no port", "10.0.0.1:80", hdr(`Forwarded: for="[2a02:cf40::9]"`), HeaderForwarded, "2a02:cf40::9"},
		{"fwd v6 unquoted (lenient)", "10.0.0.1:80", hdr(`Forwarded: for=[2a02:cf40::9]`), HeaderForwarded, "2a02:cf40::9"},
		{"fwd v6 mapped", "10.0.0.1:80", hdr(`Forwarded: for="[::ffff:81.2.69.142]"`), HeaderForwarded, "81.2.69.142"},
		{"fwd list", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for=81.2.69.142, for=10.6.6.6`), HeaderForwarded, "81.2.69.142"},
		{"fwd lines", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8`, `Forwarded: for=81.2.69.142;proto=https`, `Forwarded: for="[2001:db8:1::1]"`), HeaderForwarded, "81.2.69.142"},
		{"fwd obfuscated port", "10.0.0.1:80", hdr(`Forwarded: for="81.2.69.142:_abc"`), HeaderForwarded, "81.2.69.142"},
		{"fwd quoted comma left", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8;by="_a,b", for=81.2.69.142`), HeaderForwarded, "81.2.69.142"},
		{"fwd quoted semicolon", "10.0.0.1:80", hdr(`Forwarded: host="a;b";for=81.2.69.142`), HeaderForwarded, "81.2.69.142"},
		{"fwd all trusted", "10.0.0.1:80", hdr(`Forwarded: for=10.7.7.7, for=10.8.8.8`), HeaderForwarded, "10.7.7.7"},
		{"fwd empty elements", "10.0.0.1:80", hdr(`Forwarded: for=81.2.69.142, ,`), HeaderForwarded, "81.2.69.142"},
		{"fwd empty pairs", "10.0.0.1:80", hdr(`Forwarded: ;for=81.2.69.142;;`), HeaderForwarded, "81.2.69.142"},
		// Obfuscated / unknown identifiers: nothing to the left is vouched for.
		{"fwd obfuscated", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for=_hidden`), HeaderForwarded, "10.0.0.1"},
		{"fwd obfuscated behind trusted", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for="_gazonk", for=10.9.9.9`), HeaderForwarded, "10.9.9.9"},
		{"fwd unknown", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for=unknown`), HeaderForwarded, "10.0.0.1"},
		{"fwd UNKNOWN quoted", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for="UNKNOWN"`), HeaderForwarded, "10.0.0.1"},
		// Garbage.
		{"fwd v6 unbracketed", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for="2a02:cf40::9"`), HeaderForwarded, "10.0.0.1"},
		{"fwd duplicate for", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for=81.2.69.142;for=1.1.1.1`), HeaderForwarded, "10.0.0.1"},
		{"fwd no value", "10.0.0.1:80", hdr(`Forwarded: for=`), HeaderForwarded, "10.0.0.1"},
		{"fwd no equals", "10.0.0.1:80", hdr(`Forwarded: for`), HeaderForwarded, "10.0.0.1"},
		{"fwd bad key", "10.0.0.1:80", hdr(`Forwarded: f(r=81.2.69.142`), HeaderForwarded, "10.0.0.1"},
		{"fwd escaped quote", "10.0.0.1:80", hdr(`Forwarded: for="81.2.69.142\""`), HeaderForwarded, "10.0.0.1"},
		{"fwd bad obfuscation", "10.0.0.1:80", hdr(`Forwarded: for="_a b"`), HeaderForwarded, "10.0.0.1"},
		{"fwd unterminated quote", "10.0.0.1:80", hdr(`Forwarded: for="81.2.69.142`), HeaderForwarded, "10.0.0.1"},
		{"fwd garbage behind trusted hop", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, for=@@@, for=10.3.3.3`), HeaderForwarded, "10.3.3.3"},
		// A client's unterminated quote cannot swallow what the proxy appended.
		{"fwd client unterminated quote", "10.0.0.1:80", hdr(`Forwarded: for="8.8.8.8, for=81.2.69.142`), HeaderForwarded, "81.2.69.142"},
		{"fwd client escaped quotes", "10.0.0.1:80", hdr(`Forwarded: by="a\\\"b\\", for=81.2.69.142`), HeaderForwarded, "81.2.69.142"},
		// An element without for= tells nothing about the client.
		{"fwd no for", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8, proto=https`), HeaderForwarded, "10.0.0.1"},

		// Precedence: X-Forwarded-For by default, Forwarded only when
		// configured, never one in place of the other. A proxy that appends
		// X-Forwarded-For passes the client's Forwarded through.
		{"default: XFF, client's Forwarded ignored", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8`, "X-Forwarded-For: 81.2.69.142"), "", "81.2.69.142"},
		{"default: client's Forwarded unknown ignored", "10.0.0.1:80", hdr(`Forwarded: for=unknown`, "X-Forwarded-For: 81.2.69.142"), "", "81.2.69.142"},
		{"default: client's Forwarded after XFF ignored", "10.0.0.1:80", hdr("X-Forwarded-For: 81.2.69.142", `Forwarded: for=8.8.8.8;proto=https`), "", "81.2.69.142"},
		{"default: Forwarded alone is not read", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8`), "", "10.0.0.1"},
		{"default: garbage Forwarded ignored", "10.0.0.1:80", hdr(`Forwarded: for=@@`, "X-Forwarded-For: 81.2.69.142"), "", "81.2.69.142"},
		{"forwarded mode: garbage Forwarded is not replaced by XFF", "10.0.0.1:80", hdr(`Forwarded: for=@@`, "X-Forwarded-For: 8.8.8.8"), HeaderForwarded, "10.0.0.1"},
		{"forwarded mode: unknown is not replaced by XFF", "10.0.0.1:80", hdr(`Forwarded: for=unknown`, "X-Forwarded-For: 8.8.8.8"), HeaderForwarded, "10.0.0.1"},
		{"xff mode ignores Forwarded", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8`, "X-Forwarded-For: 81.2.69.142"), HeaderXForwardedFor, "81.2.69.142"},
		{"forwarded mode ignores XFF", "10.0.0.1:80", hdr(`Forwarded: for=81.2.69.142`, "X-Forwarded-For: 8.8.8.8"), HeaderForwarded, "81.2.69.142"},
		{"forwarded mode without Forwarded", "10.0.0.1:80", hdr("X-Forwarded-For: 8.8.8.8"), HeaderForwarded, "10.0.0.1"},
		{"xff mode without XFF", "10.0.0.1:80", hdr(`Forwarded: for=8.8.8.8`), HeaderXForwardedFor, "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := clientIP(parseRemoteAddr(c.remote), c.h, &trusted, c.header)
			var want netip.Addr
			if c.want != "" {
				want = netip.MustParseAddr(c.want)
			}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestClientIPHopLimit(t *testing.T) {
	trusted := newTrustSet(mustPrefixes(t, "10.0.0.0/8"))
	// The client, then 100 trusted hops: the walk gives up at MaxHops and
	// answers the last trusted hop it reached, not the client.
	hops := []string{"81.2.69.142"}
	for i := 0; i < 100; i++ {
		hops = append(hops, netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)}).String())
	}
	h := hdr("X-Forwarded-For: " + strings.Join(hops, ", "))
	got := clientIP(netip.MustParseAddr("10.255.0.1"), h, &trusted, "")
	want := netip.MustParseAddr(hops[len(hops)-MaxHops])
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	// Within the limit the client is found.
	h = hdr("X-Forwarded-For: " + strings.Join(hops[len(hops)-MaxHops+1:], ", "))
	h["X-Forwarded-For"][0] = "81.2.69.142, " + h["X-Forwarded-For"][0]
	if got := clientIP(netip.MustParseAddr("10.255.0.1"), h, &trusted, ""); got != netip.MustParseAddr("81.2.69.142") {
		t.Errorf("within limit: got %v", got)
	}
	// Many empty elements and blank lines count as work too.
	h = hdr("X-Forwarded-For: 81.2.69.142" + strings.Repeat(",", 10000))
	if got := clientIP(netip.MustParseAddr("10.255.0.1"), h, &trusted, ""); got != netip.MustParseAddr("10.255.0.1") {
		t.Errorf("empty elements: got %v", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes("10.0.0.0/8, 127.0.0.1, ::1/128 ,2001:db8::/32,,  192.168.1.77/24, ::ffff:10.0.0.0/104, ::ffff:1.2.3.4, 2001:db8::7")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128", "2001:db8::/32", "192.168.1.0/24", "10.0.0.0/8", "1.2.3.4/32", "2001:db8::7/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: got %v, want %s", i, got[i], want[i])
		}
	}
	for _, s := range []string{"", " ", ",", " , "} {
		if p, err := ParsePrefixes(s); err != nil || len(p) != 0 {
			t.Errorf("%q: %v %v", s, p, err)
		}
	}
	for _, s := range []string{"10.0.0.0/33", "nonsense", "10.0.0.1, bad/8", "fe80::1%eth0", "1.2.3.4/", "/8", "10.0.0.0/8/8", "::ffff:0:0/90", "1.2.3", "10.0.0.0 /8"} {
		_, err := ParsePrefixes(s)
		if err == nil {
			t.Errorf("%q: no error", s)
			continue
		}
		if !strings.Contains(err.Error(), "entry") {
			t.Errorf("%q: unclear error %v", s, err)
		}
		t.Logf("%q: %v", s, err)
	}
	if _, err := ParsePrefixes(strings.Repeat("10.0.0.1,", maxPrefixes+1)); err == nil {
		t.Error("no limit on the number of prefixes")
	}
}

// Fuzz targets: the parsers must not panic, must stay within their bounds
// and must only ever answer the peer, a header address, or the zero Addr.

func fuzzClientIP(t *testing.T, header string, lines []string) {
	trusted := newTrustSet(mustPrefixes(t, "10.0.0.0/8, 2001:db8::/32"))
	peer := netip.MustParseAddr("10.0.0.1")
	h := http.Header{}
	if header == HeaderForwarded {
		h["Forwarded"] = lines
	} else {
		h["X-Forwarded-For"] = lines
	}
	got := clientIP(peer, h, &trusted, header)
	if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
		t.Fatalf("bad answer %v", got)
	}
	if got == peer {
		return
	}
	// Any other answer is an address written in the header.
	all := strings.ToLower(strings.Join(lines, ","))
	s := got.String()
	if !strings.Contains(all, s) && !strings.Contains(all, strings.TrimPrefix(s, "::ffff:")) {
		// Alternative spellings (leading zeros in IPv6 groups, "::" placement)
		// parse to the same address; accept an answer found by re-parsing.
		found := false
		for _, tok := range strings.FieldsFunc(all, func(r rune) bool { return strings.ContainsRune(` ,;="[]`+"\t", r) }) {
			if a, err := netip.ParseAddr(tok); err == nil && a.Unmap().WithZone("") == got {
				found = true
				break
			}
			if ap, err := netip.ParseAddrPort(tok); err == nil && ap.Addr().Unmap() == got {
				found = true
				break
			}
			if i := strings.LastIndexByte(tok, ':'); i > 0 {
				if a, err := netip.ParseAddr(tok[:i]); err == nil && a.Unmap() == got {
					found = true
					break
				}
			}
		}
		if !found {
			t.Fatalf("answer %v does not appear in %q", got, lines)
		}
	}
}

func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		`for=81.2.69.142`, `for="[2001:db8:cafe::17]:4711"`, `for=192.0.2.60;proto=http;by=203.0.113.43`,
		`for=192.0.2.43, for=198.51.100.17`, `for=_hidden, for=unknown`, `for="8.8.8.8, for=1.2.3.4`,
		`by="a\\\"b\\", for=81.2.69.142`, `for="\"`, `;;;,,,`, `for=10.0.0.2, for=10.0.0.3, for="[::ffff:1.2.3.4]"`,
	} {
		f.Add(s, "")
	}
	f.Add(`for=8.8.8.8`, `for=10.1.1.1`)
	f.Fuzz(func(t *testing.T, a, b string) {
		fuzzClientIP(t, HeaderForwarded, []string{a, b})
		parseForwardedElement(a)
		parseForwardedNode(a)
		forwardedElementStart(a)
	})
}

func FuzzXForwardedFor(f *testing.F) {
	for _, s := range []string{
		`81.2.69.142`, `8.8.8.8, 81.2.69.142, 10.0.0.2`, `[2001:db8::1]:80, 1.2.3.4:5`, `unknown`, `,,,`,
		`::ffff:1.2.3.4`, `fe80::1%eth0`, `2001:0db8:0000::1`, `1.2.3.4:99999`,
	} {
		f.Add(s, "")
	}
	f.Add(`8.8.8.8`, `10.1.1.1, 10.2.2.2`)
	f.Fuzz(func(t *testing.T, a, b string) {
		fuzzClientIP(t, HeaderXForwardedFor, []string{a, b})
		if a != "" {
			parseXFFNode(a)
		}
		parseRemoteAddr(a)
	})
}
