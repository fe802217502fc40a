package geo

import (
	"encoding/csv"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// lookupCases are the answers countryNets must give, whatever the schema.
var lookupCases = []struct {
	ip   string
	want Location
}{
	{"81.2.69.142", Location{"GB", "EU"}},
	{"89.160.20.112", Location{"SE", "EU"}},
	{"175.16.199.1", Location{"CN", "AS"}},
	{"216.160.83.56", Location{"US", "NA"}},
	{"2001:218:1:2::3", Location{"JP", "AS"}},
	{"2a02:cf40::1", Location{"NO", "EU"}},
	{"2c0f:f000::1", Location{"ZA", "AF"}},
	// IPv4-mapped IPv6 is looked up as IPv4.
	{"::ffff:81.2.69.142", Location{"GB", "EU"}},
	{"::ffff:216.160.83.56", Location{"US", "NA"}},
	// Zones are ignored.
	{"2001:218::1%eth0", Location{"JP", "AS"}},
	// Not in the database.
	{"1.2.3.4", Location{Unknown, Unknown}},
	{"2600::1", Location{Unknown, Unknown}},
	// Private, loopback, CGNAT, ... never looked up (the database maps
	// 192.168.0.0/16 and fc00::/7 to AU).
	{"192.168.1.1", Location{Unknown, Unknown}},
	{"::ffff:192.168.1.1", Location{Unknown, Unknown}},
	{"fd12:3456::1", Location{Unknown, Unknown}},
	{"127.0.0.1", Location{Unknown, Unknown}},
	{"::1", Location{Unknown, Unknown}},
	{"100.64.0.1", Location{Unknown, Unknown}},
}

func TestLookupGeoIP2Schema(t *testing.T) {
	// geoip2 knows the first three types by name; the others are probed.
	for _, typ := range []string{"GeoIP2-Country", "GeoLite2-Country", "GeoLite2-City", "Acme-Country", "GeoIP2-Country-Test"} {
		t.Run(typ, func(t *testing.T) {
			d, err := OpenBytes(buildDB(t, dbSpec{dbType: typ, reserved: true, entries: countryNets}))
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Info(); got.Schema != SchemaGeoIP2 || got.Type != typ || got.IPVersion != 6 {
				t.Fatalf("info %+v", got)
			}
			viaGeoIP2 := typ == "GeoIP2-Country" || typ == "GeoLite2-Country" || typ == "GeoLite2-City"
			if (d.g2 != nil) != viaGeoIP2 {
				t.Fatalf("decoded via geoip2-golang: %v, want %v", d.g2 != nil, viaGeoIP2)
			}
			for _, c := range lookupCases {
				for range 2 { // second time from the cache
					if got := d.Lookup(netip.MustParseAddr(c.ip)); got != c.want {
						t.Errorf("%s: got %v, want %v", c.ip, got, c.want)
					}
				}
			}
			for ip, want := range map[string]Location{
				"67.43.156.1":       {"BT", "AS"},       // registered country stands in
				"80.231.5.1":        {Unknown, "EU"},    // continent only
				"202.196.224.1":     {"PH", "AS"},       // upper-cased
				"111.235.160.1":     {Unknown, Unknown}, // not codes
				"::ffff:80.231.5.1": {Unknown, "EU"},
			} {
				if got := d.Lookup(netip.MustParseAddr(ip)); got != want {
					t.Errorf("%s: got %v, want %v", ip, got, want)
				}
			}
			if n := d.LookupErrors(); n != 0 {
				t.Errorf("lookup errors %d", n)
			}
		})
	}
}

func TestLookupCountryCodeSchema(t *testing.T) {
	var entries []netEntry
	for _, e := range countryNets {
		if e.country != "" {
			entries = append(entries, netEntry{cidr: e.cidr, countryCode: e.country})
		}
	}
	entries = append(entries, netEntry{cidr: "5.44.224.0/20", countryCode: "XK"}, netEntry{cidr: "5.45.0.0/20", countryCode: "ZZ"})
	d, err := OpenBytes(buildDB(t, dbSpec{dbType: "country ipvAll", reserved: true, entries: entries}))
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Info().Schema; s != SchemaCountryCode {
		t.Fatalf("schema %q", s)
	}
	for _, c := range lookupCases {
		if got := d.Lookup(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("%s: got %v, want %v", c.ip, got, c.want)
		}
	}
	for ip, want := range map[string]Location{
		"202.196.224.1": {"PH", "AS"},
		"5.44.224.1":    {"XK", "EU"},
		"5.45.0.1":      {"ZZ", Unknown}, // a code the table does not know: no continent
	} {
		if got := d.Lookup(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: got %v, want %v", ip, got, want)
		}
	}
}

func TestLookupIPv4OnlyDatabase(t *testing.T) {
	d, err := OpenBytes(buildDB(t, dbSpec{dbType: "GeoIP2-Country", ipVersion: 4, entries: []netEntry{
		{cidr: "81.2.69.0/24", country: "GB", continent: "EU"},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]Location{
		"81.2.69.1":         {"GB", "EU"},
		"::ffff:81.2.69.1":  {"GB", "EU"},
		"2001:218::1":       {Unknown, Unknown},
		"2a00:1450:4001::1": {Unknown, Unknown},
	} {
		if got := d.Lookup(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: got %v, want %v", ip, got, want)
		}
	}
	if d.LookupErrors() != 0 {
		t.Errorf("IPv6 on an IPv4 database counted as an error")
	}
}

func TestEmbedded(t *testing.T) {
	d, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	info := d.Info()
	if info.Schema != SchemaCountryCode || info.IPVersion != 6 || info.BuildTime.IsZero() {
		t.Fatalf("info %+v", info)
	}
	for ip, want := range map[string]Location{
		"8.8.8.8":              {"US", "NA"},
		"1.1.1.1":              {"AU", "OC"},
		"81.2.69.142":          {"GB", "EU"},
		"2001:4860:4860::8888": {"US", "NA"},
		"::ffff:8.8.8.8":       {"US", "NA"},
		"192.168.1.1":          {Unknown, Unknown},
		"10.0.0.1":             {Unknown, Unknown},
		"172.16.5.4":           {Unknown, Unknown},
		"100.64.0.1":           {Unknown, Unknown},
		"169.254.1.1":          {Unknown, Unknown},
		"fe80::1":              {Unknown, Unknown},
		"fd00::1":              {Unknown, Unknown},
		"::":                   {Unknown, Unknown},
		"0.0.0.0":              {Unknown, Unknown},
		"224.0.0.1":            {Unknown, Unknown},
		"192.0.2.1":            {Unknown, Unknown},
		"2001:db8::1":          {Unknown, Unknown},
	} {
		if got := d.Lookup(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: got %v, want %v", ip, got, want)
		}
	}
	// The raw database does place 192.168.1.1 in AU: the guard matters.
	mm, err := maxminddb.OpenBytes(embeddedDB)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		CountryCode string `maxminddb:"country_code"`
	}
	if err := mm.Lookup(netip.MustParseAddr("192.168.1.1")).Decode(&raw); err != nil || raw.CountryCode != "AU" {
		t.Logf("note: embedded database maps 192.168.1.1 to %q (%v)", raw.CountryCode, err)
	}
}

// TestEmbeddedVerify checks the structure of the embedded database once here
// rather than on every Embedded call.
func TestEmbeddedVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("full verification of the embedded database")
	}
	if _, err := OpenBytes(embeddedDB); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedCountriesHaveContinents: every country code in the embedded
// database is in the continent table.
func TestEmbeddedCountriesHaveContinents(t *testing.T) {
	mm, err := maxminddb.OpenBytes(embeddedDB)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uintptr]bool{}
	codes := map[string]bool{}
	for res := range mm.Networks() {
		if seen[res.Offset()] {
			continue
		}
		seen[res.Offset()] = true
		var r record
		if err := res.Decode(&r); err != nil {
			t.Fatal(err)
		}
		codes[r.CountryCode] = true
	}
	if len(codes) < 240 {
		t.Fatalf("only %d codes in the embedded database", len(codes))
	}
	for c := range codes {
		if ContinentOf(c) == Unknown {
			t.Errorf("embedded database code %q has no continent", c)
		}
	}
}

func TestContinentTableComplete(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "iso3166-1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	iso := map[string]string{}
	for _, row := range rows[1:] {
		iso[row[1]] = row[0]
	}
	if len(iso) != 249 {
		t.Fatalf("reference list has %d codes, want 249", len(iso))
	}
	for code, name := range iso {
		c, ok := continentOf[code]
		if !ok {
			t.Errorf("%s (%s) missing from the continent table", code, name)
			continue
		}
		if _, ok := continents[c]; !ok {
			t.Errorf("%s: continent %q is not a continent code", code, c)
		}
	}
	var extra []string
	for code := range continentOf {
		if _, ok := iso[code]; !ok {
			extra = append(extra, code)
		}
	}
	sort.Strings(extra)
	want := append([]string(nil), nonISOCodes...)
	sort.Strings(want)
	if strings.Join(extra, ",") != strings.Join(want, ",") {
		t.Errorf("codes beyond ISO 3166-1: %v, want %v", extra, want)
	}
	for code, want := range map[string]string{
		"RU": "EU", "TR": "AS", "CY": "EU", "KZ": "AS", "EG": "AF", "PA": "NA", "AQ": "AN",
		"AU": "OC", "BR": "SA", "US": "NA", "CN": "AS", "DE": "EU", "NZ": "OC", "GS": "AN",
		"XK": "EU", "GL": "NA", "UM": "OC", "TL": "OC", "MX": "NA",
	} {
		if got := ContinentOf(code); got != want {
			t.Errorf("ContinentOf(%s) = %s, want %s", code, got, want)
		}
	}
	if ContinentOf("us") != Unknown || ContinentOf("") != Unknown || ContinentOf(Unknown) != Unknown {
		t.Error("ContinentOf accepts non-codes")
	}
	if n := len(Continents()); n != 8 {
		t.Errorf("Continents() has %d entries", n)
	}
}

func TestIsSpecial(t *testing.T) {
	special := []string{
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.0", "100.127.255.255",
		"127.0.0.1", "127.255.0.1", "169.254.0.1", "172.16.0.1", "172.31.255.255",
		"192.0.0.1", "192.0.2.1", "192.168.0.1", "198.18.0.1", "198.19.255.255",
		"198.51.100.1", "203.0.113.1", "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::2", "::10.0.0.1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "fc00::1", "fdff::1",
		"fe80::1", "fe80::1%eth0", "2001:db8::1%eth0", "ff02::1", "ff0e::1", "2001:db8::1", "3fff::1", "2001:2::1", "100::1",
	}
	public := []string{
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255", "100.128.0.0",
		"126.255.255.255", "128.0.0.1", "169.253.255.255", "172.15.255.255", "172.32.0.1",
		"192.0.1.1", "192.0.3.1", "192.167.255.255", "192.169.0.1", "198.17.255.255", "198.20.0.1",
		"223.255.255.255", "::ffff:8.8.8.8", "2001:4860:4860::8888", "2a00:1450::1", "2001:db9::1",
		"fbff::1", "fec0::1", "3fff:1000::1", "2001:3::1", "2002:c000:204::1",
	}
	if IsSpecial(netip.Addr{}) != true {
		t.Error("zero Addr is not special")
	}
	for _, s := range special {
		if !IsSpecial(netip.MustParseAddr(s)) {
			t.Errorf("%s: not special", s)
		}
	}
	for _, s := range public {
		if IsSpecial(netip.MustParseAddr(s)) {
			t.Errorf("%s: special", s)
		}
	}
}

func TestLookupNilAndClosed(t *testing.T) {
	var nilDB *DB
	if got := nilDB.Lookup(netip.MustParseAddr("8.8.8.8")); got != unknownLocation {
		t.Errorf("nil DB: %v", got)
	}
	d, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Lookup(netip.MustParseAddr("8.8.8.8")); got.Country != "US" {
		t.Fatalf("got %v", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := d.Lookup(netip.MustParseAddr("8.8.8.8")); got != unknownLocation {
		t.Errorf("closed DB: %v", got)
	}
	if got := d.Lookup(netip.Addr{}); got != unknownLocation {
		t.Errorf("zero Addr: %v", got)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	good := buildDB(t, dbSpec{dbType: "GeoIP2-Country", reserved: true, entries: countryNets})
	asn := buildDB(t, dbSpec{dbType: "GeoLite2-ASN", entries: []netEntry{{cidr: "1.0.0.0/24", raw: mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(13335),
		"autonomous_system_organization": mmdbtype.String("CLOUDFLARENET"),
	}}}})
	empty := buildDB(t, dbSpec{dbType: "GeoIP2-Country"})
	cases := map[string][]byte{
		"empty":      {},
		"text":       []byte("this is not a MaxMind database\n"),
		"truncated":  good[:len(good)/2],
		"no-meta":    good[:len(good)-200],
		"corrupt":    corrupt(good),
		"no-country": asn,
		"no-data":    empty,
	}
	for name, b := range cases {
		p := filepath.Join(dir, name+".mmdb")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if d, err := Open(p); err == nil {
			t.Errorf("%s: opened (%+v)", name, d.Info())
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.mmdb")); err == nil {
		t.Error("missing file opened")
	}
	if _, err := Open(dir); err == nil {
		t.Error("directory opened")
	}
	p := filepath.Join(dir, "good.mmdb")
	if err := os.WriteFile(p, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err != nil {
		t.Fatal(err)
	}
}

// corrupt flips bytes in the search tree of a database.
func corrupt(b []byte) []byte {
	c := append([]byte(nil), b...)
	for i := 0; i < 64 && i < len(c)/4; i++ {
		c[i] = 0xff
	}
	return c
}

func TestMakeLocation(t *testing.T) {
	for _, c := range []struct {
		country, registered, continent string
		want                           Location
	}{
		{"DE", "", "EU", Location{"DE", "EU"}},
		{"de", "", "eu", Location{"DE", "EU"}},
		{"DE", "", "", Location{"DE", "EU"}},
		{"DE", "", "XY", Location{"DE", "EU"}},
		{"", "FR", "", Location{"FR", "EU"}},
		{"", "", "", Location{Unknown, Unknown}},
		{"XX", "", "", Location{Unknown, Unknown}},
		{"D", "", "", Location{Unknown, Unknown}},
		{"DEU", "", "EU", Location{Unknown, "EU"}},
		{"D1", "", "", Location{Unknown, Unknown}},
		{"\xff\xfe", "", "", Location{Unknown, Unknown}},
		{"ZZ", "", "", Location{"ZZ", Unknown}},
		{"US", "", "EU", Location{"US", "EU"}}, // the database's own continent wins
	} {
		if got := makeLocation(c.country, c.registered, c.continent); got != c.want {
			t.Errorf("makeLocation(%q,%q,%q) = %v, want %v", c.country, c.registered, c.continent, got, c.want)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(6)
	n := uint64(len(c.slots) * 4)
	loc := func(k uint64) Location {
		return Location{Country: codeStrings[k%676], Continent: codeStrings[(k/7)%676]}
	}
	// Far more keys than entries: every answer is still right.
	for k := uint64(0); k < n; k++ {
		c.put(k>>3, k, k, loc(k))
	}
	hits := 0
	for k := uint64(0); k < n; k++ {
		if got, ok := c.get(k>>3, k, k); ok {
			hits++
			if got != loc(k) {
				t.Fatalf("key %d: wrong entry %v", k, got)
			}
		}
		if _, ok := c.get(k>>3+1, k, k); ok {
			t.Fatalf("key %d: hit with another high word", k)
		}
	}
	if hits == 0 || hits > len(c.slots) {
		t.Errorf("%d hits from %d slots", hits, len(c.slots))
	}
	// The most recent key of a set is kept.
	c.put(1, 12345, 7, Location{"DE", "EU"})
	if got, ok := c.get(1, 12345, 7); !ok || got != (Location{"DE", "EU"}) {
		t.Errorf("latest entry lost: %v %v", got, ok)
	}
	// Codes that are not two upper-case letters are not cached.
	c.put(2, 2, 2, Location{"de", "EU"})
	if _, ok := c.get(2, 2, 2); ok {
		t.Error("unpackable location cached")
	}
}

func TestPackLocation(t *testing.T) {
	for _, l := range []Location{{"DE", "EU"}, {Unknown, Unknown}, {"AA", "ZZ"}, {"ZZ", "AA"}, {"US", "NA"}} {
		v, ok := packLocation(l)
		if !ok || v == 0 || unpackLocation(v) != l {
			t.Errorf("%v: %x %v → %v", l, v, ok, unpackLocation(v))
		}
	}
	for _, l := range []Location{{"", "EU"}, {"D", "EU"}, {"DEU", "EU"}, {"de", "EU"}, {"DE", "E1"}} {
		if _, ok := packLocation(l); ok {
			t.Errorf("%v packed", l)
		}
	}
}

// TestCacheConcurrent hammers one small cache from several goroutines
// (run with -race): a hit is always the value stored for that key.
func TestCacheConcurrent(t *testing.T) {
	c := newCache(2)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				k := uint64((i*7 + g) % 64)
				want := Location{Country: codeStrings[k], Continent: codeStrings[k+100]}
				if got, ok := c.get(k, ^k, k); ok && got != want {
					t.Errorf("key %d: got %v", k, got)
					return
				}
				c.put(k, ^k, k, want)
			}
		}(g)
	}
	wg.Wait()
}

// TestAddressCacheAnswersStayRight: answers from the address cache equal
// fresh lookups, across many more addresses than the cache holds.
func TestAddressCacheAnswersStayRight(t *testing.T) {
	d, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	addrs := sampleAddrs(t, embeddedDB, 3000)
	for round := 0; round < 2; round++ {
		for _, a := range addrs {
			got := d.Lookup(a)
			fresh.addrs = newCache(0) // tiny: mostly misses
			if want := fresh.Lookup(a); got != want {
				t.Fatalf("%v: cached %v, fresh %v", a, got, want)
			}
		}
	}
}

func TestLocationString(t *testing.T) {
	if s := (Location{"DE", "EU"}).String(); s != "DE/EU" {
		t.Error(s)
	}
}
