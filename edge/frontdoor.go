package edge

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// acmePrefix is the path ACME HTTP-01 challenges use (RFC 8555 §8.3): it
// stays on plain HTTP when a site redirects to HTTPS.
const acmePrefix = "/.well-known/acme-challenge/"

// redirectHTTPS answers 308 to the https URL of r when s redirects plain
// HTTP and r came over plain HTTP (not TLS, and not from a trusted proxy
// saying X-Forwarded-Proto: https). It reports whether it answered.
func (p *Proxy) redirectHTTPS(w http.ResponseWriter, rq *request, s *site) bool {
	r := rq.r
	if !s.RedirectHTTP || strings.HasPrefix(r.URL.Path, acmePrefix) || p.forwardedProto(r)[0] == "https" {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
		if strings.IndexByte(h, ':') >= 0 {
			host = "[" + h + "]"
		}
	}
	if s.RedirectPort != 0 && s.RedirectPort != 443 {
		host += ":" + strconv.Itoa(s.RedirectPort)
	}
	target := "https://" + host + r.URL.RequestURI()
	h := w.Header()
	h["Location"] = []string{target}
	h["Cache-Control"] = noStoreVal
	h["Content-Type"] = textPlain
	body := "308 Permanent Redirect: " + target + "\n"
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	rq.status = http.StatusPermanentRedirect
	w.WriteHeader(http.StatusPermanentRedirect)
	if r.Method != http.MethodHead {
		n, _ := w.Write([]byte(body))
		rq.bytes = int64(n)
	}
	return true
}

// removeWriter removes a site's ResponseRemove fields from the header just
// before it is sent, whatever stage writes it.
type removeWriter struct {
	http.ResponseWriter
	names []string
	sent  bool
}

func (w *removeWriter) strip() {
	if !w.sent {
		w.sent = true
		h := w.ResponseWriter.Header()
		for _, k := range w.names {
			delete(h, k)
		}
	}
}

func (w *removeWriter) WriteHeader(code int) {
	if code >= 200 {
		w.strip()
	} else {
		h := w.ResponseWriter.Header()
		for _, k := range w.names {
			delete(h, k)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *removeWriter) Write(b []byte) (int, error) {
	w.strip()
	return w.ResponseWriter.Write(b)
}

func (w *removeWriter) Flush() {
	w.strip()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *removeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
