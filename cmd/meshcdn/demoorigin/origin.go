// Package demoorigin is the built-in demo origin of meshcdn: a small
// personalisation "user data" API of the kind meshcdn is made for. Its
// responses are cached by the edge for an hour (Surrogate-Control) but not by
// browsers (Cache-Control: no-store), tagged with surrogate keys; an event
// changes a user's data and purges the user's key through a node's admin
// API, waiting until every node has acknowledged.
//
//	GET  /v1/users/{id}?company={c}  user data; Surrogate-Key: company/{c} user/{id}
//	POST /v1/users/{id}/events       bump the user's version, purge user/{id}
//	GET  /v1/offers                  offers for the visitor's continent (Vary: X-Geo-Continent-Code)
//	GET  /obj/{id}?size=N            N bytes, Cache-Control: public, max-age=3600 (benchmarks)
//	GET  /healthz
package demoorigin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Limits.
const (
	MaxIDLen        = 64
	DefaultMaxUsers = 100_000
	MaxObjectSize   = 1 << 20
	maxEventBody    = 64 << 10
)

// Config configures the demo origin.
type Config struct {
	// PurgeURLs are admin API base URLs of meshcdn nodes
	// (e.g. http://127.0.0.1:9081); an event purges through the first that
	// answers. Empty: events change data without purging.
	PurgeURLs []string
	Token     string // purge token, sent as Authorization: Bearer
	// MaxUsers bounds the users whose version is tracked (default 100 000);
	// beyond it, events for new users are refused.
	MaxUsers int
	Client   *http.Client // default: 5 s timeout
	Logger   *zap.Logger
	Name     string // reported in answers (default "demo-origin")
}

// Origin is an http.Handler.
type Origin struct {
	cfg Config
	log *zap.Logger
	mux *http.ServeMux

	mu       sync.Mutex
	versions map[string]uint64 // user id → version (absent = 1)

	requests atomic.Uint64 // GETs of user data and offers
}

// New returns the demo origin.
func New(cfg Config) *Origin {
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = DefaultMaxUsers
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Name == "" {
		cfg.Name = "demo-origin"
	}
	o := &Origin{cfg: cfg, log: cfg.Logger, versions: map[string]uint64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{id}", o.user)
	mux.HandleFunc("POST /v1/users/{id}/events", o.event)
	mux.HandleFunc("GET /v1/offers", o.offers)
	mux.HandleFunc("GET /obj/{id}", o.object)
	mux.HandleFunc("GET /v1/stats", o.stats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /{$}", o.index)
	o.mux = mux
	return o
}

func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) { o.mux.ServeHTTP(w, r) }

// Requests returns how many user-data and offers requests the origin answered.
func (o *Origin) Requests() uint64 { return o.requests.Load() }

// Stats is the answer of GET /v1/stats.
type Stats struct {
	Requests uint64 `json:"requests"` // user-data and offers requests answered (Requests)
}

// stats serves the request counter, so that tests and operators can see
// how many fetches reached the origin (shielding: one per object).
func (o *Origin) stats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, Stats{Requests: o.Requests()})
}

// Version returns the current data version of a user.
func (o *Origin) Version(id string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.versions[id]; ok {
		return v
	}
	return 1
}

// ValidID reports whether s is an acceptable user or company id: 1 to 64
// ASCII letters, digits, '-' or '_'.
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// User is the answer of GET /v1/users/{id}.
type User struct {
	ID          string    `json:"id"`
	Company     string    `json:"company,omitempty"`
	Name        string    `json:"name"`
	Plan        string    `json:"plan"`
	Version     uint64    `json:"version"`
	GeneratedAt time.Time `json:"generated_at"`
	ServedBy    string    `json:"served_by"`
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Linus", "Margaret", "Dennis", "Frances", "Leslie"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Torvalds", "Hamilton", "Ritchie", "Allen", "Lamport"}
	plans      = []string{"free", "team", "business", "enterprise"}
)

func pick(list []string, s string, salt uint32) string {
	h := uint32(2166136261) ^ salt
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return list[h%uint32(len(list))]
}

func (o *Origin) user(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		httpError(w, http.StatusBadRequest, "user id must be 1-64 letters, digits, '-' or '_'")
		return
	}
	company := r.URL.Query().Get("company")
	if company != "" && !ValidID(company) {
		httpError(w, http.StatusBadRequest, "company must be 1-64 letters, digits, '-' or '_'")
		return
	}
	o.requests.Add(1)
	v := o.Version(id)
	u := User{
		ID: id, Company: company, Version: v, GeneratedAt: time.Now().UTC(), ServedBy: o.cfg.Name,
		Name: pick(firstNames, id, 1) + " " + pick(lastNames, id, 2),
		// The plan changes with the version, so an event visibly changes the data.
		Plan: pick(plans, id+"/"+strconv.FormatUint(v, 10), 3),
	}
	keys := "user/" + id
	if company != "" {
		keys = "company/" + company + " " + keys
	}
	h := w.Header()
	h.Set("Surrogate-Key", keys)
	h.Set("Surrogate-Control", "max-age=3600")
	h.Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, u)
}

// EventResult is the answer of POST /v1/users/{id}/events.
type EventResult struct {
	ID      string          `json:"id"`
	Version uint64          `json:"version"`
	Purged  bool            `json:"purged"`
	Via     string          `json:"via,omitempty"`   // admin URL that accepted the purge
	Purge   json.RawMessage `json:"purge,omitempty"` // the node's answer
	Error   string          `json:"error,omitempty"`
}

func (o *Origin) event(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		httpError(w, http.StatusBadRequest, "user id must be 1-64 letters, digits, '-' or '_'")
		return
	}
	// The event's payload is not used; read a bounded amount so the
	// connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxEventBody))

	o.mu.Lock()
	v, ok := o.versions[id]
	if !ok {
		if len(o.versions) >= o.cfg.MaxUsers {
			o.mu.Unlock()
			httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many users with events (at most %d)", o.cfg.MaxUsers))
			return
		}
		v = 1
	}
	v++
	o.versions[id] = v
	o.mu.Unlock()

	res := EventResult{ID: id, Version: v}
	if len(o.cfg.PurgeURLs) == 0 {
		writeJSON(w, http.StatusOK, res)
		return
	}
	via, answer, err := o.purge(r.Context(), "user/"+id)
	res.Via, res.Purge = via, answer
	if err != nil {
		res.Error = err.Error()
		o.log.Warn("event: purge failed", zap.String("user", id), zap.Error(err))
		writeJSON(w, http.StatusBadGateway, res)
		return
	}
	res.Purged = true
	o.log.Info("event: data changed and purged", zap.String("user", id), zap.Uint64("version", v), zap.String("via", via))
	writeJSON(w, http.StatusOK, res)
}

// purge sends {"keys":[key]} with wait=all to the first admin URL that
// accepts it.
func (o *Origin) purge(ctx context.Context, key string) (via string, answer json.RawMessage, err error) {
	body, _ := json.Marshal(map[string][]string{"keys": {key}})
	var errs []error
	for _, base := range o.cfg.PurgeURLs {
		u := strings.TrimRight(base, "/") + "/purge?wait=all"
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		if o.cfg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+o.cfg.Token)
		}
		resp, err := o.cfg.Client.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
			errs = append(errs, fmt.Errorf("%s: %s: %s", u, resp.Status, bytes.TrimSpace(b)))
			continue
		}
		if !json.Valid(b) {
			b = nil
		}
		return base, b, nil
	}
	return "", nil, errors.Join(errs...)
}

// Offers is the answer of GET /v1/offers.
type Offers struct {
	Continent   string    `json:"continent"`
	Country     string    `json:"country"`
	Offer       string    `json:"offer"`
	GeneratedAt time.Time `json:"generated_at"`
	ServedBy    string    `json:"served_by"`
}

var continentOffers = map[string]string{
	"AF": "Free shipping across Africa",
	"AN": "Penguin-proof packaging",
	"AS": "Lunar new year bundle",
	"EU": "VAT included, 14-day returns",
	"NA": "Black Friday starts early",
	"OC": "Summer sale down under",
	"SA": "Parcelamento sem juros",
	"XX": "Our global bestsellers",
}

// geoCode returns a two-letter upper-case code from h, or "XX".
func geoCode(h http.Header, name string) string {
	v := h.Get(name)
	if len(v) == 2 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z' {
		return v
	}
	return "XX"
}

func (o *Origin) offers(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	cont := geoCode(r.Header, "X-Geo-Continent-Code")
	offer, ok := continentOffers[cont]
	if !ok {
		offer = continentOffers["XX"]
	}
	h := w.Header()
	h.Set("Vary", "X-Geo-Continent-Code")
	h.Set("Surrogate-Key", "offers offers/"+cont)
	h.Set("Surrogate-Control", "max-age=3600")
	h.Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, Offers{
		Continent: cont, Country: geoCode(r.Header, "X-Geo-Country-Code"), Offer: offer,
		GeneratedAt: time.Now().UTC(), ServedBy: o.cfg.Name,
	})
}

// object serves N deterministic bytes for benchmarks.
func (o *Origin) object(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		httpError(w, http.StatusBadRequest, "object id must be 1-64 letters, digits, '-' or '_'")
		return
	}
	size := 1024
	if s := r.URL.Query().Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxObjectSize {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("size must be 0-%d", MaxObjectSize))
			return
		}
		size = n
	}
	body := make([]byte, size)
	seed := byte(len(id))
	for i := 0; i < len(id); i++ {
		seed = seed*31 + id[i]
	}
	for i := range body {
		body[i] = 'a' + (seed+byte(i))%26
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(size))
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Surrogate-Key", "obj/"+id)
	_, _ = w.Write(body)
}

func (o *Origin) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, `meshcdn demo origin

GET  /v1/users/{id}?company={c}   user data, cached by the edge for an hour
                                  (Surrogate-Key: company/{c} user/{id})
POST /v1/users/{id}/events        change the user's data and purge user/{id}
GET  /v1/offers                   offers for the visitor's continent
                                  (Vary: X-Geo-Continent-Code)
GET  /obj/{id}?size=N             N bytes, Cache-Control: public, max-age=3600
`)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": msg})
}
