package purgegate

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
)

// Reasons a purge is refused: the reason label of
// meshcdn_edge_purge_denied_total and meshcdn_api_purge_denied_total.
const (
	ReasonMissingToken = "missing_token" // no token presented (401)
	ReasonBadToken     = "bad_token"     // a token that is not the purge token, or none configured (403)
)

// Reasons lists every reason label, for initialising counters at zero.
var Reasons = []string{ReasonMissingToken, ReasonBadToken}

// ClientResolver finds a request's client address from its socket peer and,
// when that peer is a trusted proxy, the address the proxy reports;
// *geo.Resolver implements it.
type ClientResolver interface {
	ClientIP(remoteAddr string, h http.Header) netip.Addr
}

// Config configures a Gate.
type Config struct {
	// Token is the purge token; "" = none: only Allow admits purges.
	Token string
	// Allow lists the client addresses admitted without the token.
	Allow []netip.Prefix
	// Clients resolves the client address Allow is checked against; nil:
	// the socket peer is the client (a listener without trusted proxies).
	Clients ClientResolver
}

// Gate decides who may purge through one listener. It is safe for
// concurrent use.
type Gate struct {
	hash    [sha256.Size]byte
	token   bool
	allow   []netip.Prefix
	clients ClientResolver
}

// New validates cfg and returns its Gate.
func New(cfg Config) (*Gate, error) {
	g := &Gate{clients: cfg.Clients}
	if cfg.Token != "" {
		if err := CheckToken(cfg.Token); err != nil {
			return nil, fmt.Errorf("purgegate: %w", err)
		}
		g.hash, g.token = sha256.Sum256([]byte(cfg.Token)), true
	}
	for _, p := range cfg.Allow {
		if !p.IsValid() {
			return nil, errors.New("purgegate: invalid allow-list prefix")
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// HasToken reports whether a purge token is configured.
func (g *Gate) HasToken() bool { return g.token }

// Verdict is the Gate's answer for one request.
type Verdict struct {
	Reason string     // "" = allowed, else one of Reasons
	By     string     // how it was allowed: "token" or "address"
	Client netip.Addr // the client address checked against the allow-list (when there is one)
}

// OK reports whether the purge may go ahead.
func (v Verdict) OK() bool { return v.Reason == "" }

// Check decides on r: allowed when the client address is in the allow-list
// or the request presents the purge token. The client address is the
// socket peer's, or — the peer being a trusted proxy — the one the proxy
// reports (Config.Clients): a proxy on an allowed address does not lend its
// address to the clients it forwards.
func (g *Gate) Check(r *http.Request) Verdict {
	var v Verdict
	if len(g.allow) > 0 {
		v.Client = g.client(r)
		if v.Client.IsValid() {
			for _, p := range g.allow {
				if p.Contains(v.Client) {
					v.By = "address"
					return v
				}
			}
		}
	}
	tok, present, malformed := Token(r.Header)
	switch {
	case !present:
		v.Reason = ReasonMissingToken
	case malformed || !g.token:
		v.Reason = ReasonBadToken
	default:
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], g.hash[:]) != 1 {
			v.Reason = ReasonBadToken
		} else {
			v.By = "token"
		}
	}
	return v
}

func (g *Gate) client(r *http.Request) netip.Addr {
	if g.clients != nil {
		return g.clients.ClientIP(r.RemoteAddr, r.Header).Unmap().WithZone("")
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// Refusal is the answer to a refused purge, the same on both listeners:
// 401 with WWW-Authenticate when no token was presented, 403 for a wrong
// one, and a JSON body {"status":"error","error":…,"msg":…} (Fastly's
// errors carry "msg").
func (v Verdict) Refusal() (status int, header http.Header, body []byte) {
	status, msg := http.StatusForbidden, "purge token not accepted"
	header = http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	if v.Reason == ReasonMissingToken {
		status, msg = http.StatusUnauthorized, "purge token required: send Fastly-Key or Authorization: Bearer"
		header["Www-Authenticate"] = []string{`Bearer realm="meshcdn purge"`}
	}
	body, _ = json.Marshal(struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Msg    string `json:"msg"`
	}{"error", msg, msg})
	body = append(body, '\n')
	header["Content-Length"] = []string{strconv.Itoa(len(body))}
	return status, header, body
}

// Refuse writes v.Refusal to w and returns the status and the bytes written.
func (v Verdict) Refuse(w http.ResponseWriter) (status, n int) {
	status, hdr, body := v.Refusal()
	for k, vv := range hdr {
		w.Header()[k] = vv
	}
	w.WriteHeader(status)
	n, _ = w.Write(body)
	return status, n
}
