package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meshcdn/meshcdn/edge/httpcache"
	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/store"
)

// idleTimer cancels a fetch when the origin stays silent for too long
// while a body is read (the between-bytes timeout).
type idleTimer struct {
	t     *time.Timer
	d     time.Duration
	fired atomic.Bool
}

func newIdleTimer(d time.Duration, cancel context.CancelFunc) *idleTimer {
	it := &idleTimer{d: d}
	it.t = time.AfterFunc(d, func() {
		it.fired.Store(true)
		cancel()
	})
	it.t.Stop()
	return it
}

func (it *idleTimer) stop() { it.t.Stop() }

// timedBody applies an idle timeout to each Read: of an origin's response
// body (the between-bytes timeout, err nil = errBetweenBytes), or of a
// client's request body on its way to the origin (errClientBody).
type timedBody struct {
	rc  io.ReadCloser
	it  *idleTimer
	err error // what a Read cut short by the timer returns
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.it.t.Reset(b.it.d)
	n, err := b.rc.Read(p)
	b.it.t.Stop()
	if err != nil && err != io.EOF && b.it.fired.Load() {
		err = b.err
		if err == nil {
			err = errBetweenBytes
		}
	}
	return n, err
}

func (b *timedBody) Close() error { return b.rc.Close() }

var (
	errBetweenBytes = errors.New("origin between-bytes timeout")
	errClientBody   = errors.New("client request body timeout")
	errLoop         = errors.New("request loop: this node is already in Via")
)

// classify maps an origin error to the status the client gets and the
// fetch outcome label.
func classify(err error, it *idleTimer) (int, string) {
	var ne net.Error
	if errors.Is(err, errBetweenBytes) || (it != nil && it.fired.Load()) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout, fetchTimeout
	}
	return http.StatusBadGateway, fetchError
}

// Request header fields that describe the client's conditional or partial
// request; a cache fetch drops them to get a full, storable response.
var conditionalFields = []string{"If-None-Match", "If-Modified-Since", "If-Range", "Range", "If-Match", "If-Unmodified-Since"}

// The unkeyed request fields: origins and their frameworks build URLs and
// links from them, take the scheme, host, port or client address from
// them, or even the method and the path, but they are not part of the
// cache key, so a client's value would shape a response stored for
// everyone (cache poisoning). They are recognised in every spelling: letters
// in any case and '_' for '-' (CGI, WSGI, PHP and Rack read X_Forwarded_Host
// as X-Forwarded-Host). This is the one list; README.md ("Unkeyed request
// inputs") documents it.
type unkeyedKind uint8

const (
	// unkeyedForward: where the request came from (client address, scheme,
	// host, port, path prefix). Never passed on, pass requests included: the
	// edge states what it knows itself (X-Forwarded-For, X-Forwarded-Proto,
	// X-Forwarded-Host; see originHeader). Every X-Forwarded-* field is one.
	unkeyedForward unkeyedKind = 1 + iota
	// unkeyedOverride: method and URL overrides. Not passed on by a fetch
	// for the cache; a pass request keeps them (nothing is stored, and a
	// client behind a proxy that allows only GET and POST may send
	// POST with X-HTTP-Method-Override: PATCH).
	unkeyedOverride
)

// unkeyedFields are the unkeyed fields other than X-Forwarded-*, spelled in
// lower case with '-'.
var unkeyedFields = map[string]unkeyedKind{
	"forwarded":            unkeyedForward, // RFC 7239: for=, host=, proto=
	"front-end-https":      unkeyedForward,
	"x-url-scheme":         unkeyedForward,
	"x-host":               unkeyedForward,
	"x-original-host":      unkeyedForward,
	"x-http-host-override": unkeyedForward,
	"x-real-ip":            unkeyedForward,
	"true-client-ip":       unkeyedForward,
	"x-client-ip":          unkeyedForward,
	"x-cluster-client-ip":  unkeyedForward,

	"x-http-method-override": unkeyedOverride,
	"x-http-method":          unkeyedOverride,
	"x-method-override":      unkeyedOverride,
	"x-original-url":         unkeyedOverride,
	"x-original-uri":         unkeyedOverride,
	"x-rewrite-url":          unkeyedOverride,
}

const (
	forwardedPrefix = "X-Forwarded-"
	maxUnkeyedName  = 32 // longer than any name in unkeyedFields
)

// unkeyedKindOf says whether the field name k is unkeyed (0: it is not).
func unkeyedKindOf(k string) unkeyedKind {
	if len(k) >= len(forwardedPrefix) && foldedNameEqual(k[:len(forwardedPrefix)], forwardedPrefix) {
		return unkeyedForward
	}
	if len(k) > maxUnkeyedName {
		return 0
	}
	var buf [maxUnkeyedName]byte
	for i := 0; i < len(k); i++ {
		buf[i] = foldNameByte(k[i])
	}
	return unkeyedFields[string(buf[:len(k)])]
}

// removeUnkeyed deletes from h the unkeyed fields of the given kind, in
// every spelling.
func removeUnkeyed(h http.Header, kind unkeyedKind) {
	for k := range h {
		if unkeyedKindOf(k) == kind {
			delete(h, k)
		}
	}
}

var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// forwardedProto is the X-Forwarded-Proto the origin gets: the scheme of
// this hop, or the one a trusted proxy (a TLS-terminating load balancer)
// states. The returned slice is shared: never modify it.
func (p *Proxy) forwardedProto(r *http.Request) []string {
	if r.TLS != nil {
		return protoHTTPS
	}
	if v := r.Header["X-Forwarded-Proto"]; len(v) == 1 && (v[0] == "https" || v[0] == "http") && p.trustedPeer(r.RemoteAddr) {
		if v[0] == "https" {
			return protoHTTPS
		}
	}
	if pi := peerOf(r); pi != nil {
		return pi.proto // the original client's, as the child stated it
	}
	return protoHTTP
}

// trustedPeer reports whether the socket peer is a trusted proxy.
func (p *Proxy) trustedPeer(remoteAddr string) bool {
	t, ok := p.geo.(peerTruster)
	return ok && t.TrustedPeer(remoteAddr)
}

// clientIPer is implemented by a GeoResolver (*geo.Resolver) that finds the
// client's address behind trusted proxies.
type clientIPer interface {
	ClientIP(remoteAddr string, h http.Header) netip.Addr
}

// clientAddr is the client's address as the edge determined it: the socket
// peer, or the client a trusted proxy reported (the address geo used).
func (p *Proxy) clientAddr(r *http.Request) string {
	if pi := peerOf(r); pi != nil && pi.client != "" {
		return pi.client // the original client's, as the child stated it
	}
	if c, ok := p.geo.(clientIPer); ok {
		if a := c.ClientIP(r.RemoteAddr, r.Header); a.IsValid() {
			return a.String()
		}
	}
	return peerHost(r.RemoteAddr)
}

// originHeader copies the client's request header for the origin:
// hop-by-hop fields and the client's forwarding fields (unkeyedForward)
// removed. Then the fields the edge states itself are set, after the
// hop-by-hop removal, so that a Connection option naming one of them has no
// effect on it: X-Forwarded-For (the client address, one), X-Forwarded-Proto
// (the scheme, one), X-Forwarded-Host (the request's normalised Host), Via
// (the client's, then this node) and the site's geo fields that recv set.
// No Forwarded field is sent: the X-Forwarded-* ones say the same.
func (p *Proxy) originHeader(r *http.Request, s *site) http.Header {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	httpcache.RemoveHopByHop(h)
	removeUnkeyed(h, unkeyedForward)
	if c := p.clientAddr(r); c != "" {
		h["X-Forwarded-For"] = []string{c}
	}
	h["X-Forwarded-Proto"] = p.forwardedProto(r)
	if r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	via := viaProto(r) + " " + p.node + p.viaNote
	if prior := r.Header["Via"]; len(prior) > 0 {
		h["Via"] = []string{strings.Join(prior, ", ") + ", " + via}
	} else {
		h["Via"] = []string{via}
	}
	for _, k := range [...]string{s.countryKey, s.continentKey} {
		if v := r.Header[k]; len(v) > 0 { // set by recvGeo: the edge's
			h[k] = slices.Clone(v)
		}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // don't let the transport add its own
	}
	return h
}

// looped reports a request that already passed this node (its Via names
// us): forwarding it again would loop (RFC 9110 §7.6.3).
func (p *Proxy) looped(r *http.Request) bool {
	for _, v := range r.Header["Via"] {
		if viaContains(v, p.node) {
			return true
		}
	}
	return false
}

// viaContains reports whether a Via field value names node as a recipient.
func viaContains(v, node string) bool {
	for part := range strings.SplitSeq(v, ",") {
		f := strings.Fields(part)
		if len(f) >= 2 && f[1] == node {
			return true
		}
	}
	return false
}

func viaProto(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 3:
		return "3"
	}
	return "1.1"
}

func peerHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// originRequest builds the request to s's origin for the client request r.
func (p *Proxy) originRequest(ctx context.Context, s *site, method string, r *http.Request, h http.Header) *http.Request {
	u := &url.URL{Scheme: s.Origin.Scheme, Host: s.Origin.Host, User: s.Origin.User, RawQuery: r.URL.RawQuery}
	path, raw := r.URL.Path, r.URL.RawPath
	if path == "" || path[0] != '/' {
		path, raw = "/"+path, ""
	}
	if s.originPath != "" {
		u.RawPath = s.originPath + r.URL.EscapedPath()
		if un, err := url.PathUnescape(u.RawPath); err == nil {
			u.Path = un
		} else {
			u.Path, u.RawPath = s.Origin.Path+path, ""
		}
	} else {
		u.Path, u.RawPath = path, raw
	}
	out := (&http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       r.Host,
	}).WithContext(ctx)
	if s.OriginHost != "" {
		out.Host = s.OriginHost // what the origin sees; the cache key keeps the client's Host
	}
	if out.Host == "" {
		out.Host = s.Origin.Host
	}
	return out
}

// fetchHeader is the origin request header for a cache fetch (GET) made on
// behalf of r: no unkeyed field of any kind; with a stale object it becomes
// a conditional request.
func (p *Proxy) fetchHeader(r *http.Request, s *site, stale *store.Object) http.Header {
	h := p.originHeader(r, s)
	for _, f := range conditionalFields {
		delete(h, f)
	}
	removeUnkeyed(h, unkeyedOverride)
	if ae := h["Accept-Encoding"]; len(ae) > 0 {
		if n := httpcache.NormalizeAcceptEncoding(strings.Join(ae, ",")); n != "" {
			h["Accept-Encoding"] = []string{n}
		} else {
			delete(h, "Accept-Encoding")
		}
	}
	if al := h["Accept-Language"]; len(al) > 0 {
		// The form the variant key uses (secondaryKey): requests that share
		// a variant must not be told apart by the origin.
		if n, ok := httpcache.NormalizeAcceptLanguage(al); ok && n == "" {
			delete(h, "Accept-Language")
		} else if ok && (len(al) != 1 || al[0] != n) {
			h["Accept-Language"] = []string{n}
		}
	}
	if stale != nil {
		if v := stale.Header["Etag"]; len(v) > 0 && v[0] != "" {
			h["If-None-Match"] = []string{v[0]}
		}
		if v := stale.Header["Last-Modified"]; len(v) > 0 && v[0] != "" {
			h["If-Modified-Since"] = []string{v[0]}
		}
	}
	return h
}

// responseVary returns the response's Vary fields plus the site's own
// (VaryGeo), canonical and sorted, and whether it said "Vary: *".
func responseVary(s *site, h http.Header) ([]string, bool) {
	fields, star := httpcache.ParseVary(h["Vary"])
	if star {
		return nil, true
	}
	if len(s.varyGeo) == 0 {
		return fields, false
	}
	out := slices.Clone(fields)
	for _, f := range s.varyGeo {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	if len(out) != len(fields) {
		h["Vary"] = []string{strings.Join(out, ", ")}
	}
	return out, false
}

// surrogateKeys returns the object's surrogate keys from Surrogate-Key and
// Cache-Groups, counting what the limits made us ignore. Each Cache-Groups
// group is indexed twice: under its name (so a purge by key reaches it,
// like a Surrogate-Key) and under s.groupKey (the site-scoped key that
// Cache-Group-Invalidation purges, RFC 9875 §3).
func (p *Proxy) surrogateKeys(s *site, h http.Header) []string {
	var keys []string
	dropped := 0
	if v := h["Surrogate-Key"]; len(v) > 0 {
		keys, dropped = httpcache.ParseSurrogateKeys(v)
	}
	if v := h["Cache-Groups"]; len(v) > 0 {
		if groups, ok := httpcache.ParseCacheGroups(v); ok {
			keys = append(keys, groups...)
			for _, g := range groups {
				keys = append(keys, s.groupKey(g))
			}
			dropped += oversizeGroups(v) // skipped by the parser
		} else if size := fieldSize(v); size > httpcache.MaxHeaderBytes {
			dropped++ // the whole field is ignored
		}
	}
	if len(keys) > 1 {
		slices.Sort(keys)
		keys = slices.Compact(keys)
	}
	if len(keys) > maxKeysPerObject {
		dropped += len(keys) - maxKeysPerObject
		keys = keys[:maxKeysPerObject]
	}
	if dropped > 0 {
		p.m.keysDropped.Add(float64(dropped))
	}
	return keys
}

// groupScope separates the parts of a site-scoped group key; it cannot
// occur in a Cache-Groups string (printable ASCII) or a Surrogate-Key token.
const groupScope = "\x1f"

// groupKey is the surrogate key under which this site's Cache-Groups group
// is indexed for Cache-Group-Invalidation: RFC 9875 §3 scopes groups to
// the origin, so another site's response naming the same group is not
// invalidated. Keys longer than purgegate.MaxKeyBytes (the cluster's limit)
// are hashed.
func (s *site) groupKey(group string) string {
	k := groupScope + "cg" + groupScope + s.name + groupScope + group
	if len(k) > purgegate.MaxKeyBytes {
		sum := sha256.Sum256([]byte(k))
		return groupScope + "cg-sha256" + groupScope + hex.EncodeToString(sum[:])
	}
	return k
}

// oversizeGroups counts the strings in a Cache-Groups field longer than
// purgegate.MaxKeyBytes, which ParseCacheGroups leaves out silently.
func oversizeGroups(values []string) int {
	n := 0
	for _, v := range values {
		in, l := false, 0
		for i := 0; i < len(v); i++ {
			c := v[i]
			if !in {
				if c == '"' {
					in, l = true, 0
				}
				continue
			}
			switch c {
			case '\\':
				i++
				l++
			case '"':
				in = false
				if l > purgegate.MaxKeyBytes {
					n++
				}
			default:
				l++
			}
		}
	}
	return n
}

func fieldSize(values []string) int {
	n := 0
	for _, v := range values {
		n += len(v)
	}
	return n
}

// keepFor is how long a stale object with validators stays for revalidation.
func keepFor(h http.Header, lifetime time.Duration) time.Duration {
	if len(h["Etag"]) == 0 && len(h["Last-Modified"]) == 0 {
		return 0
	}
	return min(max(lifetime, 10*time.Minute), 24*time.Hour)
}

// addVia appends this node to the response's Via.
func (p *Proxy) addVia(h http.Header) {
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = []string{strings.Join(prior, ", ") + ", " + p.via}
	} else {
		h["Via"] = p.viaVal
	}
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(remote)
	return a
}
