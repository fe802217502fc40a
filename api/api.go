// Package api is the admin listener of a meshcdn node: the purge API (native
// JSON and Fastly-compatible), cluster membership, store statistics, health
// and Prometheus metrics.
//
// Purges are accepted here, checked by the purge gate (package
// edge/purgegate, shared with PURGE on the edge listener: the token, its
// refusals and their metric labels, the key and URL limits) and handed to
// the cluster (cluster.Node.Purge), which stamps them, applies them locally
// and fans them out to every live member. Without a cluster (Config.Cluster
// nil) purges are applied to the local store only (purgegate.Local).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/meshcdn/meshcdn/cluster"
	"github.com/meshcdn/meshcdn/edge/purgegate"
	"github.com/meshcdn/meshcdn/store"
)

// Limits on purge requests (one key and one URL: purgegate.MaxKeyBytes,
// purgegate.MaxURLBytes).
const (
	MaxBodyBytes       = 1 << 20 // native and Fastly JSON bodies
	MaxKeys            = 10000   // keys + urls in one native purge
	MaxFastlyKeys      = 256     // keys in one Fastly bulk purge
	DefaultWaitTimeout = 5 * time.Second
)

// Config configures the admin handler.
type Config struct {
	Store        *store.Store  // required
	Cluster      *cluster.Node // nil: purges apply to Store only
	Token        string        // purge token (the purge gate's); "" needs AllowNoToken
	AllowNoToken bool          // accept purges without a token (loopback admin listener only)
	Logger       *zap.Logger
	Registerer   prometheus.Registerer // nil: metrics not registered
	Gatherer     prometheus.Gatherer   // served on /metrics; nil: /metrics answers 404
	WaitTimeout  time.Duration         // longest wait for acks (?wait=all); default 5s
	// Draining, when set and true, makes /readyz answer 503: the node is
	// shutting down and serves on only until load balancers notice.
	Draining func() bool
	// IsolationUnready > 0: /readyz answers 503 once the node has heard
	// from no member that has not left the cluster for longer than this
	// (it may be missing purges); 0: off.
	IsolationUnready time.Duration
	// TLSStatus, when set, is /readyz's "tls" detail: the automatic
	// HTTPS certificates (it does not change readiness).
	TLSStatus func() any
	// GatherTimeout bounds gathering the cluster's view from the members
	// (/cluster/purges, /cluster/stats): those that have not answered by
	// then are named as unreachable; default 2s.
	GatherTimeout time.Duration
}

type handler struct {
	cfg   Config
	log   *zap.Logger
	gate  *purgegate.Gate // nil: AllowNoToken without a token
	mux   *http.ServeMux
	local *purgegate.Local // purges when there is no cluster

	client *http.Client // gathering from members (gather.go)
	rates  *sampler     // counters sampled for /stats (rates.go)

	purges   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	denied   *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// New returns the admin handler. It fails when the configuration is unsafe
// (no token and AllowNoToken not set) or metrics cannot be registered.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is required")
	}
	if cfg.Token == "" && !cfg.AllowNoToken {
		return nil, errors.New("api: a purge token is required (no token is allowed only on a loopback admin listener)")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = DefaultGatherTimeout
	}
	h := &handler{
		cfg: cfg,
		log: cfg.Logger,
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_api_purges_total",
			Help: "Purges accepted by the admin API, by kind (key, url, mixed, all) and soft (true/false).",
		}, []string{"kind", "soft"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshcdn_api_purge_duration_seconds",
			Help:    "Time to accept a purge: local apply, plus waiting for acks when wait=all.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"wait"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_api_purge_denied_total",
			Help: "Purge requests refused for authentication, by reason (missing_token, bad_token).",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshcdn_api_purge_rejected_total",
			Help: "Purge requests refused as invalid, by reason.",
		}, []string{"reason"}),
	}
	if cfg.Token != "" {
		// The admin listener can purge everything: only the token opens it,
		// whatever the caller's address (no allow-list).
		g, err := purgegate.New(purgegate.Config{Token: cfg.Token})
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		h.gate = g
	}
	if cfg.Cluster == nil {
		h.local = purgegate.NewLocal(cfg.Store)
	}
	h.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}}
	h.rates = newSampler(cfg.Gatherer)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.purges, h.duration, h.denied, h.rejected} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("api: register metrics: %w", err)
			}
		}
	}
	for _, r := range []string{reasonTooLarge, reasonBadJSON, reasonEmpty, reasonTooMany, reasonBadKey, reasonBadURL, reasonBadParam, reasonFailed} {
		h.rejected.WithLabelValues(r)
	}
	for _, r := range purgegate.Reasons {
		h.denied.WithLabelValues(r)
	}
	for _, k := range []string{"key", "url", "mixed", "all"} {
		h.purges.WithLabelValues(k, "false")
		h.purges.WithLabelValues(k, "true")
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /purge", h.purgeEndpoint(parseNative, answerNative))
	mux.HandleFunc("POST /service/{service}/purge/{key...}", h.purgeEndpoint(parseFastlyKey, answerFastlyStatus))
	mux.HandleFunc("POST /service/{service}/purge", h.purgeEndpoint(parseFastlyKeys, answerFastlyKeys))
	mux.HandleFunc("POST /service/{service}/purge_all", h.purgeEndpoint(parseFastlyAll, answerFastlyStatus))
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("GET /cluster/members", h.members)
	mux.HandleFunc("POST /cluster/members/{name}/force-leave", h.auth(h.forceLeave))
	mux.HandleFunc("GET /stats", h.stats)
	mux.HandleFunc("GET /purges/local", h.purgesLocal)
	mux.HandleFunc("GET /cluster/purges", h.clusterPurges)
	mux.HandleFunc("GET /cluster/stats", h.clusterStats)
	mux.HandleFunc("GET /ui", h.ui)
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:            zap.NewStdLog(cfg.Logger),
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
		}))
	}
	h.mux = mux
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// ---------------------------------------------------------------- auth

// auth lets a purge call through the purge gate (the token, in Fastly-Key
// or Authorization: Bearer, compared in constant time) before calling next;
// a refusal is counted, logged and answered as on the edge listener.
func (h *handler) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.gate == nil {
			next(w, r) // AllowNoToken (checked in New)
			return
		}
		if v := h.gate.Check(r); !v.OK() {
			h.denied.WithLabelValues(v.Reason).Inc()
			h.log.Warn("purge denied", zap.String("reason", v.Reason), zap.String("remote", r.RemoteAddr),
				zap.String("method", r.Method), zap.String("path", r.URL.Path))
			v.Refuse(w)
			return
		}
		next(w, r)
	}
}

// ---------------------------------------------------------------- purges

// Reasons for meshcdn_api_purge_rejected_total.
const (
	reasonTooLarge = "too_large"
	reasonBadJSON  = "bad_json"
	reasonEmpty    = "empty"
	reasonTooMany  = "too_many"
	reasonBadKey   = "bad_key"
	reasonBadURL   = "bad_url"
	reasonBadParam = "bad_param"
	reasonFailed   = "failed"
	reasonInvalid  = "invalid"
)

// reqError is a client error with its HTTP status and metric reason.
type reqError struct {
	status int
	reason string
	msg    string
}

func (e *reqError) Error() string { return e.msg }

func badRequest(reason, format string, args ...any) *reqError {
	return &reqError{status: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, args...)}
}

func (h *handler) reject(w http.ResponseWriter, r *http.Request, e *reqError) {
	h.rejected.WithLabelValues(e.reason).Inc()
	h.log.Info("purge rejected", zap.String("reason", e.reason), zap.String("error", e.msg),
		zap.String("remote", r.RemoteAddr), zap.String("path", r.URL.Path))
	writeError(w, e.status, e.msg)
}

// PurgeRequest is the body of POST /purge.
type PurgeRequest struct {
	Keys []string `json:"keys,omitempty"`
	URLs []string `json:"urls,omitempty"`
	All  bool     `json:"all,omitempty"`
	Soft bool     `json:"soft,omitempty"`
}

// PurgeResponse is the answer of POST /purge.
type PurgeResponse struct {
	ID       string   `json:"id"`
	Purged   int      `json:"purged"`  // objects removed (or marked, if soft) on the accepting node
	Acked    []string `json:"acked"`   // nodes that confirmed
	Pending  []string `json:"pending"` // live nodes that have not (yet) confirmed
	Complete bool     `json:"complete"`

	// Unreachable: members that have not left the cluster but could not be
	// reached (failed, partitioned, restarted or suspect): they may still
	// serve what the purge removes. Complete is true only when every member
	// that has not left confirmed.
	Unreachable []string `json:"unreachable"`
}

// purgeEndpoint is the way of every purge call: token, wait parameters,
// the endpoint's own parsing, the purge itself, the endpoint's answer.
func (h *handler) purgeEndpoint(
	parse func(w http.ResponseWriter, r *http.Request) (store.Purge, *reqError),
	answer func(w http.ResponseWriter, p store.Purge, res cluster.Result, wait bool),
) http.HandlerFunc {
	return h.auth(func(w http.ResponseWriter, r *http.Request) {
		wait, timeout, rerr := h.waitParams(r)
		var p store.Purge
		if rerr == nil {
			p, rerr = parse(w, r)
		}
		if rerr != nil {
			h.reject(w, r, rerr)
			return
		}
		if res, ok := h.purge(w, r, p, wait, timeout); ok {
			answer(w, p, res, wait)
		}
	})
}

// parseNative reads the JSON body of POST /purge.
func parseNative(w http.ResponseWriter, r *http.Request) (store.Purge, *reqError) {
	var req PurgeRequest
	if rerr := decodeJSON(w, r, &req); rerr != nil {
		return store.Purge{}, rerr
	}
	return buildPurge(req)
}

// answerNative: 200, or 202 when wait=all ended before every node confirmed
// (applied here, not confirmed everywhere in time).
func answerNative(w http.ResponseWriter, _ store.Purge, res cluster.Result, wait bool) {
	status := http.StatusOK
	if wait && !res.Complete {
		status = http.StatusAccepted
	}
	writeJSON(w, status, PurgeResponse{
		ID: res.ID, Purged: res.Local, Acked: nonNil(res.Acked), Pending: nonNil(res.Pending), Complete: res.Complete,
		Unreachable: nonNil(res.Unreachable),
	})
}

// buildPurge validates a native purge request.
func buildPurge(req PurgeRequest) (store.Purge, *reqError) {
	if req.All && (len(req.Keys) > 0 || len(req.URLs) > 0) {
		return store.Purge{}, badRequest(reasonBadParam, `"all" cannot be combined with "keys" or "urls"`)
	}
	if !req.All && len(req.Keys) == 0 && len(req.URLs) == 0 {
		return store.Purge{}, badRequest(reasonEmpty, `nothing to purge: give "keys", "urls" or "all": true`)
	}
	if n := len(req.Keys) + len(req.URLs); n > MaxKeys {
		return store.Purge{}, badRequest(reasonTooMany, "too many keys and urls: %d (at most %d per purge)", n, MaxKeys)
	}
	keys, rerr := checkKeys(req.Keys)
	if rerr != nil {
		return store.Purge{}, rerr
	}
	urls, rerr := urlKeys(req.URLs)
	if rerr != nil {
		return store.Purge{}, rerr
	}
	return store.Purge{Keys: keys, URLs: urls, All: req.All, Soft: req.Soft}, nil
}

// checkKeys validates surrogate keys and drops duplicates.
func checkKeys(keys []string) ([]string, *reqError) {
	if len(keys) == 0 {
		return nil, nil
	}
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for i, k := range keys {
		if err := purgegate.CheckKey(k); err != nil {
			return nil, badRequest(reasonBadKey, "key %d %v", i, err)
		}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, k)
	}
	return out, nil
}

// urlKeys turns absolute URLs into primary cache keys, the way the edge
// computes them for requests.
func urlKeys(urls []string) ([]string, *reqError) {
	if len(urls) == 0 {
		return nil, nil
	}
	seen := make(map[string]struct{}, len(urls))
	out := make([]string, 0, len(urls))
	for i, s := range urls {
		k, err := URLKey(s)
		if err != nil {
			return nil, badRequest(reasonBadURL, "url %d: %v", i, err)
		}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, k)
	}
	return out, nil
}

// URLKey returns the primary cache key of an absolute http(s) URL:
// store.KeyFor of its host (store.NormalHost with the URL's scheme), escaped
// path and query, as the edge keys a request for that URL; at most
// purgegate.MaxURLBytes long, as the edge's PURGE requires.
func URLKey(s string) (string, error) {
	// A bound before parsing; the key itself is held to the limit below.
	if len(s) > purgegate.MaxURLBytes+len("https://") {
		return "", fmt.Errorf("longer than %d bytes", purgegate.MaxURLBytes)
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%q: %v", clip(s), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q is not an absolute http:// or https:// URL", clip(s))
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", clip(s))
	}
	k := store.KeyFor(store.NormalHost(u.Scheme, u.Host), u.EscapedPath(), u.RawQuery)
	if err := purgegate.CheckURLKey(k); err != nil {
		return "", err
	}
	return k, nil
}

// waitParams reads ?wait=all / Meshcdn-Wait: all and ?timeout=.
func (h *handler) waitParams(r *http.Request) (wait bool, timeout time.Duration, rerr *reqError) {
	q := r.URL.Query()
	v := q.Get("wait")
	if v == "" {
		v = r.Header.Get("Meshcdn-Wait")
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "none", "false", "0":
	case "all", "true", "1":
		wait = true
	default:
		return false, 0, badRequest(reasonBadParam, "wait: %q is not one of all, none", v)
	}
	timeout = h.cfg.WaitTimeout
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return false, 0, badRequest(reasonBadParam, "timeout: %q is not a positive duration such as 2s or 500ms", t)
		}
		timeout = min(d, h.cfg.WaitTimeout)
	}
	return wait, timeout, nil
}

// purge hands p to the cluster (or the local store) and records metrics.
// It writes an error response and returns false when the purge failed.
func (h *handler) purge(w http.ResponseWriter, r *http.Request, p store.Purge, wait bool, timeout time.Duration) (cluster.Result, bool) {
	start := time.Now()
	var (
		res cluster.Result
		err error
	)
	if h.local != nil {
		lr := h.local.Purge(p)
		res = cluster.Result{ID: lr.ID, Origin: purgegate.LocalOrigin, Seq: lr.Seq, Local: lr.Purged, Complete: true}
	} else {
		// Waiting stops when the caller goes away; an asynchronous purge must
		// not be cut short by the response being sent.
		parent := r.Context()
		if !wait {
			parent = context.WithoutCancel(parent)
		}
		ctx, cancel := context.WithTimeout(parent, timeout)
		res, err = h.cfg.Cluster.Purge(ctx, p, wait)
		cancel()
	}
	elapsed := time.Since(start)
	if err != nil && res.ID == "" && errors.Is(err, cluster.ErrInvalidPurge) {
		// The parsers above should have caught it; never call it a failure.
		h.rejected.WithLabelValues(reasonInvalid).Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return res, false
	}
	if err != nil && res.ID == "" {
		h.rejected.WithLabelValues(reasonFailed).Inc()
		h.log.Error("purge failed", zap.Error(err), zap.String("remote", r.RemoteAddr))
		writeError(w, http.StatusServiceUnavailable, "purge failed: "+err.Error())
		return res, false
	}
	if err != nil {
		// Accepted and applied locally, but waiting ended early (timeout,
		// caller gone): report what is known.
		res.Complete = false
	}
	h.purges.WithLabelValues(p.Kind(), strconv.FormatBool(p.Soft)).Inc()
	h.duration.WithLabelValues(strconv.FormatBool(wait)).Observe(elapsed.Seconds())
	h.log.Info("purge accepted",
		zap.String("id", res.ID), zap.String("kind", p.Kind()), zap.Bool("soft", p.Soft),
		zap.Int("keys", len(p.Keys)), zap.Int("urls", len(p.URLs)), zap.Int("purged", res.Local),
		zap.Bool("wait", wait), zap.Bool("complete", res.Complete), zap.Strings("pending", res.Pending),
		zap.Strings("unreachable", res.Unreachable),
		zap.Duration("took", elapsed), zap.String("remote", r.RemoteAddr))
	return res, true
}

// ---------------------------------------------------------------- Fastly

// fastlySoft reports Fastly-Soft-Purge: 1.
func fastlySoft(r *http.Request) bool {
	return strings.TrimSpace(r.Header.Get("Fastly-Soft-Purge")) == "1"
}

// setResultHeaders reports cluster completion on Fastly-shaped answers,
// whose bodies have no room for it.
func setResultHeaders(w http.ResponseWriter, res cluster.Result) {
	w.Header().Set("Meshcdn-Purge-Id", res.ID)
	w.Header().Set("Meshcdn-Purged", strconv.Itoa(res.Local))
	w.Header().Set("Meshcdn-Purge-Complete", strconv.FormatBool(res.Complete))
	if len(res.Pending) > 0 {
		w.Header().Set("Meshcdn-Purge-Pending", strings.Join(res.Pending, ","))
	}
	if len(res.Unreachable) > 0 {
		w.Header().Set("Meshcdn-Purge-Unreachable", strings.Join(res.Unreachable, ","))
	}
}

// parseFastlyKey: POST /service/{service}/purge/{key}, one surrogate key.
func parseFastlyKey(w http.ResponseWriter, r *http.Request) (store.Purge, *reqError) {
	key := r.PathValue("key")
	if key == "" {
		return store.Purge{}, badRequest(reasonEmpty, "no surrogate key in the path")
	}
	keys, rerr := checkKeys([]string{key})
	return store.Purge{Keys: keys, Soft: fastlySoft(r)}, rerr
}

// parseFastlyKeys: POST /service/{service}/purge with Surrogate-Key: k1 k2 …
// (or a JSON body {"surrogate_keys":[…]}, as Fastly also accepts).
func parseFastlyKeys(w http.ResponseWriter, r *http.Request) (store.Purge, *reqError) {
	var keys []string
	for _, v := range r.Header.Values("Surrogate-Key") {
		keys = append(keys, strings.Fields(v)...)
		if len(keys) > MaxFastlyKeys {
			break
		}
	}
	if len(keys) == 0 && r.ContentLength != 0 {
		var body struct {
			SurrogateKeys []string `json:"surrogate_keys"`
		}
		if rerr := decodeJSON(w, r, &body); rerr != nil {
			return store.Purge{}, rerr
		}
		keys = body.SurrogateKeys
	}
	if len(keys) == 0 {
		return store.Purge{}, badRequest(reasonEmpty, "no keys: send Surrogate-Key: key1 key2 … (or a JSON body {\"surrogate_keys\":[…]})")
	}
	if len(keys) > MaxFastlyKeys {
		return store.Purge{}, badRequest(reasonTooMany, "too many surrogate keys: more than %d in one purge", MaxFastlyKeys)
	}
	keys, rerr := checkKeys(keys)
	return store.Purge{Keys: keys, Soft: fastlySoft(r)}, rerr
}

// parseFastlyAll: POST /service/{service}/purge_all.
func parseFastlyAll(w http.ResponseWriter, r *http.Request) (store.Purge, *reqError) {
	return store.Purge{All: true, Soft: fastlySoft(r)}, nil
}

// answerFastlyStatus answers {"status":"ok","id":…} as Fastly does for one
// key and purge_all.
func answerFastlyStatus(w http.ResponseWriter, _ store.Purge, res cluster.Result, _ bool) {
	setResultHeaders(w, res)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "id": res.ID})
}

// answerFastlyKeys answers {"k1":"id",…} as Fastly does for a bulk purge.
func answerFastlyKeys(w http.ResponseWriter, p store.Purge, res cluster.Result, _ bool) {
	setResultHeaders(w, res)
	out := make(map[string]string, len(p.Keys))
	for _, k := range p.Keys {
		out[k] = res.ID
	}
	writeJSON(w, http.StatusOK, out)
}

// ---------------------------------------------------------------- status

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz: ready when this node is a live member of its cluster (or runs
// without one), its gossip key is not refused by its peers, and (with
// Config.IsolationUnready) it has heard from a peer recently. Readiness
// is for health-checked DNS and load balancers; the node serves whatever
// it is asked either way.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Ready   bool   `json:"ready"`
		Node    string `json:"node,omitempty"`
		Members int    `json:"members"`
		Alive   int    `json:"alive"`
		Reason  string `json:"reason,omitempty"`
		// JoinError: joining the --join addresses has not worked yet.
		JoinError string `json:"join_error,omitempty"`
		// LastContact: when an isolated node last heard from a peer.
		LastContact *time.Time `json:"last_contact,omitempty"`
		TLS         any        `json:"tls,omitempty"`
	}{Ready: true}
	if h.cfg.TLSStatus != nil {
		out.TLS = h.cfg.TLSStatus()
	}
	if c := h.cfg.Cluster; c != nil {
		out.Node = c.Name()
		self := false
		for _, m := range c.Members() {
			out.Members++
			if strings.EqualFold(m.State, "alive") {
				out.Alive++
				if m.Name == out.Node {
					self = true
				}
			}
		}
		switch err := c.JoinError(); {
		case !self:
			out.Ready, out.Reason = false, "this node is not an alive member of its cluster"
		case errors.Is(err, cluster.ErrKeyMismatch):
			// Misconfigured: it will never receive purges from its peers.
			out.Ready, out.Reason = false, err.Error()
		case err != nil:
			out.JoinError = err.Error() // still retrying; it serves meanwhile
		}
		if bound := h.cfg.IsolationUnready; out.Ready && bound > 0 {
			if last, iso := c.Isolated(bound); iso {
				out.Ready, out.LastContact = false, &last
				out.Reason = fmt.Sprintf("isolated: heard from no peer for %s (over %s); purges may be missed",
					time.Since(last).Round(time.Millisecond), bound)
			}
		}
	}
	if d := h.cfg.Draining; d != nil && d() {
		out.Ready, out.Reason = false, "draining: the node is shutting down"
	}
	status := http.StatusOK
	if !out.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}

// Member is one entry of GET /cluster/members.
type Member struct {
	Name      string    `json:"name"`
	Region    string    `json:"region"`
	Addr      string    `json:"addr"`
	HTTPAddr  string    `json:"http_addr"`
	AdminAddr string    `json:"admin_addr"`
	State     string    `json:"state"`
	LastSeen  time.Time `json:"last_seen"`
	Seq       uint64    `json:"seq"`
	Self      bool      `json:"self"`
}

// Members is the answer of GET /cluster/members.
type Members struct {
	Self    string   `json:"self"`
	Members []Member `json:"members"`
}

func (h *handler) members(w http.ResponseWriter, r *http.Request) {
	c := h.cfg.Cluster
	if c == nil {
		writeError(w, http.StatusNotFound, "this node runs without a cluster")
		return
	}
	out := Members{Self: c.Name(), Members: []Member{}}
	for _, m := range c.Members() {
		out.Members = append(out.Members, Member{
			Name: m.Name, Region: m.Region, Addr: m.Addr, HTTPAddr: m.HTTPAddr, AdminAddr: m.AdminAddr,
			State: m.State, LastSeen: m.LastSeen, Seq: m.Seq, Self: m.Name == out.Self,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// forceLeave: POST /cluster/members/{name}/force-leave (purge token). A
// failed member the operator knows is gone for good is marked left on every
// node, so that wait=all purges stop waiting for it (cluster.Node.ForceLeave).
func (h *handler) forceLeave(w http.ResponseWriter, r *http.Request) {
	c := h.cfg.Cluster
	if c == nil {
		writeError(w, http.StatusNotFound, "this node runs without a cluster")
		return
	}
	name := r.PathValue("name")
	switch err := c.ForceLeave(name); {
	case err == nil:
		h.log.Warn("force-leave requested", zap.String("member", name), zap.String("remote", r.RemoteAddr))
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "member": name, "state": "left"})
	case errors.Is(err, cluster.ErrUnknownMember):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no member named %q", clip(name)))
	case errors.Is(err, cluster.ErrMemberAlive), errors.Is(err, cluster.ErrSelf):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, cluster.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// ---------------------------------------------------------------- helpers

// decodeJSON reads one JSON value of at most MaxBodyBytes into v, rejecting
// unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *reqError {
	tooLarge := &reqError{status: http.StatusRequestEntityTooLarge, reason: reasonTooLarge,
		msg: fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes)}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return tooLarge
		case errors.Is(err, io.EOF):
			return badRequest(reasonBadJSON, "empty body: expected a JSON object")
		default:
			return badRequest(reasonBadJSON, "invalid JSON body: %v", err)
		}
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return badRequest(reasonBadJSON, "invalid JSON body: unexpected data after the JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers {"error": msg} (also the shape of Fastly's errors' "msg").
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"status": "error", "error": msg, "msg": msg})
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
