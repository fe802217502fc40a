package httpcache

import "time"

// Directives are the cache directives of one Cache-Control-like field
// (Cache-Control, CDN-Cache-Control, Surrogate-Control). Durations are -1
// when the directive is absent.
type Directives struct {
	MaxAge, SMaxAge, StaleWhileRevalidate, StaleIfError, MinFresh, MaxStale time.Duration

	NoStore, NoCache, Private, Public, MustRevalidate, ProxyRevalidate, Immutable, OnlyIfCached, NoTransform bool

	// NoCacheFields and PrivateFields hold the canonical field names of the
	// qualified forms no-cache="…" and private="…". NoCache and Private are
	// set only by the unqualified forms.
	NoCacheFields, PrivateFields []string

	// MustUnderstand is the must-understand response directive (RFC 9111
	// §5.2.2.3). Added to the shared API; additive.
	MustUnderstand bool

	// Invalid reports that something did not parse; what parsed is still
	// used.
	Invalid bool
}

func emptyDirectives() Directives {
	return Directives{MaxAge: -1, SMaxAge: -1, StaleWhileRevalidate: -1, StaleIfError: -1, MinFresh: -1, MaxStale: -1}
}

// ParseCacheControl parses the lines of a Cache-Control field (RFC 9111
// §5.2), request or response. Directive names are case-insensitive; both the
// token and the quoted-string argument forms are accepted (§5.2). When a
// directive with an argument appears more than once, the first occurrence is
// used (§4.2.1). A max-age or s-maxage whose argument is not delta-seconds
// makes the response stale (treated as 0, §4.2.1); other malformed parts are
// skipped. Any of these set Invalid. A bare max-stale (any staleness is
// acceptable) is reported as the largest delta (2^31 s).
func ParseCacheControl(values []string) Directives {
	d := emptyDirectives()
	for _, v := range values {
		sc := dirScanner{s: v}
		var dir directive
		for sc.next(&dir) {
			applyDirective(&d, &dir)
		}
		if sc.invalid {
			d.Invalid = true
		}
	}
	return d
}

// applyDirective folds one directive into d (Cache-Control grammar).
func applyDirective(d *Directives, dir *directive) {
	var buf [24]byte
	switch string(lowerName(buf[:], dir.name)) {
	case "max-age":
		setDelta(d, &d.MaxAge, dir, true)
	case "s-maxage":
		setDelta(d, &d.SMaxAge, dir, true)
	case "stale-while-revalidate":
		setDelta(d, &d.StaleWhileRevalidate, dir, false)
	case "stale-if-error":
		setDelta(d, &d.StaleIfError, dir, false)
	case "min-fresh":
		setDelta(d, &d.MinFresh, dir, false)
	case "max-stale":
		if !dir.hasValue {
			if d.MaxStale < 0 {
				d.MaxStale = maxDelta
			}
			return
		}
		setDelta(d, &d.MaxStale, dir, false)
	case "no-cache":
		if dir.hasValue {
			var ok bool
			n := len(d.NoCacheFields)
			d.NoCacheFields, ok = appendFieldNames(d.NoCacheFields, dir.value)
			if !ok {
				d.Invalid = true
			}
			if len(d.NoCacheFields) > n || ok && dir.value != "" {
				return
			}
			// Nothing usable in the argument: honour the unqualified form.
		}
		d.NoCache = true
	case "private":
		if dir.hasValue {
			var ok bool
			n := len(d.PrivateFields)
			d.PrivateFields, ok = appendFieldNames(d.PrivateFields, dir.value)
			if !ok {
				d.Invalid = true
			}
			if len(d.PrivateFields) > n || ok && dir.value != "" {
				return
			}
		}
		d.Private = true
	case "no-store":
		flag(d, &d.NoStore, dir)
	case "public":
		flag(d, &d.Public, dir)
	case "must-revalidate":
		flag(d, &d.MustRevalidate, dir)
	case "proxy-revalidate":
		flag(d, &d.ProxyRevalidate, dir)
	case "immutable":
		flag(d, &d.Immutable, dir)
	case "only-if-cached":
		flag(d, &d.OnlyIfCached, dir)
	case "no-transform":
		flag(d, &d.NoTransform, dir)
	case "must-understand":
		flag(d, &d.MustUnderstand, dir)
	}
}

// flag sets a directive that takes no argument; an argument is tolerated but
// flagged (RFC 9111 §5.2: none is allowed).
func flag(d *Directives, f *bool, dir *directive) {
	*f = true
	if dir.hasValue {
		d.Invalid = true
	}
}

// setDelta sets a delta-seconds directive unless an earlier occurrence did.
// A malformed argument is ignored, or — for freshness directives — read as
// 0 (the response is stale, RFC 9111 §4.2.1).
func setDelta(d *Directives, f *time.Duration, dir *directive, staleIfBad bool) {
	v, ok := parseDelta(dir.value)
	if !ok || !dir.hasValue {
		d.Invalid = true
		if !staleIfBad {
			return
		}
		v = 0
	}
	if *f < 0 {
		*f = v
	}
}
