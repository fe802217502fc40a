package geo

import _ "embed"

// embeddedDB is geo-whois-asn-country (IPv4 and IPv6, field country_code),
// data CC BY 4.0 by the Number Resource Organization (NRO); see NOTICE.
//
//go:embed data/geo-whois-asn-country.mmdb
var embeddedDB []byte
