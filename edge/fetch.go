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

// Request header fields that origins and their frameworks use to build
// URLs or to route, but that are not part of the cache key: a client's
// value would shape a response stored for everyone (unkeyed-header cache
// poisoning). A cache fetch drops them; X-Forwarded-Host is then set to the
// request's Host. Pass requests (nothing stored) keep them.
var unkeyedFields = []string{"X-Forwarded-Host", "X-Forwarded-Server", "X-Original-Url", "X-Rewrite-Url"}

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
	return protoHTTP
}

// trustedPeer reports whether the socket peer is a trusted proxy.
func (p *Proxy) trustedPeer(remoteAddr string) bool {
	t, ok := p.geo.(peerTruster)
	return ok && t.TrustedPeer(remoteAddr)
}

// originHeader copies the client's request header for the origin:
// hop-by-hop fields removed, X-Forwarded-For / -Proto / -Host and Via set.
func (p *Proxy) originHeader(r *http.Request) http.Header {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	httpcache.RemoveHopByHop(h)
	if peer := peerHost(r.RemoteAddr); peer != "" {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			h["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + peer}
		} else {
			h["X-Forwarded-For"] = []string{peer}
		}
	}
	if _, ok := h["X-Forwarded-Proto"]; !ok { // recv sets it; a request that skipped recv gets it here
		h["X-Forwarded-Proto"] = p.forwardedProto(r)
	}
	if _, ok := h["X-Forwarded-Host"]; !ok && r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	via := viaProto(r) + " " + p.node
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = []string{strings.Join(prior, ", ") + ", " + via}
	} else {
		h["Via"] = []string{via}
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
	if out.Host == "" {
		out.Host = s.Origin.Host
	}
	return out
}

// fetchHeader is the origin request header for a cache fetch (GET) made on
// behalf of r; with a stale object it becomes a conditional request.
func (p *Proxy) fetchHeader(r *http.Request, stale *store.Object) http.Header {
	h := p.originHeader(r)
	for _, f := range conditionalFields {
		delete(h, f)
	}
	for _, f := range unkeyedFields {
		delete(h, f)
	}
	if r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
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
// invalidated. Keys longer than httpcache.MaxKeyBytes (the cluster's limit)
// are hashed.
func (s *site) groupKey(group string) string {
	k := groupScope + "cg" + groupScope + s.name + groupScope + group
	if len(k) > httpcache.MaxKeyBytes {
		sum := sha256.Sum256([]byte(k))
		return groupScope + "cg-sha256" + groupScope + hex.EncodeToString(sum[:])
	}
	return k
}

// oversizeGroups counts the strings in a Cache-Groups field longer than
// httpcache.MaxKeyBytes, which ParseCacheGroups leaves out silently.
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
				if l > httpcache.MaxKeyBytes {
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
