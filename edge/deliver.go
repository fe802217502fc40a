package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meshcdn/meshcdn/edge/httpcache"
	"github.com/meshcdn/meshcdn/store"
)

// Pre-built header values, shared read-only by every response.
var (
	xcacheHit      = []string{"HIT"}
	xcacheMiss     = []string{"MISS"}
	xcachePass     = []string{"PASS"}
	textPlain      = []string{"text/plain; charset=utf-8"}
	noStoreVal     = []string{"no-store"}
	zeroLength     = []string{"0"}
	contentTypeAbs []string // nil: suppresses net/http's content sniffing
)

// Values for Age and hit Cache-Status are built once per second of age or
// ttl and reused, so a hit formats nothing.
const statusTableSize = 1 << 15

var ageTable [statusTableSize]atomic.Pointer[[]string]

func ageValue(d time.Duration) []string {
	secs := int64(d / time.Second)
	if secs < 0 {
		secs = 0
	}
	if secs >= statusTableSize {
		return []string{strconv.FormatInt(min(secs, 1<<31), 10)}
	}
	if v := ageTable[secs].Load(); v != nil {
		return *v
	}
	v := []string{strconv.FormatInt(secs, 10)}
	ageTable[secs].Store(&v)
	return v
}

type statusTable struct {
	node string
	hit  *[statusTableSize]atomic.Pointer[[]string]
}

func (t *statusTable) init(node string) {
	t.node = node
	t.hit = new([statusTableSize]atomic.Pointer[[]string])
}

// hitValue is the Cache-Status of a fresh hit with ttl left.
func (t *statusTable) hitValue(ttl time.Duration) []string {
	secs := int64(ttl / time.Second)
	if secs < 0 || secs >= statusTableSize {
		return []string{httpcache.CacheStatus{Hit: true, TTL: ttl, HasTTL: true}.Format(t.node)}
	}
	if v := t.hit[secs].Load(); v != nil {
		return *v
	}
	v := []string{httpcache.CacheStatus{Hit: true, TTL: time.Duration(secs) * time.Second, HasTTL: true}.Format(t.node)}
	t.hit[secs].Store(&v)
	return v
}

func (t *statusTable) format(cs httpcache.CacheStatus) []string {
	return []string{cs.Format(t.node)}
}

// setCacheStatus adds this cache's Cache-Status member after those of the
// caches before it (RFC 9211 §2: the field is a list, origin side first).
func setCacheStatus(h, upstream http.Header, cs []string) {
	if up := upstream["Cache-Status"]; len(up) > 0 {
		h["Cache-Status"] = append(up[:len(up):len(up)], cs...)
		return
	}
	h["Cache-Status"] = cs
}

// isSurrogateField: response fields meant for this cache, removed from
// what clients see unless they send the debug header.
func isSurrogateField(k string) bool {
	switch k {
	case "Surrogate-Key", "Surrogate-Control", "Cache-Groups":
		return true
	}
	return false
}

// copyHeader copies src into dst sharing the value slices (never modified).
func copyHeader(dst, src http.Header, debug bool) {
	for k, v := range src {
		if !debug && isSurrogateField(k) {
			continue
		}
		dst[k] = v
	}
	if _, ok := src["Content-Type"]; !ok {
		dst["Content-Type"] = contentTypeAbs
	}
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// deliverObject answers from a stored object: headers, Age, X-Cache,
// Cache-Status; then preconditions (304/412), Range (206/416), HEAD.
func (p *Proxy) deliverObject(w http.ResponseWriter, rq *request, o *store.Object, age time.Duration, xcache, cs []string) {
	h := w.Header()
	copyHeader(h, o.Header, rq.debug)
	h["Age"] = ageValue(age)
	h["X-Cache"] = xcache
	setCacheStatus(h, o.Header, cs)
	p.deliverBytes(w, rq, h, o.Status, o.Header, o.Body)
}

// deliverBytes finishes a response whose whole body is known.
func (p *Proxy) deliverBytes(w http.ResponseWriter, rq *request, h http.Header, status int, stored http.Header, body []byte) {
	r := rq.r
	if status >= 200 && status < 300 && rq.facts&hasPrecondition != 0 {
		if code := httpcache.Preconditions(r.Method, r.Header, status, stored); code != 0 {
			p.writePrecondition(w, rq, h, code)
			return
		}
	}
	if status == http.StatusOK && r.Method == http.MethodGet && rq.facts&hasRange != 0 {
		if p.serveRange(w, rq, h, stored, body) {
			return
		}
	}
	rq.status = status
	w.WriteHeader(status)
	if r.Method == http.MethodHead || !bodyAllowed(status) {
		return
	}
	n, _ := w.Write(body)
	rq.bytes = int64(n)
}

// notModifiedField: the stored fields a 304 generated from the cache
// carries (RFC 9110 §15.4.5): Cache-Control, Content-Location, Date, ETag,
// Expires and Vary, Last-Modified (it guides cache updates), CDN-Cache-Control
// (Cache-Control for downstream CDNs, RFC 9213), and the cache's own Age,
// Via, X-Cache and Cache-Status. Representation metadata of the body
// (Content-Type, Content-Encoding, Content-Length, …) and other stored
// fields are left out.
func notModifiedField(k string) bool {
	switch k {
	case "Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary", "Last-Modified",
		"Cdn-Cache-Control", "Age", "Via", "X-Cache", "Cache-Status":
		return true
	}
	return false
}

// writePrecondition answers 304 Not Modified (with the fields of
// notModifiedField) or 412 Precondition Failed.
func (p *Proxy) writePrecondition(w http.ResponseWriter, rq *request, h http.Header, code int) {
	rq.status = code
	if code == http.StatusNotModified {
		for k := range h {
			if !notModifiedField(k) && !(rq.debug && isSurrogateField(k)) {
				delete(h, k)
			}
		}
		w.WriteHeader(code)
		return
	}
	delete(h, "Etag")
	delete(h, "Last-Modified")
	h["Content-Type"] = textPlain
	msg := "412 Precondition Failed\n"
	h["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.WriteHeader(code)
	if rq.r.Method != http.MethodHead {
		n, _ := io.WriteString(w, msg)
		rq.bytes = int64(n)
	}
}

// serveRange answers a Range request from a complete body (RFC 9110 §14):
// 206 with one range or multipart/byteranges, 416 if unsatisfiable. false:
// ignore the Range (invalid, or If-Range did not match) and send it all.
func (p *Proxy) serveRange(w http.ResponseWriter, rq *request, h, stored http.Header, body []byte) bool {
	r := rq.r
	rv := r.Header["Range"]
	if len(rv) != 1 || !httpcache.IfRangeMatches(r.Header, stored) {
		return false
	}
	size := int64(len(body))
	ranges, err := httpcache.ParseRange(rv[0], size)
	if errors.Is(err, httpcache.ErrUnsatisfiable) {
		h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		h["Content-Length"] = zeroLength
		delete(h, "Content-Type")
		rq.status = http.StatusRequestedRangeNotSatisfiable
		w.WriteHeader(rq.status)
		return true
	}
	if err != nil || len(ranges) == 0 {
		return false
	}
	rq.status = http.StatusPartialContent
	if len(ranges) == 1 {
		rg := ranges[0]
		h["Content-Range"] = []string{contentRange(rg, size)}
		h["Content-Length"] = []string{strconv.FormatInt(rg.Length(), 10)}
		w.WriteHeader(rq.status)
		n, _ := w.Write(body[rg.Start : rg.End+1])
		rq.bytes = int64(n)
		return true
	}
	var rb [12]byte
	_, _ = rand.Read(rb[:])
	boundary := "meshcdn-" + hex.EncodeToString(rb[:])
	ct := ""
	if v := stored["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	heads := make([]string, len(ranges))
	total := int64(0)
	for i, rg := range ranges {
		head := "\r\n--" + boundary + "\r\n"
		if ct != "" {
			head += "Content-Type: " + ct + "\r\n"
		}
		head += "Content-Range: " + contentRange(rg, size) + "\r\n\r\n"
		heads[i] = head
		total += int64(len(head)) + rg.Length()
	}
	tail := "\r\n--" + boundary + "--\r\n"
	total += int64(len(tail))
	h["Content-Type"] = []string{"multipart/byteranges; boundary=" + boundary}
	h["Content-Length"] = []string{strconv.FormatInt(total, 10)}
	delete(h, "Content-Range")
	w.WriteHeader(rq.status)
	for i, rg := range ranges {
		n, err := io.WriteString(w, heads[i])
		rq.bytes += int64(n)
		if err != nil {
			return true
		}
		n, err = w.Write(body[rg.Start : rg.End+1])
		rq.bytes += int64(n)
		if err != nil {
			return true
		}
	}
	n, _ := io.WriteString(w, tail)
	rq.bytes += int64(n)
	return true
}

// streamRange answers a request for one satisfiable range of a body that
// is still arriving and whose length the origin announced: 206 at once,
// then the range's bytes as the fetch delivers them, so that nobody waits
// for a whole large object before the first byte of its range. false (and
// nothing written): anything else — several ranges, an unknown length, an
// unsatisfiable or invalid range — which the caller answers from the
// complete body.
func (p *Proxy) streamRange(w http.ResponseWriter, rq *request, h http.Header, rd *bodyReader, size int64) bool {
	rv := rq.r.Header["Range"]
	if len(rv) != 1 || size <= 0 {
		return false
	}
	ranges, err := httpcache.ParseRange(rv[0], size)
	if err != nil || len(ranges) != 1 {
		return false
	}
	rg := ranges[0]
	h["Content-Range"] = []string{contentRange(rg, size)}
	h["Content-Length"] = []string{strconv.FormatInt(rg.Length(), 10)}
	rq.status = http.StatusPartialContent
	w.WriteHeader(rq.status)
	fl, _ := w.(http.Flusher)
	ctx := rq.r.Context()
	for off := int64(0); off <= rg.End; {
		chunk, err := rd.next(ctx)
		if n := int64(len(chunk)); n > 0 {
			lo, hi := max(rg.Start-off, 0), min(n, rg.End+1-off)
			off += n
			if lo < hi {
				m, werr := w.Write(chunk[lo:hi])
				rq.bytes += int64(m)
				if werr != nil {
					return true // the client went away
				}
				if fl != nil {
					fl.Flush()
				}
			}
		}
		if err != nil {
			if err != io.EOF && ctx.Err() == nil {
				rq.aborted = err
			}
			return true
		}
	}
	return true
}

func contentRange(rg httpcache.ByteRange, size int64) string {
	return "bytes " + strconv.FormatInt(rg.Start, 10) + "-" + strconv.FormatInt(rg.End, 10) + "/" + strconv.FormatInt(size, 10)
}

// deliverStream answers from a body still being fetched.
func (p *Proxy) deliverStream(w http.ResponseWriter, rq *request, f *flight, rd *bodyReader, leader bool, xcache, cs []string) {
	r := rq.r
	res := &f.res
	src := res.header
	if leader {
		src = res.leaderHeader
	}
	h := w.Header()
	copyHeader(h, src, rq.debug)
	h["Age"] = ageValue(res.initialAge + time.Since(res.respTime))
	h["X-Cache"] = xcache
	setCacheStatus(h, src, cs)
	status := res.status
	if status >= 200 && status < 300 && rq.facts&hasPrecondition != 0 {
		if code := httpcache.Preconditions(r.Method, r.Header, status, src); code != 0 {
			p.writePrecondition(w, rq, h, code)
			return
		}
	}
	if r.Method == http.MethodHead || !bodyAllowed(status) {
		rq.status = status
		w.WriteHeader(status)
		return
	}
	if status == http.StatusOK && rq.facts&hasRange != 0 && httpcache.IfRangeMatches(r.Header, src) {
		// A range of a miss: the whole object is fetched. One range of a
		// body of known length streams as soon as the fetch reaches it;
		// otherwise the range is cut from the complete body (or, if it
		// cannot be kept, everything is sent).
		if p.streamRange(w, rq, h, rd, res.size) {
			return
		}
		if body, ok := rd.waitComplete(r.Context()); ok {
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			if p.serveRange(w, rq, h, src, body) {
				return
			}
		}
	}
	rq.status = status
	w.WriteHeader(status)
	fl, _ := w.(http.Flusher)
	ctx := r.Context()
	for {
		chunk, err := rd.next(ctx)
		if len(chunk) > 0 {
			n, werr := w.Write(chunk)
			rq.bytes += int64(n)
			if werr != nil {
				return // the client went away
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				rq.aborted = err
			}
			return
		}
	}
}

// copyResponse streams an origin response that is not stored (pass, or an
// uncacheable miss) to the client.
func (p *Proxy) copyResponse(w http.ResponseWriter, rq *request, resp *http.Response, xcache, cs []string) {
	r := rq.r
	h := w.Header()
	copyHeader(h, resp.Header, rq.debug)
	h["X-Cache"] = xcache
	setCacheStatus(h, resp.Header, cs)
	rq.status = resp.StatusCode
	if r.Method == http.MethodHead || !bodyAllowed(resp.StatusCode) {
		w.WriteHeader(resp.StatusCode)
		return
	}
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			rq.bytes += int64(m)
			if werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) || r.Context().Err() == nil {
				rq.aborted = err
			}
			return
		}
	}
}

// synth answers with a short text body generated by the edge.
func (p *Proxy) synth(w http.ResponseWriter, rq *request, code int, msg string, xcache, cs []string) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	body := strconv.Itoa(code) + " " + http.StatusText(code) + ": " + msg + "\n"
	h["Content-Type"] = textPlain
	h["Cache-Control"] = noStoreVal
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if code == http.StatusServiceUnavailable {
		h["Retry-After"] = retryAfterBusy // the origin's connections are all taken
	}
	if xcache != nil {
		h["X-Cache"] = xcache
	}
	if cs != nil {
		h["Cache-Status"] = cs
	}
	rq.status = code
	rq.result = resSynth
	w.WriteHeader(code)
	if rq.r.Method != http.MethodHead {
		n, _ := io.WriteString(w, body)
		rq.bytes = int64(n)
	}
}
