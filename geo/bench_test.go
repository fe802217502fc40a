package geo

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// sampleAddrs picks n addresses spread over the networks of a database (so
// lookups hit real records), IPv4 and IPv6 alike, skipping special ones.
func sampleAddrs(tb testing.TB, db []byte, n int) []netip.Addr {
	return sampleAddrsFamily(tb, db, n, 0)
}

// sampleAddrsFamily: family 4 or 6 restricts the sample, 0 takes both.
func sampleAddrsFamily(tb testing.TB, db []byte, n, family int) []netip.Addr {
	tb.Helper()
	all := networksOf(tb, db)
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		p := all[rng.IntN(len(all))]
		if family == 4 && !p.Addr().Is4() || family == 6 && !p.Addr().Is6() {
			continue
		}
		a := randomIn(rng, p)
		if IsSpecial(a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// randomIn returns a random address inside p.
func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 96
	}
	for bit := off + p.Bits(); bit < 128; bit++ {
		if rng.IntN(2) == 1 {
			b[bit/8] |= 0x80 >> (bit % 8)
		}
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

var networksMemo sync.Map // *byte (first byte of a database) → []netip.Prefix

// networksOf lists the networks of a database (memoised per database).
func networksOf(tb testing.TB, db []byte) []netip.Prefix {
	if v, ok := networksMemo.Load(&db[0]); ok {
		return v.([]netip.Prefix)
	}
	mm, err := maxminddb.OpenBytes(db)
	if err != nil {
		tb.Fatal(err)
	}
	var all []netip.Prefix
	for res := range mm.Networks() {
		all = append(all, res.Prefix())
	}
	networksMemo.Store(&db[0], all)
	return all
}

var (
	bigDBOnce sync.Once
	bigDB     []byte
)

// bigGeoIP2DB is a GeoIP2-Country database with 50,000 IPv4 and 20,000 IPv6
// networks spread over 200 countries, so the tree is as deep as a real one.
func bigGeoIP2DB(tb testing.TB) []byte {
	tb.Helper()
	bigDBOnce.Do(func() { bigDB = buildBigGeoIP2DB(tb) })
	return bigDB
}

func buildBigGeoIP2DB(tb testing.TB) []byte {
	codes := make([]string, 0, len(continentOf))
	for c := range continentOf {
		codes = append(codes, c)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var entries []netEntry
	for i := 0; i < 50000; i++ {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
		c := codes[i%200]
		entries = append(entries, netEntry{cidr: netip.PrefixFrom(a, 24).String(), country: c, continent: ContinentOf(c), registered: c})
	}
	for i := 0; i < 20000; i++ {
		var b [16]byte
		b[0], b[1] = 0x24+byte(rng.IntN(8)), byte(rng.IntN(256))
		b[2], b[3], b[4], b[5] = byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))
		c := codes[i%200]
		entries = append(entries, netEntry{cidr: netip.PrefixFrom(netip.AddrFrom16(b), 48).String(), country: c, continent: ContinentOf(c)})
	}
	return buildDB(tb, dbSpec{dbType: "GeoIP2-Country", reserved: true, entries: entries})
}

// cpuClock reports CPU nanoseconds per operation of the benchmark's own
// thread (cpu-ns/op) beside the wall-clock ns/op.
type cpuClock struct {
	b     *testing.B
	start time.Duration
}

func startCPU(b *testing.B) cpuClock {
	runtime.LockOSThread()
	b.ResetTimer()
	return cpuClock{b, threadCPUTime()}
}

func (c cpuClock) stop() {
	c.b.StopTimer()
	used := threadCPUTime() - c.start
	runtime.UnlockOSThread()
	if used > 0 {
		c.b.ReportMetric(float64(used.Nanoseconds())/float64(c.b.N), "cpu-ns/op")
	}
}

func benchLookup(b *testing.B, db []byte, open func() (*DB, error)) {
	d, err := open()
	if err != nil {
		b.Fatal(err)
	}
	addrs := sampleAddrs(b, db, 4096)
	for _, a := range addrs { // warm the record cache
		d.Lookup(a)
	}
	b.ReportAllocs()
	clk := startCPU(b)
	var known int
	for i := 0; i < b.N; i++ {
		if d.Lookup(addrs[i&4095]).Country != Unknown {
			known++
		}
	}
	clk.stop()
	if known == 0 {
		b.Fatal("nothing located")
	}
}

// BenchmarkLookup: the embedded database (country_code schema), 4096
// recurring client addresses (answered from the address cache).
func BenchmarkLookup(b *testing.B) {
	benchLookup(b, embeddedDB, Embedded)
}

// BenchmarkLookupGeoIP2: the same for a GeoIP2-Country database.
func BenchmarkLookupGeoIP2(b *testing.B) {
	db := bigGeoIP2DB(b)
	benchLookup(b, db, func() (*DB, error) { return OpenBytes(db) })
}

// BenchmarkLookupNewClients: every lookup a client not seen before (far more
// addresses than the address cache holds): the search tree is walked and
// the record comes from the record cache; remembering the address costs one
// small allocation.
func BenchmarkLookupNewClients(b *testing.B) {
	for _, c := range []struct {
		name   string
		db     []byte
		family int
	}{
		{"embedded/v4", embeddedDB, 4}, {"embedded/v6", embeddedDB, 6},
		{"geoip2/v4", bigGeoIP2DB(b), 4}, {"geoip2/v6", bigGeoIP2DB(b), 6},
	} {
		b.Run(c.name, func(b *testing.B) {
			d, err := openBytes(c.db, false)
			if err != nil {
				b.Fatal(err)
			}
			const n = 1 << 18 // 4× the address cache
			addrs := sampleAddrsFamily(b, c.db, n, c.family)
			for _, a := range addrs[:4096] {
				d.Lookup(a) // decode the common records
			}
			b.ReportAllocs()
			clk := startCPU(b)
			for i := 0; i < b.N; i++ {
				d.Lookup(addrs[i&(n-1)])
			}
			clk.stop()
		})
	}
}

// BenchmarkLookupParallel: the embedded database from all CPUs.
func BenchmarkLookupParallel(b *testing.B) {
	d, err := Embedded()
	if err != nil {
		b.Fatal(err)
	}
	addrs := sampleAddrs(b, embeddedDB, 4096)
	for _, a := range addrs {
		d.Lookup(a)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			d.Lookup(addrs[i&4095])
			i++
		}
	})
}

// BenchmarkLookupSpecial: a private address, answered before the database.
func BenchmarkLookupSpecial(b *testing.B) {
	d, err := Embedded()
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("192.168.1.1")
	b.ReportAllocs()
	clk := startCPU(b)
	for i := 0; i < b.N; i++ {
		d.Lookup(a)
	}
	clk.stop()
}

// BenchmarkDecodeMiss: the cost of a record not yet in the cache.
func BenchmarkDecodeMiss(b *testing.B) {
	for _, c := range []struct {
		name string
		db   []byte
	}{{"country_code", embeddedDB}, {"geoip2", bigGeoIP2DB(b)}} {
		b.Run(c.name, func(b *testing.B) {
			d, err := openBytes(c.db, false)
			if err != nil {
				b.Fatal(err)
			}
			addrs := sampleAddrs(b, c.db, 1024)
			b.ReportAllocs()
			clk := startCPU(b)
			for i := 0; i < b.N; i++ {
				a := addrs[i&1023]
				if _, err := d.decode(a, d.mm.Lookup(a)); err != nil {
					b.Fatal(err)
				}
			}
			clk.stop()
		})
	}
}

// BenchmarkResolve: one request's whole geo work behind a trusted proxy.
func BenchmarkResolve(b *testing.B) {
	resolver := func(header string) *Resolver {
		r, err := NewResolver(ResolverConfig{TrustedProxies: mustPrefixes(b, "10.0.0.0/8, 2001:db8::/32"), ProxyHeader: header})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	for _, c := range []struct {
		name, remote string
		h            http.Header
		header       string
	}{
		{"peer", "81.2.69.142:51234", http.Header{}, ""},
		{"xff", "10.0.0.1:51234", http.Header{"X-Forwarded-For": {"8.8.8.8, 81.2.69.142, 10.1.1.1"}}, ""},
		{"forwarded", "[2001:db8::1]:443", http.Header{"Forwarded": {`for=8.8.8.8, for="[2a02:cf40::9]:4711";proto=https, for=10.1.1.1`}}, HeaderForwarded},
	} {
		r := resolver(c.header)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			clk := startCPU(b)
			for i := 0; i < b.N; i++ {
				if _, loc := r.Resolve(c.remote, c.h); loc.Country == Unknown {
					b.Fatal("not located")
				}
			}
			clk.stop()
		})
	}
}

// TestLookupDoesNotAllocate: once a record has been seen, Lookup and
// Resolve allocate nothing.
func TestLookupDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	d, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	addrs := sampleAddrs(t, embeddedDB, 256)
	for _, a := range addrs {
		d.Lookup(a)
	}
	if n := testing.AllocsPerRun(20, func() {
		for _, a := range addrs {
			d.Lookup(a)
		}
	}); n != 0 {
		t.Errorf("Lookup: %v allocations per 256 lookups", n)
	}
	r, err := NewResolver(ResolverConfig{TrustedProxies: mustPrefixes(t, "10.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := NewResolver(ResolverConfig{TrustedProxies: mustPrefixes(t, "10.0.0.0/8"), ProxyHeader: HeaderForwarded})
	if err != nil {
		t.Fatal(err)
	}
	hx := http.Header{"X-Forwarded-For": {"8.8.8.8, 81.2.69.142, 10.1.1.1"}}
	hf := http.Header{"Forwarded": {`for=8.8.8.8, for="[2001:4860:4860::8888]:4711";proto=https, for=10.1.1.1`}}
	if ip := rf.ClientIP("10.0.0.1:1", hf); ip != netip.MustParseAddr("2001:4860:4860::8888") {
		t.Fatalf("Forwarded: client %v", ip)
	}
	r.Resolve("10.0.0.1:1", hx)
	rf.Resolve("10.0.0.1:1", hf)
	if n := testing.AllocsPerRun(100, func() {
		r.Resolve("10.0.0.1:1", hx)
		rf.Resolve("10.0.0.1:1", hf)
		r.Resolve("[2a02:cf40::1]:443", nil)
	}); n != 0 {
		t.Errorf("Resolve: %v allocations", n)
	}
}
