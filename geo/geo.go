// Package geo finds where a request comes from: the client's address and
// its country and continent from a MaxMind DB file.
//
// # Databases
//
// Two database schemas give the same answer shape (Location):
//
//   - GeoIP2 / GeoLite2 Country, City or Enterprise (and compatible databases
//     such as DB-IP's): country.iso_code and continent.code, read with
//     github.com/oschwald/geoip2-golang/v2 when it knows the database type,
//     and probed otherwise; registered_country.iso_code stands in when a
//     network has no country.
//   - the embedded default (Embedded), a country-only database with a
//     top-level country_code field (data CC BY 4.0 by the NRO, see NOTICE);
//     the continent comes from a complete ISO 3166-1 table (ContinentOf).
//
// # Unknown
//
// Unknown ("XX", as Cloudflare uses) is the country and continent of
// addresses that do not locate anyone — private, loopback, link-local, CGNAT,
// multicast, documentation, benchmarking and other reserved ranges (see
// IsSpecial), decided before the database is asked — and of addresses the
// database does not know or cannot decode. A network a database places only
// on a continent gives {XX, continent}.
//
// # Client address
//
// Resolver.ClientIP takes the socket peer, unless the peer is inside a
// trusted proxy prefix. Then it walks the proxy header from the right (last
// header line first, each comma list from its end) and takes the first
// address that is not trusted. Which header: ResolverConfig.ProxyHeader,
// X-Forwarded-For by default, RFC 7239 Forwarded only when configured —
// never both, and never one in place of the other: a proxy that appends to
// X-Forwarded-For passes a client's Forwarded through untouched (and the
// other way round), so the header it does not write is the client's to
// choose. The walk stops, answering the last trusted hop it reached (the
// peer, or a trusted address from the header), when an element is "unknown"
// or an obfuscated identifier (nobody vouches for what lies to its left),
// does not parse, or after MaxHops hops; when every hop is trusted the
// answer is the left-most one.
package geo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	geoip2 "github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Unknown is the country and continent code of an address that cannot be
// located (private, reserved, not in the database).
const Unknown = "XX"

// Location is where an address is: upper-case ISO 3166-1 alpha-2 country
// and continent code (AF AN AS EU NA OC SA). Both are Unknown when the
// address cannot be located; the continent alone may be known when a
// database locates a network only to a continent.
type Location struct{ Country, Continent string }

var unknownLocation = Location{Country: Unknown, Continent: Unknown}

// MaxDBSize bounds the database file Open reads (GeoIP2 Enterprise, the
// largest MaxMind database, is well below it).
const MaxDBSize = 1 << 30

// Schema names the record layout of a database.
const (
	SchemaGeoIP2      = "geoip2"       // country.iso_code, continent.code
	SchemaCountryCode = "country_code" // top-level country_code (embedded default)
)

// Info describes an open database.
type Info struct {
	Type      string    // metadata database_type, e.g. "GeoLite2-Country"
	Schema    string    // SchemaGeoIP2 or SchemaCountryCode
	BuildTime time.Time // metadata build_epoch
	IPVersion int       // 4 or 6
	Nodes     uint      // search tree nodes
	Size      int       // bytes
}

// DB is an open country database. It is safe for concurrent use. It keeps
// the whole file in memory (never mmap'd), so a DB that is being replaced
// stays valid for lookups still running on it; the garbage collector frees it
// once nobody refers to it.
type DB struct {
	mm       *maxminddb.Reader // tree walk: netip.Addr → data offset, no allocation
	g2       *geoip2.Reader    // decodes records of databases geoip2 knows
	info     Info
	ipv4Only bool
	closed   atomic.Bool
	records  cache // data offset → Location
	addrs    cache // recent addresses → Location
	errs     atomic.Uint64
}

// Open reads a MaxMind DB file (at most MaxDBSize bytes), verifies its
// structure and detects its schema. A truncated or corrupt file, a file that
// is not a MaxMind DB, or a database without country data is an error.
func Open(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geo: open database: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("geo: open database: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("geo: open database %s: not a regular file", path)
	}
	if st.Size() > MaxDBSize {
		return nil, fmt.Errorf("geo: open database %s: %d bytes, larger than the %d byte limit", path, st.Size(), MaxDBSize)
	}
	buf, err := io.ReadAll(io.LimitReader(f, MaxDBSize+1))
	if err != nil {
		return nil, fmt.Errorf("geo: read database %s: %w", path, err)
	}
	if len(buf) > MaxDBSize {
		return nil, fmt.Errorf("geo: open database %s: larger than the %d byte limit", path, MaxDBSize)
	}
	d, err := OpenBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return d, nil
}

// OpenBytes is Open for a database already in memory. b must not be
// modified afterwards. The structure is verified (maxminddb Verify).
func OpenBytes(b []byte) (*DB, error) {
	return openBytes(b, true)
}

// Embedded opens the database compiled into the binary
// (geo-whois-asn-country, data CC BY 4.0 by the NRO). It is verified by the
// package's tests, not on every call.
func Embedded() (*DB, error) {
	return openBytes(embeddedDB, false)
}

func openBytes(b []byte, verify bool) (*DB, error) {
	if len(b) == 0 {
		return nil, errors.New("geo: database is empty")
	}
	mm, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geo: not a valid MaxMind DB: %w", err)
	}
	md := mm.Metadata
	if md.IPVersion != 4 && md.IPVersion != 6 {
		return nil, fmt.Errorf("geo: MaxMind DB has unsupported ip_version %d", md.IPVersion)
	}
	if verify {
		// Verify also insists on a metadata description, which says nothing
		// about whether lookups work (the embedded database has none):
		// satisfy that one check for the duration of the call.
		if len(mm.Metadata.Description) == 0 {
			mm.Metadata.Description = map[string]string{"en": "-"}
			defer func() { mm.Metadata.Description = nil }()
		}
		if err := mm.Verify(); err != nil {
			return nil, fmt.Errorf("geo: corrupt MaxMind DB (type %q): %w", md.DatabaseType, err)
		}
	}
	d := &DB{
		mm:       mm,
		records:  newCache(logRecordSets),
		addrs:    newCache(logAddressSets),
		ipv4Only: md.IPVersion == 4,
		info: Info{
			Type:      md.DatabaseType,
			BuildTime: md.BuildTime(),
			IPVersion: int(md.IPVersion),
			Nodes:     md.NodeCount,
			Size:      len(b),
		},
	}
	// The schema is read off the records (an empty database, or one without
	// country data, is refused whatever its type says).
	schema, err := probeSchema(mm)
	if err != nil {
		return nil, fmt.Errorf("geo: MaxMind DB of type %q: %w", md.DatabaseType, err)
	}
	d.info.Schema = schema
	// geoip2-golang accepts the GeoIP2/GeoLite2 (and DB-IP) types it knows by
	// name; records of those are decoded by its Country model.
	if schema == SchemaGeoIP2 {
		if g2, err := geoip2.OpenBytes(b); err == nil {
			if _, err := g2.Country(netip.IPv4Unspecified()); !isInvalidMethod(err) {
				d.g2 = g2
			}
		}
	}
	return d, nil
}

func isInvalidMethod(err error) bool {
	var im geoip2.InvalidMethodError
	return errors.As(err, &im)
}

// record is the subset of both schemas a lookup needs.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code,maxsize:16"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code,maxsize:16"`
	} `maxminddb:"registered_country"`
	Continent struct {
		Code string `maxminddb:"code,maxsize:16"`
	} `maxminddb:"continent"`
	CountryCode string `maxminddb:"country_code,maxsize:16"`
}

// probeRecords is how many distinct records probeSchema looks at.
const probeRecords = 64

// probeSchema decides the schema of a database by the fields its first
// records carry.
func probeSchema(mm *maxminddb.Reader) (string, error) {
	var geoip2Like, countryCode, seen int
	last := ^uintptr(0)
	for res := range mm.Networks() {
		if err := res.Err(); err != nil {
			return "", fmt.Errorf("reading networks: %w", err)
		}
		if res.Offset() == last {
			continue
		}
		last = res.Offset()
		var r record
		if err := res.Decode(&r); err != nil {
			return "", fmt.Errorf("decoding a record: %w", err)
		}
		if r.Country.ISOCode != "" || r.RegisteredCountry.ISOCode != "" || r.Continent.Code != "" {
			geoip2Like++
		}
		if r.CountryCode != "" {
			countryCode++
		}
		if seen++; seen >= probeRecords {
			break
		}
	}
	switch {
	case seen == 0:
		return "", errors.New("database holds no networks")
	case geoip2Like >= countryCode && geoip2Like > 0:
		return SchemaGeoIP2, nil
	case countryCode > 0:
		return SchemaCountryCode, nil
	}
	return "", errors.New("records carry neither country.iso_code nor country_code: not a country database")
}

// Info describes the database.
func (d *DB) Info() Info { return d.info }

// LookupErrors counts lookups that failed on a corrupt record (answered
// Unknown).
func (d *DB) LookupErrors() uint64 { return d.errs.Load() }

// Close marks the database closed; later lookups answer Unknown. Lookups
// already running finish normally (the data is plain memory, released by the
// garbage collector). Close is idempotent.
func (d *DB) Close() error {
	d.closed.Store(true)
	return nil
}

// Lookup returns the location of ip. IPv4-mapped IPv6 addresses are looked
// up as IPv4; zones are ignored. Addresses that do not locate a client (see
// IsSpecial) and addresses not in the database are Unknown. A nil or closed
// DB answers Unknown.
//
// Recent addresses are answered from a bounded cache; other addresses walk
// the search tree and take the decoded record from a cache keyed by the
// record's offset. Neither path allocates once the record has been decoded
// once (the caches are fixed tables).
func (d *DB) Lookup(ip netip.Addr) Location {
	ip = ip.Unmap().WithZone("")
	if d == nil || IsSpecial(ip) || d.closed.Load() || (d.ipv4Only && ip.Is6()) {
		return unknownLocation
	}
	hi, lo, h := addrKey(ip)
	if loc, ok := d.addrs.get(hi, lo, h); ok {
		return loc
	}
	res := d.mm.Lookup(ip)
	if !res.Found() {
		if res.Err() != nil {
			d.errs.Add(1)
			return unknownLocation
		}
		d.addrs.put(hi, lo, h, unknownLocation)
		return unknownLocation
	}
	off := uint64(res.Offset())
	loc, ok := d.records.get(0, off, off)
	if !ok {
		var err error
		if loc, err = d.decode(ip, res); err != nil {
			d.errs.Add(1)
			return unknownLocation
		}
		d.records.put(0, off, off, loc)
	}
	d.addrs.put(hi, lo, h, loc)
	return loc
}

// decode reads the record of res (found for ip).
func (d *DB) decode(ip netip.Addr, res maxminddb.Result) (Location, error) {
	var country, registered, continent string
	if d.g2 != nil {
		c, err := d.g2.Country(ip)
		if err != nil {
			return Location{}, err
		}
		country, registered, continent = c.Country.ISOCode, c.RegisteredCountry.ISOCode, c.Continent.Code
	} else {
		var r record
		if err := res.Decode(&r); err != nil {
			return Location{}, err
		}
		if d.info.Schema == SchemaCountryCode {
			country = r.CountryCode
		} else {
			country, registered, continent = r.Country.ISOCode, r.RegisteredCountry.ISOCode, r.Continent.Code
		}
	}
	return makeLocation(country, registered, continent), nil
}

// makeLocation normalises what a record says into a Location: codes are
// upper-cased, anything that is not two letters is Unknown, the registered
// country stands in for a missing country, and the continent comes from the
// record when it is a valid continent code, else from the country table.
func makeLocation(country, registered, continent string) Location {
	c := normCode(country)
	if c == "" || c == Unknown {
		c = normCode(registered)
	}
	if c == "" {
		c = Unknown
	}
	k := normCode(continent)
	if _, ok := continents[k]; !ok {
		k = ContinentOf(c)
	}
	return Location{Country: c, Continent: k}
}

// cache maps a 128-bit key (an address, or a record offset) to a Location.
// It is a fixed-size two-way set-associative table; each entry is four
// words guarded by a sequence counter (a seqlock), and a set of two entries
// fills one 64-byte cache line. Reads take no lock, never allocate and touch
// one cache line; inserts do not allocate either and skip an entry another
// writer holds. Memory is fixed at 64 bytes per set whatever the traffic or
// the database.
type cache struct {
	slots []cacheSlot
	shift uint // 64 - log2(sets)
}

type cacheSlot struct {
	seq    atomic.Uint64 // odd while a writer fills the entry
	hi, lo atomic.Uint64 // key
	val    atomic.Uint64 // packed Location, 0 = empty
}

func newCache(logSets uint) cache {
	return cache{slots: make([]cacheSlot, 2<<logSets), shift: 64 - logSets}
}

func (c *cache) set(h uint64) uint {
	return uint((h*0x9E3779B97F4A7C15)>>c.shift) * 2
}

func (s *cacheSlot) read(hi, lo uint64) (uint64, bool) {
	s1 := s.seq.Load()
	if s1&1 != 0 {
		return 0, false
	}
	v, khi, klo := s.val.Load(), s.hi.Load(), s.lo.Load()
	if s.seq.Load() != s1 || v == 0 || khi != hi || klo != lo {
		return 0, false
	}
	return v, true
}

func (s *cacheSlot) write(hi, lo, v uint64) {
	s1 := s.seq.Load()
	if s1&1 != 0 || !s.seq.CompareAndSwap(s1, s1+1) {
		return // another writer is here; caching is best effort
	}
	s.hi.Store(hi)
	s.lo.Store(lo)
	s.val.Store(v)
	s.seq.Store(s1 + 2)
}

func (c *cache) get(hi, lo, h uint64) (Location, bool) {
	i := c.set(h)
	if v, ok := c.slots[i].read(hi, lo); ok {
		return unpackLocation(v), true
	}
	if v, ok := c.slots[i+1].read(hi, lo); ok {
		return unpackLocation(v), true
	}
	return Location{}, false
}

func (c *cache) put(hi, lo, h uint64, loc Location) {
	v, ok := packLocation(loc)
	if !ok {
		return
	}
	i := c.set(h)
	// An empty way first, else a way picked by the set's write history
	// (pseudo-random replacement).
	w := &c.slots[i]
	if w.val.Load() != 0 {
		if c.slots[i+1].val.Load() == 0 || (w.seq.Load()>>1)&1 == 1 {
			w = &c.slots[i+1]
		}
	}
	w.write(hi, lo, v)
}

// Locations are packed into one word as the indexes of their two codes in
// codeStrings: every Location makeLocation builds is two upper-case letters
// twice, so unpacking hands out static strings and allocates nothing.
var codeStrings = func() (t [26 * 26]string) {
	b := make([]byte, 0, 2*26*26)
	for x := byte('A'); x <= 'Z'; x++ {
		for y := byte('A'); y <= 'Z'; y++ {
			b = append(b, x, y)
		}
	}
	all := string(b)
	for i := range t {
		t[i] = all[2*i : 2*i+2]
	}
	return t
}()

func codeIndex(s string) (uint64, bool) {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return 0, false
	}
	return uint64(s[0]-'A')*26 + uint64(s[1]-'A'), true
}

func packLocation(l Location) (uint64, bool) {
	c, ok1 := codeIndex(l.Country)
	k, ok2 := codeIndex(l.Continent)
	return 1<<63 | c<<16 | k, ok1 && ok2
}

func unpackLocation(v uint64) Location {
	return Location{Country: codeStrings[(v>>16)&0xffff], Continent: codeStrings[v&0xffff]}
}

// Cache sizes. Records: a country database has a few hundred distinct
// records, a city database a few hundred thousand; 8192 entries (256 KiB)
// hold every country record. Addresses: 65536 recent client addresses
// (2 MiB; a page view is many requests from one client).
const (
	logRecordSets  = 12
	logAddressSets = 15
)

// addrKey splits an (unmapped) address into the cache key and its hash.
func addrKey(ip netip.Addr) (hi, lo, h uint64) {
	b := ip.As16()
	hi = binary.BigEndian.Uint64(b[:8])
	lo = binary.BigEndian.Uint64(b[8:])
	return hi, lo, hi*0xC2B2AE3D27D4EB4F ^ bits.RotateLeft64(lo, 29)
}

// String renders a Location as "CC/CN".
func (l Location) String() string {
	var b strings.Builder
	b.WriteString(l.Country)
	b.WriteByte('/')
	b.WriteString(l.Continent)
	return b.String()
}
