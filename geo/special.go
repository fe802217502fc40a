package geo

import "net/netip"

// Addresses that are never looked up: they do not locate a client on the
// public Internet, whatever a database says about them (the embedded
// database, for one, maps 192.168.0.0/16 to AU). Lookup answers Unknown for
// them without touching the database.
//
//	invalid (zero) address
//	unspecified            0.0.0.0, ::
//	loopback               127.0.0.0/8, ::1
//	private                10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918), fc00::/7 (ULA)
//	link-local             169.254.0.0/16, fe80::/10
//	multicast              224.0.0.0/4, ff00::/8
//	shared / CGNAT         100.64.0.0/10 (RFC 6598)
//	"this network"         0.0.0.0/8
//	IETF protocol assign.  192.0.0.0/24
//	documentation          192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20
//	benchmarking           198.18.0.0/15, 2001:2::/48
//	reserved / broadcast   240.0.0.0/4 (incl. 255.255.255.255)
//	discard-only           100::/64
//	IPv4-compatible        ::/96 (deprecated; ::1 and :: are covered above)
//
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is unmapped before these checks, so
// ::ffff:10.0.0.1 is private like 10.0.0.1.
var (
	special4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
	}
	special6 = []netip.Prefix{
		netip.MustParsePrefix("::/96"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("2001:2::/48"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("3fff::/20"),
	}
)

// IsSpecial reports whether ip is an address Lookup answers Unknown for
// without consulting the database (see the list above). ip is unmapped first.
func IsSpecial(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return true
	}
	list := special6
	if ip.Is4() {
		list = special4
	}
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
