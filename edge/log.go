package edge

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// statusClientClosed is the status logged for a request whose client left
// before it was answered (nginx's 499); nothing is sent.
const statusClientClosed = 499

// finish counts the request and writes the access log line: at Debug for
// hits and stale hits (so the hit path formats nothing unless asked), at
// Info otherwise. Fields are built only when the level is enabled.
func (p *Proxy) finish(rq *request) {
	switch {
	case rq.peer != nil:
		// Another node's miss (shielding): counted there as the client's
		// request, here in meshcdn_edge_peer_requests_total.
	case rq.s != nil:
		rq.s.m.reqs[rq.result].Inc()
		rq.s.m.latency[rq.result].observe(time.Since(rq.start))
		p.m.continents[continentIndex(rq.loc.Continent)].Inc()
	default:
		p.m.noSite.Inc()
		p.m.continents[continentIndex(rq.loc.Continent)].Inc()
	}
	lvl := zapcore.InfoLevel
	if rq.result == resHit || rq.result == resStale {
		lvl = zapcore.DebugLevel
	}
	ce := p.log.Check(lvl, "request")
	if ce == nil {
		return
	}
	r := rq.r
	site := ""
	if rq.s != nil {
		site = rq.s.name
	}
	client := rq.client
	if !client.IsValid() {
		client = peerAddr(r.RemoteAddr)
	}
	fields := []zap.Field{
		zap.String("method", r.Method),
		zap.String("proto", r.Proto),
		zap.Bool("tls", r.TLS != nil),
		zap.String("host", r.Host),
		zap.String("path", r.URL.Path),
		zap.Int("status", rq.status),
		zap.String("result", resultNames[rq.result]),
		zap.Int64("bytes", rq.bytes),
		zap.Duration("duration", time.Since(rq.start)),
		zap.Stringer("client_ip", client),
		zap.String("country", orUnknown(rq.loc.Country)),
		zap.String("continent", orUnknown(rq.loc.Continent)),
		zap.String("site", site),
	}
	if rq.err != nil {
		fields = append(fields, zap.Error(rq.err))
	}
	if rq.aborted != nil {
		fields = append(fields, zap.NamedError("aborted", rq.aborted))
	}
	if rq.store != "" {
		fields = append(fields, zap.String("store", rq.store))
	}
	if rq.peer != nil {
		fields = append(fields, zap.String("peer", rq.peer.from)) // served for another node (shielding)
	}
	ce.Write(fields...)
}

func orUnknown(s string) string {
	if s == "" {
		return "XX"
	}
	return s
}

func zapSite(s *site) zap.Field        { return zap.String("site", s.name) }
func zapURL(r *http.Request) zap.Field { return zap.String("url", r.URL.Redacted()) }
func zapErr(err error) zap.Field       { return zap.Error(err) }
func zapStatus(code int) zap.Field     { return zap.Int("status", code) }
func zapKey(k string) zap.Field        { return zap.String("key", k) }
func zapInt(k string, v int) zap.Field { return zap.Int(k, v) }
