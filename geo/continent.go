package geo

// continentOf maps every ISO 3166-1 alpha-2 code (all 249 officially
// assigned codes) to its continent code:
//
//	AF Africa, AN Antarctica, AS Asia, EU Europe, NA North America,
//	OC Oceania, SA South America
//
// Countries spanning two continents get one answer, the one GeoNames (and so
// MaxMind GeoIP2/GeoLite2, which takes its continents from GeoNames) uses:
// RU, CY → EU; TR, GE, AM, AZ, KZ → AS; EG → AF; PA → NA; UM → OC.
// This keeps the embedded database and a MaxMind database in agreement.
//
// Beyond ISO 3166-1 the table knows a few codes that IP databases still
// emit: XK (Kosovo, user-assigned, used by GeoNames and the RIRs), AN
// (Netherlands Antilles, withdrawn 2010) and CS (Serbia and Montenegro,
// withdrawn 2006).
var continentOf = map[string]string{
	"AD": "EU", "AE": "AS", "AF": "AS", "AG": "NA", "AI": "NA", "AL": "EU", "AM": "AS", "AO": "AF",
	"AQ": "AN", "AR": "SA", "AS": "OC", "AT": "EU", "AU": "OC", "AW": "NA", "AX": "EU", "AZ": "AS",
	"BA": "EU", "BB": "NA", "BD": "AS", "BE": "EU", "BF": "AF", "BG": "EU", "BH": "AS", "BI": "AF",
	"BJ": "AF", "BL": "NA", "BM": "NA", "BN": "AS", "BO": "SA", "BQ": "NA", "BR": "SA", "BS": "NA",
	"BT": "AS", "BV": "AN", "BW": "AF", "BY": "EU", "BZ": "NA",
	"CA": "NA", "CC": "AS", "CD": "AF", "CF": "AF", "CG": "AF", "CH": "EU", "CI": "AF", "CK": "OC",
	"CL": "SA", "CM": "AF", "CN": "AS", "CO": "SA", "CR": "NA", "CU": "NA", "CV": "AF", "CW": "NA",
	"CX": "OC", "CY": "EU", "CZ": "EU",
	"DE": "EU", "DJ": "AF", "DK": "EU", "DM": "NA", "DO": "NA", "DZ": "AF",
	"EC": "SA", "EE": "EU", "EG": "AF", "EH": "AF", "ER": "AF", "ES": "EU", "ET": "AF",
	"FI": "EU", "FJ": "OC", "FK": "SA", "FM": "OC", "FO": "EU", "FR": "EU",
	"GA": "AF", "GB": "EU", "GD": "NA", "GE": "AS", "GF": "SA", "GG": "EU", "GH": "AF", "GI": "EU",
	"GL": "NA", "GM": "AF", "GN": "AF", "GP": "NA", "GQ": "AF", "GR": "EU", "GS": "AN", "GT": "NA",
	"GU": "OC", "GW": "AF", "GY": "SA",
	"HK": "AS", "HM": "AN", "HN": "NA", "HR": "EU", "HT": "NA", "HU": "EU",
	"ID": "AS", "IE": "EU", "IL": "AS", "IM": "EU", "IN": "AS", "IO": "AS", "IQ": "AS", "IR": "AS",
	"IS": "EU", "IT": "EU",
	"JE": "EU", "JM": "NA", "JO": "AS", "JP": "AS",
	"KE": "AF", "KG": "AS", "KH": "AS", "KI": "OC", "KM": "AF", "KN": "NA", "KP": "AS", "KR": "AS",
	"KW": "AS", "KY": "NA", "KZ": "AS",
	"LA": "AS", "LB": "AS", "LC": "NA", "LI": "EU", "LK": "AS", "LR": "AF", "LS": "AF", "LT": "EU",
	"LU": "EU", "LV": "EU", "LY": "AF",
	"MA": "AF", "MC": "EU", "MD": "EU", "ME": "EU", "MF": "NA", "MG": "AF", "MH": "OC", "MK": "EU",
	"ML": "AF", "MM": "AS", "MN": "AS", "MO": "AS", "MP": "OC", "MQ": "NA", "MR": "AF", "MS": "NA",
	"MT": "EU", "MU": "AF", "MV": "AS", "MW": "AF", "MX": "NA", "MY": "AS", "MZ": "AF",
	"NA": "AF", "NC": "OC", "NE": "AF", "NF": "OC", "NG": "AF", "NI": "NA", "NL": "EU", "NO": "EU",
	"NP": "AS", "NR": "OC", "NU": "OC", "NZ": "OC",
	"OM": "AS",
	"PA": "NA", "PE": "SA", "PF": "OC", "PG": "OC", "PH": "AS", "PK": "AS", "PL": "EU", "PM": "NA",
	"PN": "OC", "PR": "NA", "PS": "AS", "PT": "EU", "PW": "OC", "PY": "SA",
	"QA": "AS",
	"RE": "AF", "RO": "EU", "RS": "EU", "RU": "EU", "RW": "AF",
	"SA": "AS", "SB": "OC", "SC": "AF", "SD": "AF", "SE": "EU", "SG": "AS", "SH": "AF", "SI": "EU",
	"SJ": "EU", "SK": "EU", "SL": "AF", "SM": "EU", "SN": "AF", "SO": "AF", "SR": "SA", "SS": "AF",
	"ST": "AF", "SV": "NA", "SX": "NA", "SY": "AS", "SZ": "AF",
	"TC": "NA", "TD": "AF", "TF": "AN", "TG": "AF", "TH": "AS", "TJ": "AS", "TK": "OC", "TL": "OC",
	"TM": "AS", "TN": "AF", "TO": "OC", "TR": "AS", "TT": "NA", "TV": "OC", "TW": "AS", "TZ": "AF",
	"UA": "EU", "UG": "AF", "UM": "OC", "US": "NA", "UY": "SA", "UZ": "AS",
	"VA": "EU", "VC": "NA", "VE": "SA", "VG": "NA", "VI": "NA", "VN": "AS", "VU": "OC",
	"WF": "OC", "WS": "OC",
	"YE": "AS", "YT": "AF",
	"ZA": "AF", "ZM": "AF", "ZW": "AF",

	// Not in ISO 3166-1 (see above).
	"XK": "EU", "AN": "NA", "CS": "EU",
}

// nonISOCodes lists the keys of continentOf that are not ISO 3166-1 codes.
var nonISOCodes = []string{"XK", "AN", "CS"}

// continents is the closed set of continent codes a Location can carry
// (besides Unknown); a metric label on continents is bounded by it.
var continents = map[string]string{
	"AF": "AF", "AN": "AN", "AS": "AS", "EU": "EU", "NA": "NA", "OC": "OC", "SA": "SA",
}

// Continents returns the continent codes a Location can carry, Unknown last.
func Continents() []string {
	return []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA", Unknown}
}

// ContinentOf returns the continent of an ISO 3166-1 alpha-2 country code
// (upper-case), or Unknown.
func ContinentOf(country string) string {
	if c, ok := continentOf[country]; ok {
		return c
	}
	return Unknown
}

// canonical maps each known code to itself, so that normCode can hand out
// the static string instead of a freshly allocated one.
var canonical = func() map[string]string {
	m := make(map[string]string, len(continentOf)+len(continents)+1)
	for k := range continentOf {
		m[k] = k
	}
	for k := range continents {
		m[k] = k
	}
	m[Unknown] = Unknown
	return m
}()

// normCode returns s as an upper-case two-letter code, or "" when s is not
// two ASCII letters. Known codes come back as static strings.
func normCode(s string) string {
	if len(s) != 2 {
		return ""
	}
	var b [2]byte
	for i := 0; i < 2; i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		default:
			return ""
		}
		b[i] = c
	}
	if k, ok := canonical[string(b[:])]; ok {
		return k
	}
	return string(b[:])
}
