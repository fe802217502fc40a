// Package edge is meshcdn's caching reverse proxy. One request goes through
// the stages CDN engineers know from VCL:
//
//   - recv: pick the site by host, normalise, resolve the client's country
//     and continent (client-supplied geo headers are removed first), decide
//     pass (unsafe or unknown method, a pass cookie, a body on GET/HEAD;
//     not Authorization: its response is stored only with the permission
//     of RFC 9111 §3.5);
//   - lookup: primary key store.KeyFor(host, path, query) and the variant
//     selected by the stored response's Vary;
//   - hit: fresh → deliver; stale inside stale-while-revalidate → deliver and
//     refresh once in the background; otherwise revalidate;
//   - miss: collapse concurrent misses into one origin fetch, remember
//     uncacheable answers briefly (hit-for-miss) so that later requests go
//     to the origin in parallel;
//   - fetch: to the site's origin — or, when the site shields, to the
//     object's owner in the cluster (shield.go) —, streaming to every
//     waiting client while the body is buffered for the store;
//     stale-if-error on origin failure;
//   - store: insert with the purge fence taken when the fetch began;
//   - deliver: Age, X-Cache, Cache-Status (RFC 9211), conditional requests,
//     Range, HEAD; surrogate headers removed unless the debug header is set.
//
// # What clients see
//
// X-Cache is HIT when the body came from the cache without waiting for the
// origin (fresh, stale-while-revalidate, stale-if-error, or joining a fresh
// response that is still streaming in), MISS when this request waited for
// an origin fetch (including revalidation and collapsed waiters), PASS when
// the cache was bypassed. Cache-Status (RFC 9211) says precisely what
// happened: hit; fwd=uri-miss|vary-miss|miss|request|stale|method|bypass;
// fwd-status; ttl; stored; collapsed; detail (stale-while-revalidate,
// stale-if-error, streaming, storing, origin-timeout, origin-unreachable,
// origin-busy, or why a response was not stored). An upstream Cache-Status
// is kept, ours follows.
//
// The headers go out before the body has arrived, so "stored" is said only
// of a response that is in the cache when they go out: the first read of
// the body comes before them, and a body complete in it (most small
// responses) is stored first. A cacheable body still arriving says
// detail=storing; whether it was then stored (or truncated, timeout,
// too-large, purged, rejected) is the access log's "store" field and
// meshcdn_edge_store_failures_total. A close-delimited response (HTTP/1, no
// Content-Length, not chunked) is not stored unless Site.StoreCloseDelimited:
// a body the origin cut short looks complete (detail=close-delimited).
//
// # Request bodies and origin connections
//
// A request body is the client's business until it has arrived: a body of
// at most Site.ClientBodyBuffer bytes is read whole before the origin is
// contacted; one read may wait Site.ClientBodyTimeout, the whole body
// Site.ClientBodyDeadline, and it must average Site.ClientBodyMinRate
// (with ClientBodyTimeout of slack). A body that misses them is answered
// 408, a malformed one (bad chunked framing) 400, and a client that leaves
// is logged as 499; none is counted as an origin failure. At most
// Site.MaxOriginConns requests go to one origin at a time; Site.OriginQueue
// more wait (each at most the connect timeout), the rest get 503 with
// Retry-After.
//
// Surrogate-Key, Surrogate-Control and Cache-Groups are kept in the stored
// headers (a 304 can update them) and removed on delivery unless the
// request carries the debug header (Config.DebugHeader, default
// "Meshcdn-Debug: 1").
//
// # Bounds
//
// Response headers from the origin: 64 KiB. Bodies above the site's (or
// the store's) max object size stream through without being stored; so do
// bodies that would push the bytes all running fetches buffer for the
// store over a quarter of the store's budget. A body that outgrows the
// limit mid-stream keeps serving its readers from a 1 MiB window. At most
// 64 concurrent fetches per URL; 65 536 remembered uncacheable URLs
// (hit-for-miss: 2 min, or the response's lifetime if shorter; 5 s after a
// 5xx), kept as 64-bit hashes (a few MiB at most, whatever the URLs'
// length). A Range request for a URL remembered that way (uncacheable, or
// too large to store) sends its Range and If-Range to the origin and gets
// the origin's 206, instead of the whole body fetched and sent as 200. Vary keys longer than 512 bytes are hashed (SHA-256).
//
// # Revalidation, stale copies, invalidation
//
// A 304 to a revalidation freshens the stored headers (RFC 9111 §4.3.4)
// unless its validator selects a different representation (a strong ETag
// that is not the stored one): then the object is fetched again
// unconditionally. Fields named by private="…" / no-cache="…" are removed
// from the freshened copy as from the first 200; Content-Length,
// Content-Encoding and the connection-specific fields are never taken from
// a 304 (httpcache.Merge304). s-maxage and proxy-revalidate (like
// must-revalidate) forbid serving stale, whatever stale-while-revalidate or
// stale-if-error say; when such a copy cannot be revalidated because the
// origin is unreachable or times out, the client gets 504 (RFC 9111
// §5.2.2.2). A soft purge makes an object stale from the moment of the
// purge: its stale-while-revalidate and stale-if-error windows count from
// then.
//
// A 2xx/3xx to an unsafe method invalidates its target URI and a
// Location / Content-Location of the same origin (scheme, host and port)
// through Config.Purge, cluster-wide and behind the purge fence (RFC 9111
// §4.4). Cache-Group-Invalidation (RFC 9875 §3) purges the named groups of
// the same site only: each Cache-Groups group is indexed under its plain
// name (purged by a purge by key, like a Surrogate-Key) and under a
// site-scoped key, and Cache-Group-Invalidation purges the scoped keys.
//
// A 304 the edge generates for a client's conditional request carries
// Cache-Control, CDN-Cache-Control, Content-Location, Date, ETag, Expires,
// Last-Modified, Vary, Age, Via, X-Cache and Cache-Status only (RFC 9110
// §15.4.5).
//
// # Unkeyed request headers
//
// Origins build URLs, links and routes from fields that are not part of
// the cache key, so a client's value would be stored for everyone (cache
// poisoning). The one list is unkeyedFields (fetch.go), matched in every
// spelling ('_' for '-', any case). Forwarding fields (Forwarded, every
// X-Forwarded-*, X-Host, X-Real-IP, …) never reach the origin: the edge
// sends its own X-Forwarded-For (the client address it determined),
// X-Forwarded-Proto and X-Forwarded-Host (the Host), set after the
// hop-by-hop removal like Via and the geo fields, so that a Connection
// option cannot remove them. Method and URL overrides (X-HTTP-Method-Override,
// X-Original-URL, …) are dropped from fetches for the cache; pass requests
// keep them.
//
// # Client Cache-Control
//
// Request Cache-Control (no-cache, max-age, min-fresh, max-stale,
// only-if-cached, no-store) is ignored by default: a browser's reload button
// sends "no-cache" or "max-age=0", and honouring it would let any client
// push every request through to the origin, which is exactly what a CDN is
// there to prevent. Freshness is the origin's call (its headers and purges).
// A site can opt in with Site.HonorClientCacheControl.
//
// # Pass cookies
//
// Site.PassCookie is matched against the name of each cookie in the
// request's Cookie header (not the values): a match sends the request to the
// origin uncached.
//
// # Host header
//
// The client's Host header is sent to the origin (as Fastly, Varnish and
// Cloudflare do) as the cache key has it: in lower case, without the
// default port of the scheme the request came with (store.NormalHost); any
// other port stays, in the key and for the origin. The origin URL only says
// where to connect. A site's OriginHost replaces the Host the origin gets
// (X-Forwarded-Host still says the client's; the key keeps it).
//
// # Sites
//
// A request's site is the one naming its host exactly, else the one with
// the longest matching wildcard ("*.example.com": every name below), else
// the default site; with none, 404. SetSites replaces the sites at once
// (configuration reload): a request keeps the site it started with.
package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/edge/httpcache"
	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/geo"
	"github.com/meshcdn/meshcdn/store"
)

// Site is one origin and its caching policy, selected by host name.
type Site struct {
	Name string
	// Hosts: exact names, and wildcards "*.example.com" matching every name
	// below example.com (at any depth; not example.com itself). An exact
	// name wins over a wildcard, a longer wildcard over a shorter one.
	// Case, a port and a trailing dot are ignored. Empty = a default site.
	Hosts   []string
	Default bool     // also serves hosts no site names (at most one default site)
	Origin  *url.URL // http or https; its path is prefixed to request paths

	// OriginHost, if set, is the Host header sent to the origin instead of
	// the client's (the cache key keeps the client's Host).
	OriginHost string
	// OriginTLS configures TLS to an https origin (CA roots, client
	// certificate); nil = the system roots, no client certificate.
	OriginTLS *tls.Config

	// RedirectHTTP answers requests that did not come over TLS (nor from a
	// trusted proxy saying X-Forwarded-Proto: https) with 308 to https://
	// on the same host and path, except /.well-known/acme-challenge/.
	// RedirectPort is the port of that URL (0 = 443, left out).
	RedirectHTTP bool
	RedirectPort int

	// ResponseRemove names response header fields removed from every
	// response to the client (such as Server, X-Powered-By).
	ResponseRemove []string

	DefaultTTL time.Duration // lifetime when the origin gives no freshness; 0 = don't store such responses
	DefaultSWR time.Duration // stale-while-revalidate when the origin says nothing
	DefaultSIE time.Duration // stale-if-error when the origin says nothing

	PassCookie *regexp.Regexp // matched against cookie names; nil = none

	MaxObjectSize int64 // larger responses are streamed, not stored; 0 = the store's limit

	ConnectTimeout      time.Duration // default 5s
	FirstByteTimeout    time.Duration // request sent → response headers; default 15s
	BetweenBytesTimeout time.Duration // longest silence while reading a body; default 10s
	ClientBodyTimeout   time.Duration // longest silence while reading a client's request body; default 60s

	GeoCountryHeader   string // default X-Geo-Country-Code
	GeoContinentHeader string // default X-Geo-Continent-Code

	VaryGeo []string // header names the edge adds to Vary itself (for origins that cannot)

	HonorClientCacheControl bool // default false: see the package documentation

	// StoreCloseDelimited stores responses whose body ends where the origin
	// closes the connection (no Content-Length, not chunked, HTTP/1): such
	// a body cut short cannot be told from a complete one, so by default
	// they are served but not stored. For origins that only answer so.
	StoreCloseDelimited bool

	// Request bodies (pass requests). A body must arrive whole within
	// ClientBodyDeadline (default 10 min) and, with ClientBodyTimeout of
	// slack, at ClientBodyMinRate bytes/s on average (default 512; negative:
	// no minimum rate, for clients that legitimately upload slowly; the time
	// counted is the time spent waiting for the client). Bodies of at most
	// ClientBodyBuffer bytes (default 64 KiB) are read whole before the
	// origin is contacted; larger ones stream.
	ClientBodyDeadline time.Duration
	ClientBodyMinRate  int64
	ClientBodyBuffer   int64

	// MaxOriginConns caps the concurrent requests to the origin (over
	// HTTP/1.1, its connections; default 512). Beyond it, up to OriginQueue
	// requests (default 1024) wait, each at most ConnectTimeout, for one
	// to finish; the others are answered 503 with Retry-After.
	MaxOriginConns int
	OriginQueue    int

	// Shield: "" or "off" (every node fetches its misses from the origin),
	// "cluster" (a miss on a node that does not own the object is fetched
	// from its owner among every alive member), "region" (the owner among
	// the alive members of this node's region) or "region:<name>" (of the
	// named region). Needs Config.Shield. See the README ("Shielding").
	Shield string
}

// GeoResolver finds the client's address and location for a request;
// *geo.Resolver implements it.
type GeoResolver interface {
	Resolve(remoteAddr string, h http.Header) (netip.Addr, geo.Location)
}

// peerTruster is implemented by a GeoResolver (*geo.Resolver) that knows
// the trusted proxies: from them, X-Forwarded-Proto is believed.
type peerTruster interface {
	TrustedPeer(remoteAddr string) bool
}

// Config configures a Proxy.
type Config struct {
	Sites []*Site
	Store *store.Store
	Geo   GeoResolver // nil = no geo headers (client-supplied ones are still removed)

	Logger     *zap.Logger           // nil = no logging
	Registerer prometheus.Registerer // nil = metrics not registered

	// Purge applies a purge cluster-wide; the PURGE method and
	// Cache-Group-Invalidation go through it. nil = Store only, with ids
	// local/<boot>/<seq> (purgegate.Local).
	Purge func(ctx context.Context, p store.Purge) (PurgeResult, error)

	// The purge gate of PURGE (package purgegate): the token, accepted in
	// Fastly-Key or Authorization: Bearer, and the client addresses allowed
	// to PURGE without it. The client address is the one Geo resolves when
	// it implements purgegate.ClientResolver (*geo.Resolver does: through
	// its trusted proxies), else the socket peer.
	PurgeToken string
	PurgeAllow []netip.Prefix

	DebugHeader string // default "Meshcdn-Debug": a request with "<DebugHeader>: 1" keeps surrogate headers
	NodeName    string // Via and Cache-Status name; default the host name
	ViaVersion  string // "" (default): Via names the node only; else "1.1 <node> (meshcdn/<ViaVersion>)"

	// StaleCutoff, if set, makes objects stored before the returned time
	// stale (bounded staleness while the node may have missed purges).
	StaleCutoff func() time.Time

	// Shield is the cluster as shielding needs it (shield.go); nil = no
	// shielding (a site's Shield must then be off) and ServePeer refuses.
	Shield Shield
	// ShieldTimeout: a peer fetch the owner has not acknowledged within
	// it goes to the origin (default DefaultShieldTimeout).
	ShieldTimeout time.Duration
	// ShieldApplyWait: how long an owner waits for purges a child has
	// applied and it has not, before fetching anew (default
	// DefaultShieldApplyWait).
	ShieldApplyWait time.Duration
}

// Defaults applied by New.
const (
	DefaultConnectTimeout      = 5 * time.Second
	DefaultFirstByteTimeout    = 15 * time.Second
	DefaultBetweenBytesTimeout = 10 * time.Second
	DefaultClientBodyTimeout   = 60 * time.Second
	DefaultClientBodyDeadline  = 10 * time.Minute
	DefaultClientBodyMinRate   = 512      // bytes per second
	NoClientBodyMinRate        = -1       // Site.ClientBodyMinRate: no minimum rate
	DefaultClientBodyBuffer    = 64 << 10 // bytes
	DefaultMaxOriginConns      = 512
	DefaultOriginQueue         = 1024
	DefaultCountryHeader       = "X-Geo-Country-Code"
	DefaultContinentHeader     = "X-Geo-Continent-Code"
	DefaultDebugHeader         = "Meshcdn-Debug"

	surrogateTarget   = "meshcdn"
	maxResponseHeader = 64 << 10 // bytes of origin response headers
	hitForMissDefault = 2 * time.Minute
	hitForMissError   = 5 * time.Second
	maxHitForMiss     = 1 << 16 // remembered uncacheable URLs
	maxFlightsPerKey  = 64      // concurrent variant fetches of one URL
	streamWindow      = 1 << 20 // bytes kept for slow readers once a body is too large to store
	purgeTimeout      = 10 * time.Second
	maxKeysPerObject  = 4096
)

// site is a Site with defaults applied and what the proxy derives from it.
type site struct {
	Site
	name         string
	policy       httpcache.Policy
	maxObject    int64
	transport    *http.Transport
	countryKey   string // canonical header names
	continentKey string
	varyGeo      []string
	originPath   string // origin URL path without trailing slash ("" for "/")
	m            siteMetrics
	slots        *originSlots
	remove       []string // canonical ResponseRemove
	shield       shieldMode
	shieldRegion string // shieldRegion: the named region
}

// Proxy is the caching reverse proxy; it is an http.Handler.
type Proxy struct {
	cfg      Config
	store    Cache // cfg.Store
	log      *zap.Logger
	geo      GeoResolver
	table    atomic.Pointer[siteTable] // swapped whole by SetSites
	node     string
	via      string   // "1.1 <node>"
	viaVal   []string // {"1.1 <node>"}
	viaNote  string   // " (meshcdn/<version>)" when Config.ViaVersion is set
	debugKey string
	m        *metrics
	flights  flightTable
	status   statusTable
	purge    func(ctx context.Context, p store.Purge) (PurgeResult, error)
	gate     *purgegate.Gate

	ctx      context.Context // cancelled by Close: background fetches stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	fetching atomic.Int64 // cache fetches running (tests wait for them)

	// fetchBudget bounds the bytes all running fetches buffer for the
	// store: a quarter of the store's budget, at least one largest object.
	fetchBudget budget
	closeOnce   sync.Once

	// Shielding (shield.go); shield nil = off.
	shield          Shield
	shieldTimeout   time.Duration
	shieldApplyWait time.Duration
	peerClient      *http.Client
}

// New validates cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Store == nil {
		return nil, errors.New("edge: Config.Store is required")
	}
	if len(cfg.Sites) == 0 {
		return nil, errors.New("edge: at least one site is required")
	}
	p := &Proxy{cfg: cfg, store: cfg.Store, log: cfg.Logger, geo: cfg.Geo}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	p.node = cfg.NodeName
	if p.node == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "meshcdn"
		}
		p.node = h
	}
	if strings.ContainsAny(p.node, " ,;\"\r\n\t") {
		return nil, fmt.Errorf("edge: node name %q must be a single token", p.node)
	}
	if v := cfg.ViaVersion; v != "" {
		if len(v) > 64 || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()\\,;\"", r) }) {
			return nil, fmt.Errorf("edge: ViaVersion %q: at most 64 visible ASCII characters without ( ) \\ , ; \"", v)
		}
		p.viaNote = " (meshcdn/" + v + ")"
	}
	p.via = "1.1 " + p.node + p.viaNote
	p.viaVal = []string{p.via}
	p.debugKey = http.CanonicalHeaderKey(cfg.DebugHeader)
	if p.debugKey == "" {
		p.debugKey = DefaultDebugHeader
	}
	p.purge = cfg.Purge
	if p.purge == nil {
		local := purgegate.NewLocal(cfg.Store)
		p.purge = func(_ context.Context, pg store.Purge) (PurgeResult, error) {
			res := local.Purge(pg)
			return PurgeResult{ID: res.ID, Purged: res.Purged}, nil
		}
	}
	clients, _ := cfg.Geo.(purgegate.ClientResolver)
	var err error
	if p.gate, err = purgegate.New(purgegate.Config{Token: cfg.PurgeToken, Allow: cfg.PurgeAllow, Clients: clients}); err != nil {
		return nil, fmt.Errorf("edge: PurgeToken/PurgeAllow: %w", err)
	}
	storeMax := cfg.Store.Config().MaxObjectBytes

	if p.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	t, err := p.newSiteTable(cfg.Sites, storeMax)
	if err != nil {
		return nil, err
	}
	p.table.Store(t)
	p.shield, p.shieldTimeout, p.shieldApplyWait = cfg.Shield, cfg.ShieldTimeout, cfg.ShieldApplyWait
	if p.shieldTimeout <= 0 {
		p.shieldTimeout = DefaultShieldTimeout
	}
	if p.shieldApplyWait <= 0 {
		p.shieldApplyWait = DefaultShieldApplyWait
	}
	if err := p.checkShield(t); err != nil {
		return nil, err
	}
	if p.shield != nil {
		p.peerClient = newPeerClient(p.shieldTimeout)
	}
	// At least one largest object, whatever site a later SetSites brings.
	p.fetchBudget.max = max(cfg.Store.Config().MaxBytes/4, storeMax)
	for _, s := range t.all {
		p.fetchBudget.max = max(p.fetchBudget.max, s.maxObject)
	}
	p.status.init(p.node)
	p.flights.init()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

func newSite(s Site, storeMax int64) (*site, error) {
	name := s.Name
	if s.Origin == nil {
		return nil, fmt.Errorf("edge: site %q has no origin", name)
	}
	if s.Origin.Scheme != "http" && s.Origin.Scheme != "https" {
		return nil, fmt.Errorf("edge: site %q: origin %q must be http or https", name, s.Origin.Redacted())
	}
	if s.Origin.Host == "" {
		return nil, fmt.Errorf("edge: site %q: origin %q has no host", name, s.Origin.Redacted())
	}
	if s.Origin.RawQuery != "" || s.Origin.Fragment != "" {
		return nil, fmt.Errorf("edge: site %q: origin %q must not have a query or fragment", name, s.Origin.Redacted())
	}
	hosts := make([]string, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		n := normalizeHost(h)
		if n == "" {
			return nil, fmt.Errorf("edge: site %q: empty host name", name)
		}
		if strings.Contains(n, "*") && (!strings.HasPrefix(n, "*.") || len(n) < 3 || strings.Contains(n[1:], "*")) {
			return nil, fmt.Errorf("edge: site %q: host %q: a wildcard is \"*.\" before a name (such as *.example.com)", name, h)
		}
		hosts = append(hosts, n)
	}
	s.Hosts = hosts
	if s.DefaultTTL < 0 || s.DefaultSWR < 0 || s.DefaultSIE < 0 || s.MaxObjectSize < 0 {
		return nil, fmt.Errorf("edge: site %q: negative TTL or size", name)
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.FirstByteTimeout <= 0 {
		s.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if s.ClientBodyTimeout <= 0 {
		s.ClientBodyTimeout = DefaultClientBodyTimeout
	}
	if s.BetweenBytesTimeout <= 0 {
		s.BetweenBytesTimeout = DefaultBetweenBytesTimeout
	}
	if s.ClientBodyBuffer < 0 || s.MaxOriginConns < 0 || s.OriginQueue < 0 {
		return nil, fmt.Errorf("edge: site %q: negative request body or origin connection limit", name)
	}
	if s.ClientBodyDeadline <= 0 {
		s.ClientBodyDeadline = DefaultClientBodyDeadline
	}
	switch {
	case s.ClientBodyMinRate == 0:
		s.ClientBodyMinRate = DefaultClientBodyMinRate
	case s.ClientBodyMinRate < 0:
		s.ClientBodyMinRate = NoClientBodyMinRate
	}
	if s.ClientBodyBuffer == 0 {
		s.ClientBodyBuffer = DefaultClientBodyBuffer
	}
	if s.MaxOriginConns == 0 {
		s.MaxOriginConns = DefaultMaxOriginConns
	}
	if s.OriginQueue == 0 {
		s.OriginQueue = DefaultOriginQueue
	}
	if s.GeoCountryHeader == "" {
		s.GeoCountryHeader = DefaultCountryHeader
	}
	if s.GeoContinentHeader == "" {
		s.GeoContinentHeader = DefaultContinentHeader
	}
	st := &site{Site: s, name: name, slots: newOriginSlots(s.MaxOriginConns, s.OriginQueue)}
	st.countryKey = http.CanonicalHeaderKey(s.GeoCountryHeader)
	st.continentKey = http.CanonicalHeaderKey(s.GeoContinentHeader)
	if st.countryKey == st.continentKey {
		return nil, fmt.Errorf("edge: site %q: country and continent header are both %q", name, st.countryKey)
	}
	for _, v := range s.VaryGeo {
		k := http.CanonicalHeaderKey(strings.TrimSpace(v))
		if k == "" || strings.ContainsAny(k, " ,:\t") {
			return nil, fmt.Errorf("edge: site %q: bad VaryGeo header name %q", name, v)
		}
		st.varyGeo = append(st.varyGeo, k)
	}
	st.maxObject = storeMax
	if s.MaxObjectSize > 0 && (st.maxObject <= 0 || s.MaxObjectSize < st.maxObject) {
		st.maxObject = s.MaxObjectSize
	}
	st.policy = httpcache.Policy{
		DefaultTTL:        s.DefaultTTL,
		DefaultSWR:        s.DefaultSWR,
		DefaultSIE:        s.DefaultSIE,
		HeuristicFraction: 0.1, // HeuristicMax 0: at most the site's default TTL (and 24 h)
		SurrogateTarget:   surrogateTarget,
		// A client's no-store keeps the response out of the cache only
		// when the site honours client Cache-Control at all.
		HonorRequestNoStore: s.HonorClientCacheControl,
	}
	for _, f := range s.ResponseRemove {
		k := http.CanonicalHeaderKey(strings.TrimSpace(f))
		if k == "" || strings.ContainsAny(k, " ,:\t\r\n") {
			return nil, fmt.Errorf("edge: site %q: bad ResponseRemove header name %q", name, f)
		}
		st.remove = append(st.remove, k)
	}
	if s.RedirectPort < 0 || s.RedirectPort > 65535 {
		return nil, fmt.Errorf("edge: site %q: RedirectPort %d out of range", name, s.RedirectPort)
	}
	if strings.ContainsAny(s.OriginHost, " /\t\r\n") {
		return nil, fmt.Errorf("edge: site %q: bad OriginHost %q", name, s.OriginHost)
	}
	var err error
	if st.shield, st.shieldRegion, err = parseShield(s.Shield); err != nil {
		return nil, fmt.Errorf("edge: site %q: %w", name, err)
	}
	st.originPath = strings.TrimSuffix(s.Origin.EscapedPath(), "/")
	dialer := &net.Dialer{Timeout: s.ConnectTimeout, KeepAlive: 30 * time.Second}
	st.transport = &http.Transport{
		Proxy:                  nil, // never an environment proxy
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           2048,
		MaxIdleConnsPerHost:    1024,
		MaxConnsPerHost:        s.MaxOriginConns, // a backstop: the slots bound them first
		IdleConnTimeout:        90 * time.Second,
		TLSClientConfig:        s.OriginTLS.Clone(), // nil stays nil
		TLSHandshakeTimeout:    s.ConnectTimeout,
		ResponseHeaderTimeout:  s.FirstByteTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // bytes pass through as the origin encoded them
		MaxResponseHeaderBytes: maxResponseHeader,
		WriteBufferSize:        32 << 10,
		ReadBufferSize:         32 << 10,
	}
	return st, nil
}

// normalizeHost lower-cases a host name and drops a port and a trailing dot.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}

// siteFor returns the site for a request's Host (nil if none matches and
// there is no default site): an exact name, else the longest matching
// wildcard, else the default site. No allocation for lower-case hosts.
func (p *Proxy) siteFor(host string) *site {
	return p.table.Load().lookup(host)
}

// Close stops background fetches, waits for them and closes idle origin
// connections. It is idempotent; the Proxy must not serve afterwards.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
		for _, s := range p.table.Load().all {
			s.transport.CloseIdleConnections()
		}
		if p.peerClient != nil {
			p.peerClient.CloseIdleConnections()
		}
	})
}
