// Package config reads meshcdn's configuration file (YAML) into the
// settings of `meshcdn serve`.
//
// The model is the serve command's flags: every key of the file is the
// value of one flag (Keys lists them), so that a setting has one name, one
// parser and one validation, and the precedence is the same for all of
// them: flag > environment (MESHCDN_<FLAG_NAME>) > file > default. Keys
// under sites: are the per-site flags, once per site. The file is bounded
// (MaxFileSize, MaxListItems, MaxSites); unknown keys, duplicate keys,
// anchors and aliases are errors, each reported with its line.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bounds of a configuration file.
const (
	MaxFileSize  = 1 << 20 // bytes
	MaxSites     = 256
	MaxListItems = 256 // items in any one list (hosts, join, allow, certificates, ...)
	MaxErrors    = 100 // errors reported, the rest counted
)

// Kind is the YAML shape a key takes.
type Kind int

const (
	Scalar Kind = iota // a string, number, duration, size or boolean
	List               // a sequence of scalars; the flag gets them joined with ","
)

// Key is one setting of the file and the flag it sets.
type Key struct {
	Path string // "listen.http"; under sites: relative to the site
	Flag string // the serve flag: "listen"
	Kind Kind
}

// Keys are the top-level settings. "tls.certificates" and "sites" have
// their own shape (Cert, Site); "default_site" is a scalar like the others.
var Keys = []Key{
	{"node.name", "node-name", Scalar},
	{"node.region", "region", Scalar},
	{"node.via_version", "via-version", Scalar},
	{"node.data_dir", "data-dir", Scalar},
	{"listen.http", "listen", Scalar},
	{"listen.https", "https", Scalar},
	{"listen.admin", "admin", Scalar},
	{"cluster.gossip", "gossip", Scalar},
	{"cluster.advertise", "gossip-advertise", Scalar},
	{"cluster.join", "join", List},
	{"cluster.key_file", "gossip-key-file", Scalar},
	{"cluster.isolation_bound", "isolation-bound", Scalar},
	{"cluster.isolation_unready", "isolation-unready", Scalar},
	{"cluster.shield_timeout", "shield-timeout", Scalar},
	{"cluster.shield_secret_file", "shield-secret-file", Scalar},
	{"cache.size", "cache-size", Scalar},
	{"cache.max_object_size", "max-object-size", Scalar},
	{"cache.max_variants", "max-variants", Scalar},
	{"geo.database", "geoip-db", Scalar},
	{"geo.trusted_proxies", "trusted-proxies", List},
	{"geo.proxy_header", "proxy-header", Scalar},
	{"purge.token_file", "purge-token-file", Scalar},
	{"purge.allow", "purge-allow", List},
	{"purge.wait_timeout", "purge-wait-timeout", Scalar},
	{"shutdown.drain_delay", "drain-delay", Scalar},
	{"shutdown.drain_timeout", "drain-timeout", Scalar},
	{"log.format", "log-format", Scalar},
	{"log.level", "log-level", Scalar},
	{"default_site", "default-site", Scalar},
}

// SiteKeys are the settings of one site under sites:, each a per-site flag.
var SiteKeys = []Key{
	{"name", "site-name", Scalar},
	{"hosts", "hosts", List},
	{"origin.url", "origin", Scalar},
	{"origin.host", "origin-host", Scalar},
	{"origin.ca_file", "origin-ca-file", Scalar},
	{"origin.cert_file", "origin-cert-file", Scalar},
	{"origin.key_file", "origin-key-file", Scalar},
	{"origin.timeout", "origin-timeout", Scalar},
	{"origin.max_conns", "origin-max-conns", Scalar},
	{"origin.queue", "origin-queue", Scalar},
	{"cache.default_ttl", "default-ttl", Scalar},
	{"cache.stale_while_revalidate", "default-stale-while-revalidate", Scalar},
	{"cache.stale_if_error", "default-stale-if-error", Scalar},
	{"cache.pass_cookie", "pass-cookie", Scalar},
	{"cache.vary_geo", "vary-geo", Scalar},
	{"cache.honor_client_cache_control", "honor-client-cache-control", Scalar},
	{"cache.store_close_delimited", "store-close-delimited", Scalar},
	{"geo.country_header", "geo-country-header", Scalar},
	{"geo.continent_header", "geo-continent-header", Scalar},
	{"client_body.deadline", "client-body-deadline", Scalar},
	{"client_body.timeout", "client-body-timeout", Scalar},
	{"client_body.min_rate", "client-body-min-rate", Scalar},
	{"client_body.buffer", "client-body-buffer", Scalar},
	{"https.redirect_http", "redirect-http", Scalar},
	{"https.redirect_port", "redirect-port", Scalar},
	{"headers.response_remove", "response-remove", List},
	{"shield", "shield", Scalar},
	{"tls", "tls", Scalar},
	{"acme.email", "acme-email", Scalar},
	{"acme.directory", "acme-directory", Scalar},
	{"acme.ca_root", "acme-ca-root", Scalar},
	{"acme.challenges", "acme-challenges", List},
}

// Value is one setting read from the file.
type Value struct {
	Key  string // full path as written: "cache.size", "sites[1].origin.url"
	Flag string
	Text string // the scalar, or the list's items joined with ","
	Line int
}

// Site is one entry of sites:, by flag name.
type Site struct {
	Line   int
	Values map[string]Value // by flag
}

// Cert is one entry of tls.certificates.
type Cert struct {
	Cert, Key string
	Line      int
}

// File is a parsed configuration file.
type File struct {
	Path   string
	Values map[string]Value // top-level settings, by flag
	Sites  []Site
	Certs  []Cert
	Lines  int
}

// Error is one problem, reported as FILE:LINE: field: problem.
type Error struct {
	File    string
	Line    int
	Field   string
	Problem string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Errors is every problem found, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, 0, len(es))
	for _, e := range es {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// Add appends a problem (beyond MaxErrors only the count grows).
func (es *Errors) Add(file string, line int, field, format string, args ...any) {
	*es = append(*es, &Error{File: file, Line: line, Field: field, Problem: fmt.Sprintf(format, args...)})
}

// AsErrors returns err's Errors: itself if it is one, else one Error.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return Errors{{Problem: err.Error()}}
}

// EnvName is the environment variable of a flag: MESHCDN_ and the flag in
// upper case with '-' as '_' (cache-size → MESHCDN_CACHE_SIZE).
func EnvName(flag string) string {
	return "MESHCDN_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// PerSite reports whether flag is a per-site setting.
func PerSite(flag string) bool {
	for _, k := range SiteKeys {
		if k.Flag == flag {
			return true
		}
	}
	return false
}
