package geo

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxPrefixes bounds ParsePrefixes.
const maxPrefixes = 4096

// ParsePrefixes parses a comma-separated list of CIDR prefixes or bare
// addresses ("10.0.0.0/8, 127.0.0.1, ::1/128"); a bare address becomes a
// /32 or /128. Blanks around entries are ignored, as are empty entries, so
// "" gives an empty list. Prefixes are masked (10.1.2.3/8 → 10.0.0.0/8) and
// IPv4-mapped IPv6 is unmapped (::ffff:10.0.0.0/104 → 10.0.0.0/8). The error
// names the offending entry and its position.
func ParsePrefixes(csv string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, field := range strings.Split(csv, ",") {
		s := strings.TrimSpace(field)
		if s == "" {
			continue
		}
		if len(out) >= maxPrefixes {
			return nil, fmt.Errorf("geo: more than %d prefixes", maxPrefixes)
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("geo: prefix list entry %d %q: %w", i+1, s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR prefix (want e.g. 10.0.0.0/8 or 2001:db8::/32)")
		}
		a := p.Addr()
		if a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix shorter than /96")
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zoned addresses are not allowed")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
