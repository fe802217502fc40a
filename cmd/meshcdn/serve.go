package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/cmd/meshcdn/config"
	"github.com/meshcdn/meshcdn/edge"
	"github.com/meshcdn/meshcdn/geo"
)

const serveUsage = `usage: meshcdn serve --origin URL [flags]
       meshcdn serve --config FILE [--check] [flags]

Runs one edge node: a caching reverse proxy in front of --origin (--listen),
the admin API (--admin: purge, /cluster/members, /stats, /metrics), joined to
the other nodes by gossip (--gossip, --join). Every key of the --config file
is also a flag, and every flag a variable MESHCDN_<FLAG> (--cache-size:
MESHCDN_CACHE_SIZE); a flag beats the variable, which beats the file. Flags
marked "per site" describe the one site of a node without sites: in a file.

flags:
`

// serveFlags holds the raw flag values of serve.
type serveFlags struct {
	listen, admin, origin                string
	cacheSize, maxObjectSize             int64
	defaultTTL, originTimeout, purgeWait time.Duration
	drainDelay, drainTimeout             time.Duration
	isolationBound, isolationUnready     time.Duration
	defaultSWR, defaultSIE               time.Duration
	honorClientCC                        bool
	storeCloseDelimited                  bool
	maxVariants                          int
	originMaxConns, originQueue          int
	bodyDeadline, bodyTimeout            time.Duration
	bodyMinRate, bodyBuffer              int64
	geoCountryHeader, geoContinentHeader string
	purgeToken, passCookie, purgeAllow   string
	nodeName, gossip, advertise, join    string
	region, gossipKey, geoipDB, trusted  string
	proxyHeader                          string
	varyGeo, logFormat, logLevel         string
	viaVersion                           bool
	shield, shieldSecret                 string
	shieldSecretFile                     string
	shieldTimeout                        time.Duration

	config, defaultSite           string
	check                         bool
	purgeTokenFile, gossipKeyFile string
	siteName, hosts, originHost   string
	originCAFile, originCertFile  string
	originKeyFile, responseRemove string
	redirectHTTP                  bool
	redirectPort                  int

	httpsFlags
	acmeFlags
}

func serveFlagSet() (*flag.FlagSet, *serveFlags) {
	f := &serveFlags{cacheSize: 256 << 20, bodyMinRate: edge.DefaultClientBodyMinRate, bodyBuffer: edge.DefaultClientBodyBuffer}
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", ":8080", "edge (public) listen `address`")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:9080", "admin API listen `address` (purge, members, stats, metrics)")
	fs.StringVar(&f.origin, "origin", "", "origin `URL` (required), such as http://127.0.0.1:8070")
	fs.Var(sizeFlag{&f.cacheSize}, "cache-size", "memory for cached objects, such as 256MiB, 1GiB, 512MB")
	fs.Var(sizeFlag{&f.maxObjectSize}, "max-object-size", "larger responses are passed, not stored (0 = 1/8 of --cache-size)")
	fs.DurationVar(&f.defaultTTL, "default-ttl", 0, "freshness when the origin gives none (0 = do not store such responses)")
	fs.DurationVar(&f.defaultSWR, "default-stale-while-revalidate", 0, "stale-while-revalidate when the origin gives none: serve a stale object this long while it is refreshed in the background (0 = off)")
	fs.DurationVar(&f.defaultSIE, "default-stale-if-error", 0, "stale-if-error when the origin gives none: serve a stale object this long while the origin fails (0 = off)")
	fs.BoolVar(&f.honorClientCC, "honor-client-cache-control", false, "obey the clients' request Cache-Control (no-cache, max-age, only-if-cached, ...); off: freshness is the origin's call")
	fs.DurationVar(&f.originTimeout, "origin-timeout", 30*time.Second, "origin first-byte and between-bytes timeout (connect: at most 5s)")
	fs.BoolVar(&f.storeCloseDelimited, "store-close-delimited", false, "store responses whose body ends where the origin closes the connection (no Content-Length, not chunked); off: such a body cut short would be stored as complete")
	fs.IntVar(&f.originMaxConns, "origin-max-conns", edge.DefaultMaxOriginConns, "most concurrent requests (HTTP/1.1: connections) to the origin, `N`")
	fs.IntVar(&f.originQueue, "origin-queue", edge.DefaultOriginQueue, "`N` requests that may wait for an origin connection beyond --origin-max-conns (each at most the connect timeout); the others get 503 with Retry-After")
	fs.DurationVar(&f.bodyDeadline, "client-body-deadline", edge.DefaultClientBodyDeadline, "a request body must arrive whole within this `duration`, else 408")
	fs.DurationVar(&f.bodyTimeout, "client-body-timeout", edge.DefaultClientBodyTimeout, "longest silence while reading a request body, and the slack of --client-body-min-rate, a `duration`; else 408")
	fs.Var(rateFlag{&f.bodyMinRate}, "client-body-min-rate", "least average rate of a request body, a `SIZE` per second (with --client-body-timeout of slack), else 408; off: none")
	fs.Var(sizeFlag{&f.bodyBuffer}, "client-body-buffer", "request bodies up to this `SIZE` are read whole before the origin is contacted; larger ones stream")
	fs.StringVar(&f.purgeToken, "purge-token", "", "token required by purges (default $MESHCDN_PURGE_TOKEN); may be empty only if --admin is loopback")
	fs.DurationVar(&f.purgeWait, "purge-wait-timeout", 5*time.Second, "longest time a purge with wait=all waits for every node's ack")
	fs.StringVar(&f.passCookie, "pass-cookie", "", "requests with a cookie whose name matches this `regexp` bypass the cache, such as ^_session")
	fs.StringVar(&f.purgeAllow, "purge-allow", "127.0.0.0/8,::1/128", "client `CIDRs` allowed to send PURGE to the edge listener without the token (behind --trusted-proxies: the client the proxy reports)")
	fs.StringVar(&f.nodeName, "node-name", host, "unique node `name` in the cluster")
	fs.StringVar(&f.gossip, "gossip", "0.0.0.0:7946", "gossip bind `HOST:PORT` (TCP and UDP; HOST an IP address or a host name)")
	fs.StringVar(&f.advertise, "gossip-advertise", "", "gossip `IP:PORT` other nodes use to reach this one (behind NAT)")
	fs.StringVar(&f.join, "join", "", "`HOST:PORT,...` of nodes to join (DNS names: every address is tried; retried until it works)")
	fs.DurationVar(&f.isolationBound, "isolation-bound", 0, "after hearing from no peer this long, treat objects cached before the last contact as stale (0 = off)")
	fs.DurationVar(&f.drainDelay, "drain-delay", 5*time.Second, "on SIGTERM/SIGINT, keep serving this long with /readyz answering 503, so that load balancers and DNS health checks take the node out first")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "after the drain delay, how long requests in flight may take to finish before the node exits")
	fs.DurationVar(&f.isolationUnready, "isolation-unready", 5*time.Second, "after hearing from no peer this long (every other member failed or partitioned away), /readyz answers 503 so that health-checked DNS and load balancers stop sending clients to a node that may be missing purges; it keeps serving (0 = off)")
	fs.StringVar(&f.region, "region", "default", "region `name` of this node")
	fs.StringVar(&f.gossipKey, "gossip-key", "", "gossip encryption keys, `BASE64[,BASE64]` of 16/24/32 bytes, first = primary (default $MESHCDN_GOSSIP_KEY)")
	fs.StringVar(&f.geoipDB, "geoip-db", "", "MaxMind DB `path` (GeoIP2/GeoLite2 Country or City); empty = embedded country database")
	fs.StringVar(&f.trusted, "trusted-proxies", "", "`CIDRs` of proxies whose --proxy-header is believed for the client address")
	fs.StringVar(&f.proxyHeader, "proxy-header", "x-forwarded-for", "the one header the --trusted-proxies append the client address to: `x-forwarded-for|forwarded` (RFC 7239); the other header is ignored, as a proxy passes it through from the client")
	fs.IntVar(&f.maxVariants, "max-variants", 200, "cached variants (Vary) per URL, the oldest evicted beyond")
	fs.StringVar(&f.geoCountryHeader, "geo-country-header", "X-Geo-Country-Code", "request header `name` the edge sets to the client's country for the origin")
	fs.StringVar(&f.geoContinentHeader, "geo-continent-header", "X-Geo-Continent-Code", "request header `name` the edge sets to the client's continent for the origin")
	fs.StringVar(&f.varyGeo, "vary-geo", "none", "make the edge add Vary on the client's `continent|country|none` (for origins that cannot)")
	fs.StringVar(&f.shield, "shield", "off", "per site: fetch misses from the object's owner in the cluster, so that the origin sees one fetch per object: `off|cluster|region|region:NAME` (region: among this node's region; region:NAME: among that region's nodes)")
	fs.StringVar(&f.shieldSecret, "shield-secret", "", "`BASE64` secret (16+ bytes) that authenticates peer fetches between nodes (default $MESHCDN_SHIELD_SECRET; empty: derived from --gossip-key)")
	fs.StringVar(&f.shieldSecretFile, "shield-secret-file", "", "read --shield-secret from this `file` (warned if group or others may read it)")
	fs.DurationVar(&f.shieldTimeout, "shield-timeout", edge.DefaultShieldTimeout, "a peer fetch the owner has not acknowledged within this `duration` goes to the origin")
	fs.BoolVar(&f.viaVersion, "via-version", false, "Via carries the meshcdn version (\"1.1 <node> (meshcdn/<version>)\"); off: the node name only")
	addHTTPSFlags(fs, &f.httpsFlags)
	addACMEFlags(fs, &f.acmeFlags)
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: `console|json`")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: `debug|info|warn|error`")
	fs.StringVar(&f.config, "config", "", "configuration `file` (YAML; see deploy/config.example.yaml): several sites, every setting; flags and MESHCDN_* variables override it; SIGHUP reloads it")
	fs.BoolVar(&f.check, "check", false, "validate the configuration (file, flags, environment), print a one-line summary and exit: 0 valid, 2 with every error as FILE:LINE: field: problem")
	fs.StringVar(&f.defaultSite, "default-site", "", "`name` of the site that serves hosts no site names (empty: such requests get 404)")
	fs.StringVar(&f.purgeTokenFile, "purge-token-file", "", "read the purge token from this `file` (warned if group or others may read it)")
	fs.StringVar(&f.gossipKeyFile, "gossip-key-file", "", "read --gossip-key from this `file` (warned if group or others may read it)")
	fs.StringVar(&f.siteName, "site-name", "default", "per site: `name` in metrics and logs")
	fs.StringVar(&f.hosts, "hosts", "", "per site: host `names,...` it serves, exact or *.example.com (empty: every host)")
	fs.StringVar(&f.originHost, "origin-host", "", "per site: Host header sent to the origin instead of the client's (the cache key keeps the client's)")
	fs.StringVar(&f.originCAFile, "origin-ca-file", "", "per site: PEM `file` of the CAs trusted for an https origin (empty: the system's)")
	fs.StringVar(&f.originCertFile, "origin-cert-file", "", "per site: PEM client certificate `file` presented to an https origin (with --origin-key-file)")
	fs.StringVar(&f.originKeyFile, "origin-key-file", "", "per site: PEM private key `file` of --origin-cert-file")
	fs.BoolVar(&f.redirectHTTP, "redirect-http", false, "per site: answer plain-HTTP requests with 308 to https:// (not /.well-known/acme-challenge/, nor requests a trusted proxy says came over https)")
	fs.IntVar(&f.redirectPort, "redirect-port", 0, "per site: `port` of the https:// URL --redirect-http sends to (0 = 443)")
	fs.StringVar(&f.responseRemove, "response-remove", "", "per site: response header `names,...` removed before responses reach clients, such as Server,X-Powered-By")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		printFlags(fs)
	}
	return fs, f
}

// nodeConfigFromFlags validates the flags into a nodeConfig; the error
// lists every problem (a *usageError per line).
func nodeConfigFromFlags(f *serveFlags) (nodeConfig, error) {
	var c nodeConfig
	var err error
	var errs []error
	bad := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := parseListenAddr("listen", f.listen); err != nil {
		bad(err)
	}
	// The client commands (purge, members, health, …) read MESHCDN_ADMIN
	// as a URL; so that one shell variable serves both, serve takes
	// http://HOST:PORT for its listener too.
	f.admin = strings.TrimSuffix(strings.TrimPrefix(f.admin, "http://"), "/")
	if err := parseListenAddr("admin", f.admin); err != nil {
		bad(err)
	}
	c.Listen, c.Admin = f.listen, f.admin
	f.certsElsewhere = f.tls == "acme" || f.acmeElsewhere
	bad(f.httpsConfig(&c))
	if c.Origin, err = parseOrigin(f.origin); err != nil {
		bad(err)
	}
	if f.cacheSize < 1<<20 {
		bad(usagef("--cache-size must be at least 1MiB"))
	}
	c.CacheSize = f.cacheSize
	c.MaxObjectSize = f.maxObjectSize
	if c.MaxObjectSize == 0 {
		c.MaxObjectSize = c.CacheSize / 8
	}
	if c.MaxObjectSize > c.CacheSize {
		bad(usagef("--max-object-size (%s) is larger than --cache-size (%s)", formatSize(c.MaxObjectSize), formatSize(c.CacheSize)))
	}
	if f.defaultTTL < 0 {
		bad(usagef("--default-ttl must not be negative (0 = do not store responses without freshness)"))
	}
	c.DefaultTTL = f.defaultTTL
	if f.defaultSWR < 0 || f.defaultSIE < 0 {
		bad(usagef("--default-stale-while-revalidate and --default-stale-if-error must not be negative (0 = off)"))
	}
	c.DefaultSWR, c.DefaultSIE = f.defaultSWR, f.defaultSIE
	c.HonorClientCacheControl = f.honorClientCC
	c.StoreCloseDelimited = f.storeCloseDelimited
	c.ViaVersion = f.viaVersion
	if f.originMaxConns < 1 || f.originMaxConns > 1<<16 {
		bad(usagef("--origin-max-conns must be between 1 and 65536"))
	}
	if f.originQueue < 1 || f.originQueue > 1<<20 {
		bad(usagef("--origin-queue must be between 1 and 1048576"))
	}
	c.OriginMaxConns, c.OriginQueue = f.originMaxConns, f.originQueue
	if err := positiveDuration("client-body-deadline", f.bodyDeadline); err != nil {
		bad(err)
	}
	if err := positiveDuration("client-body-timeout", f.bodyTimeout); err != nil {
		bad(err)
	}
	if f.bodyMinRate < 1 && f.bodyMinRate != edge.NoClientBodyMinRate {
		bad(usagef("--client-body-min-rate must be at least 1 byte (per second), or off"))
	}
	if f.bodyBuffer < 1 || f.bodyBuffer > 16<<20 {
		bad(usagef("--client-body-buffer must be between 1 byte and 16MiB"))
	}
	c.ClientBodyDeadline, c.ClientBodyMinRate, c.ClientBodyBuffer = f.bodyDeadline, f.bodyMinRate, f.bodyBuffer
	c.ClientBodyTimeout = f.bodyTimeout
	if f.maxVariants < 1 || f.maxVariants > 10000 {
		bad(usagef("--max-variants must be between 1 and 10000"))
	}
	c.MaxVariants = f.maxVariants
	for _, h := range []struct{ flag, v string }{{"geo-country-header", f.geoCountryHeader}, {"geo-continent-header", f.geoContinentHeader}} {
		if !validHeaderName(h.v) {
			bad(usagef("--%s: %q is not a header field name", h.flag, h.v))
		}
	}
	if strings.EqualFold(f.geoCountryHeader, f.geoContinentHeader) {
		bad(usagef("--geo-country-header and --geo-continent-header must differ"))
	}
	c.GeoCountryHeader = http.CanonicalHeaderKey(f.geoCountryHeader)
	c.GeoContinentHeader = http.CanonicalHeaderKey(f.geoContinentHeader)
	if err := positiveDuration("origin-timeout", f.originTimeout); err != nil {
		bad(err)
	}
	c.OriginTimeout = f.originTimeout
	if err := positiveDuration("purge-wait-timeout", f.purgeWait); err != nil {
		bad(err)
	}
	c.PurgeWait = f.purgeWait

	c.PurgeToken = f.purgeToken
	if err := checkToken("--purge-token", c.PurgeToken); err != nil {
		bad(err)
	}
	if f.passCookie != "" {
		if c.PassCookie, err = regexp.Compile(f.passCookie); err != nil {
			bad(usagef("--pass-cookie: %v", err))
		}
	}
	if c.PurgeAllow, err = parseCIDRs("purge-allow", f.purgeAllow); err != nil {
		bad(err)
	}
	if c.TrustedProxies, err = parseCIDRs("trusted-proxies", f.trusted); err != nil {
		bad(err)
	}
	switch strings.ToLower(f.proxyHeader) {
	case "x-forwarded-for":
		c.ProxyHeader = geo.HeaderXForwardedFor
	case "forwarded":
		c.ProxyHeader = geo.HeaderForwarded
	default:
		bad(usagef("--proxy-header: %q is not one of x-forwarded-for, forwarded", f.proxyHeader))
	}
	if f.nodeName == "" || len(f.nodeName) > 128 {
		bad(usagef("--node-name must be 1-128 characters"))
	}
	c.Name = f.nodeName
	if len(f.region) > 64 {
		bad(usagef("--region must be at most 64 characters"))
	}
	c.Region = f.region
	if c.GossipHost, c.GossipPort, err = parseIPPort("gossip", f.gossip, "0.0.0.0", true); err != nil {
		bad(err)
	}
	if f.advertise != "" {
		host, port, err := splitAdvertise(f.advertise, c.GossipPort)
		if err != nil {
			bad(err)
		}
		c.AdvertiseHost, c.AdvertisePort = host, port
	}
	if f.isolationBound < 0 {
		bad(usagef("--isolation-bound must not be negative (0 = off)"))
	}
	c.IsolationBound = f.isolationBound
	if f.drainDelay < 0 {
		bad(usagef("--drain-delay must not be negative (0 = stop accepting at once)"))
	}
	if err := positiveDuration("drain-timeout", f.drainTimeout); err != nil {
		bad(err)
	}
	c.DrainDelay, c.ShutdownTimeout = f.drainDelay, f.drainTimeout
	if f.isolationUnready != 0 && f.isolationUnready < time.Second {
		bad(usagef("--isolation-unready must be 0 (off) or at least 1s (a node hears from its peers about every 0.5s)"))
	}
	c.IsolationUnready = f.isolationUnready
	c.Join = splitList(f.join)
	if len(c.Join) > 64 {
		bad(usagef("--join: at most 64 addresses"))
	}
	if f.gossipKey != "" {
		if c.GossipKeys, err = cluster.ParseKeys(f.gossipKey); err != nil {
			bad(usagef("--gossip-key: %v", err))
		}
	}
	if f.shieldTimeout <= 0 || f.shieldTimeout > time.Minute {
		bad(usagef("--shield-timeout must be between 1ns and 1m"))
	}
	c.ShieldTimeout = f.shieldTimeout
	if f.shieldSecret != "" {
		if c.ShieldSecret, err = parseShieldSecret(f.shieldSecret); err != nil {
			bad(err)
		}
	}
	c.GeoIPDB = f.geoipDB
	switch f.varyGeo {
	case "none", "":
	case "continent":
		c.VaryGeo = []string{c.GeoContinentHeader}
	case "country":
		c.VaryGeo = []string{c.GeoCountryHeader}
	default:
		bad(usagef("--vary-geo: %q is not one of continent, country, none", f.varyGeo))
	}
	f.siteConfig(&c, bad)
	f.acmeConfig(&c, bad)
	return c, joinUsage(errs)
}

// splitAdvertise parses --gossip-advertise IP[:PORT].
func splitAdvertise(s string, defPort int) (string, int, error) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		s = net.JoinHostPort(s, strconv.Itoa(defPort))
	}
	host, port, err := parseIPPort("gossip-advertise", s, "", false)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

func runServe(args []string) error {
	// First of all: a SIGHUP (GeoIP reload) before the watcher subscribes
	// must not end the process.
	defer holdSIGHUP()()
	st, err := loadServe(args, os.Getenv)
	if st != nil && st.check {
		if err != nil {
			for _, e := range config.AsErrors(err) {
				fmt.Fprintln(os.Stderr, e)
			}
			return &failure{code: 2}
		}
		fmt.Println(st.summary())
		return nil
	}
	if err != nil {
		return asUsage(err)
	}
	cfg := st.node
	cfg.reload = func() (*serveSettings, error) { return loadServe(args, os.Getenv) }
	cfg.global, cfg.configFile = st.global, st.file
	log, err := newLogger(st.logFormat, st.logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	for _, w := range st.warnings {
		log.Warn(w)
	}

	// Subscribed before the node starts: a SIGTERM while it starts is not
	// lost (it drains as soon as the node runs).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	n, err := startNode(cfg, log)
	if err != nil {
		return err
	}
	select {
	case s := <-sigs:
		return n.drain(s, sigs)
	case err := <-n.served:
		log.Error("listener failed", zap.Error(err))
		n.stop()
		return err
	}
}

// validHeaderName: a non-empty RFC 9110 token, at most 128 bytes.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
