package geo

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// netEntry is one network of a test database.
type netEntry struct {
	cidr                           string
	country, continent, registered string // GeoIP2 schema
	countryCode                    string // country_code schema
	raw                            mmdbtype.Map
}

// dbSpec describes a test database built with mmdbwriter.
type dbSpec struct {
	dbType    string // database_type
	ipVersion int    // 4 or 6 (default 6)
	epoch     int64
	reserved  bool // allow private/reserved networks (to prove they are never looked up)
	entries   []netEntry
}

// geoip2Record is a GeoIP2-Country record as MaxMind writes it.
func geoip2Record(e netEntry) mmdbtype.Map {
	m := mmdbtype.Map{}
	if e.country != "" {
		m["country"] = mmdbtype.Map{
			"iso_code":   mmdbtype.String(e.country),
			"geoname_id": mmdbtype.Uint32(1),
			"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + e.country), "de": mmdbtype.String("Land " + e.country)},
		}
	}
	if e.registered != "" {
		m["registered_country"] = mmdbtype.Map{
			"iso_code":   mmdbtype.String(e.registered),
			"geoname_id": mmdbtype.Uint32(2),
			"names":      mmdbtype.Map{"en": mmdbtype.String("Registered " + e.registered)},
		}
	}
	if e.continent != "" {
		m["continent"] = mmdbtype.Map{
			"code":       mmdbtype.String(e.continent),
			"geoname_id": mmdbtype.Uint32(3),
			"names":      mmdbtype.Map{"en": mmdbtype.String("Continent " + e.continent)},
		}
	}
	return m
}

func buildDB(tb testing.TB, spec dbSpec) []byte {
	tb.Helper()
	if spec.ipVersion == 0 {
		spec.ipVersion = 6
	}
	if spec.epoch == 0 {
		spec.epoch = 1700000000
	}
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            spec.dbType,
		IPVersion:               spec.ipVersion,
		RecordSize:              28,
		BuildEpoch:              spec.epoch,
		IncludeReservedNetworks: spec.reserved,
		Languages:               []string{"en", "de"},
		Description:             map[string]string{"en": "meshcdn test database"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range spec.entries {
		_, n, err := net.ParseCIDR(e.cidr)
		if err != nil {
			tb.Fatal(err)
		}
		var v mmdbtype.DataType
		if e.raw != nil {
			v = e.raw
		} else if e.countryCode != "" {
			v = mmdbtype.Map{"country_code": mmdbtype.String(e.countryCode)}
		} else {
			v = geoip2Record(e)
		}
		if err := w.Insert(n, v); err != nil {
			tb.Fatalf("insert %s: %v", e.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// writeFileAtomic replaces path the way an updater should: write a temp file
// beside it, then rename.
func writeFileAtomic(tb testing.TB, path string, b []byte) {
	tb.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tmp.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		tb.Fatal(err)
	}
}

// countryNets is a GeoIP2-Country style data set with IPv4 and IPv6 networks.
var countryNets = []netEntry{
	{cidr: "81.2.69.0/24", country: "GB", continent: "EU", registered: "GB"},
	{cidr: "89.160.20.0/24", country: "SE", continent: "EU", registered: "SE"},
	{cidr: "175.16.199.0/24", country: "CN", continent: "AS", registered: "CN"},
	{cidr: "216.160.83.0/24", country: "US", continent: "NA", registered: "US"},
	{cidr: "2001:218::/32", country: "JP", continent: "AS", registered: "JP"},
	{cidr: "2a02:cf40::/29", country: "NO", continent: "EU", registered: "NO"},
	{cidr: "2c0f:f000::/24", country: "ZA", continent: "AF", registered: "ZA"},
	// Only a registered country (as for some satellite / anycast networks).
	{cidr: "67.43.156.0/24", registered: "BT", continent: "AS"},
	// Only a continent.
	{cidr: "80.231.5.0/24", continent: "EU"},
	// Lower-case and odd values a database might hold.
	{cidr: "202.196.224.0/20", country: "ph", continent: "as", registered: "PH"},
	{cidr: "111.235.160.0/22", country: "CHN", continent: "Asia"},
	// Private range mapped to a country, as the embedded database does.
	{cidr: "192.168.0.0/16", country: "AU", continent: "OC", registered: "AU"}, // needs dbSpec.reserved
	{cidr: "fc00::/7", country: "AU", continent: "OC"},
}
