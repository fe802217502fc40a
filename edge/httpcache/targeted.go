package httpcache

import (
	"strings"
	"time"

	"github.com/meshcdn/meshcdn/edge/purgegate"
)

// ParseCDNCacheControl parses CDN-Cache-Control (RFC 9213) as a Structured
// Fields Dictionary. ok is false when the field is absent, empty or invalid;
// the whole field is then to be ignored (RFC 9213 §2.1, RFC 9651 §4.2) and
// the returned Directives are empty (with Invalid set if it was present). A
// valid field that names no known directive (for example
// "CDN-Cache-Control: none") still returns ok: it still overrides
// Cache-Control (RFC 9213 §3.1).
//
// Directive values must have the types RFC 9213 §2.1 infers: an Integer ≥ 0
// for max-age, s-maxage, stale-while-revalidate and stale-if-error; a
// Boolean, or a String listing field names, for no-cache and private; a
// Boolean for the other known directives (?0 means absent). A known
// directive with a value of another type makes the field invalid
// ("implementations SHOULD NOT consume values that violate these inferred
// constraints"): consuming part of it could turn, say, a no-store into a
// stored response. Unknown directives and all parameters are ignored.
func ParseCDNCacheControl(values []string) (Directives, bool) {
	d := emptyDirectives()
	if len(values) == 0 {
		return d, false
	}
	s, ok := joinFieldLines(values, maxSFInput)
	if ok && s == "" {
		return d, false
	}
	var members []sfMember
	if ok {
		members, ok = parseSFDictionary(s)
	}
	if ok {
		for i := range members {
			if !applySFDirective(&d, &members[i]) {
				ok = false
				break
			}
		}
	}
	if !ok || len(members) == 0 {
		d = emptyDirectives()
		d.Invalid = true
		return d, false
	}
	return d, true
}

// applySFDirective folds one dictionary member into d; false when a known
// directive has a value of the wrong type.
func applySFDirective(d *Directives, m *sfMember) bool {
	v := m.item.bare
	isBool := !m.isInner && v.kind == sfBoolean
	delta := func(f *time.Duration) bool {
		if m.isInner || v.kind != sfInteger || v.i < 0 {
			return false
		}
		if v.i > int64(maxDelta/time.Second) {
			*f = maxDelta
		} else {
			*f = time.Duration(v.i) * time.Second
		}
		return true
	}
	flagSF := func(f *bool) bool {
		if !isBool {
			return false
		}
		*f = *f || v.b
		return true
	}
	fields := func(list *[]string, bare *bool) bool {
		switch {
		case isBool:
			*bare = *bare || v.b
			return true
		case !m.isInner && v.kind == sfString:
			n := len(*list)
			var ok bool
			*list, ok = appendFieldNames(*list, v.s)
			if !ok {
				d.Invalid = true
			}
			if len(*list) == n && !(ok && trimOWS(v.s) != "") {
				*bare = true // nothing usable listed: the unqualified form
			}
			return true
		}
		return false
	}
	switch m.key {
	case "max-age":
		return delta(&d.MaxAge)
	case "s-maxage":
		return delta(&d.SMaxAge)
	case "stale-while-revalidate":
		return delta(&d.StaleWhileRevalidate)
	case "stale-if-error":
		return delta(&d.StaleIfError)
	case "no-store":
		return flagSF(&d.NoStore)
	case "no-cache":
		return fields(&d.NoCacheFields, &d.NoCache)
	case "private":
		return fields(&d.PrivateFields, &d.Private)
	case "public":
		return flagSF(&d.Public)
	case "must-revalidate":
		return flagSF(&d.MustRevalidate)
	case "proxy-revalidate":
		return flagSF(&d.ProxyRevalidate)
	case "immutable":
		return flagSF(&d.Immutable)
	case "no-transform":
		return flagSF(&d.NoTransform)
	case "must-understand":
		return flagSF(&d.MustUnderstand)
	}
	return true
}

// Limits on surrogate keys and cache groups, as Fastly documents them: a key
// longer than purgegate.MaxKeyBytes is ignored (and counted), as no purge
// could name it.
const (
	MaxHeaderBytes = 16 << 10 // a longer header (all lines together) is ignored entirely
)

// ParseCacheGroups parses Cache-Groups (RFC 9875 §2): a Structured Fields
// List whose String members are group names; members of other types (and
// their parameters) are ignored. ok is false when the field is absent or
// fails to parse, or exceeds MaxHeaderBytes. Groups longer than purgegate.MaxKeyBytes
// or holding control characters are dropped; duplicates are removed (order of
// first appearance kept). The same grammar serves Cache-Group-Invalidation
// (RFC 9875 §3).
func ParseCacheGroups(values []string) (groups []string, ok bool) {
	if len(values) == 0 {
		return nil, false
	}
	s, ok := joinFieldLines(values, MaxHeaderBytes)
	if !ok {
		return nil, false
	}
	members, ok := parseSFList(s)
	if !ok {
		return nil, false
	}
	var seen map[string]struct{}
	for i := range members {
		m := &members[i]
		if m.isInner || m.item.bare.kind != sfString {
			continue
		}
		g := m.item.bare.s
		if g == "" || len(g) > purgegate.MaxKeyBytes {
			continue
		}
		if dupString(groups, &seen, g) {
			continue
		}
		groups = append(groups, g)
	}
	return groups, true
}

// dupString reports whether s is already in list, using a set once the list
// grows past a few entries. It records s as seen when it is new.
func dupString(list []string, seen *map[string]struct{}, s string) bool {
	if *seen == nil {
		for _, have := range list {
			if have == s {
				return true
			}
		}
		if len(list) >= 16 {
			*seen = make(map[string]struct{}, 2*len(list))
			for _, have := range list {
				(*seen)[have] = struct{}{}
			}
			(*seen)[s] = struct{}{}
		}
		return false
	}
	if _, dup := (*seen)[s]; dup {
		return true
	}
	(*seen)[s] = struct{}{}
	return false
}

// ParseSurrogateKeys parses Surrogate-Key lines: keys separated by spaces or
// tabs, duplicates removed (order of first appearance kept). A key longer
// than purgegate.MaxKeyBytes or holding a control character is ignored and counted in
// dropped; if all lines together exceed MaxHeaderBytes, every key is ignored
// and dropped is their count.
func ParseSurrogateKeys(values []string) (keys []string, dropped int) {
	total := 0
	for _, v := range values {
		total += len(v)
	}
	if total > MaxHeaderBytes {
		for _, v := range values {
			dropped += countFields(v)
		}
		return nil, dropped
	}
	var seen map[string]struct{}
	for _, v := range values {
		for v != "" {
			for v != "" && isOWS(v[0]) {
				v = v[1:]
			}
			end := 0
			for end < len(v) && !isOWS(v[end]) {
				end++
			}
			if end == 0 {
				break
			}
			k := v[:end]
			v = v[end:]
			if len(k) > purgegate.MaxKeyBytes || hasCTL(k) {
				dropped++
				continue
			}
			if dupString(keys, &seen, k) {
				continue
			}
			keys = append(keys, k)
		}
	}
	return keys, dropped
}

func countFields(v string) int {
	n := 0
	in := false
	for i := 0; i < len(v); i++ {
		if isOWS(v[i]) {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// ParseSurrogateControl parses Surrogate-Control (W3C Edge Architecture
// Specification 1.0 §3): "max-age=N[+M]", "no-store", "no-store-remote",
// "content=…", each optionally targeted with ";device-token". Directives
// targeted at target (case-insensitive) take precedence: if any is present,
// only those are used; otherwise only the untargeted ones. max-age=N+M reads
// M as stale-if-error (serve stale for M seconds if the origin cannot be
// reached). The Cache-Control directives stale-while-revalidate,
// stale-if-error, must-revalidate, proxy-revalidate, no-cache, private and
// public are accepted too, as CDNs do. ok is true when at least one caching
// directive (anything but content and unknown extensions) applies.
func ParseSurrogateControl(values []string, target string) (Directives, bool) {
	targeted, untargeted := emptyDirectives(), emptyDirectives()
	tAny, uAny := false, false
	invalid := false
	for _, v := range values {
		sc := dirScanner{s: v, allowTarget: true}
		var dir directive
		for sc.next(&dir) {
			switch {
			case !dir.hasTarget:
				applySurrogate(&untargeted, &uAny, &dir)
			case target != "" && strings.EqualFold(dir.target, target):
				applySurrogate(&targeted, &tAny, &dir)
			}
		}
		invalid = invalid || sc.invalid
	}
	d, ok := untargeted, uAny
	if tAny {
		d, ok = targeted, true
	}
	d.Invalid = d.Invalid || invalid
	return d, ok
}

// applySurrogate folds one Surrogate-Control directive into d; any records
// that a caching directive was seen.
func applySurrogate(d *Directives, any *bool, dir *directive) {
	var buf [24]byte
	switch string(lowerName(buf[:], dir.name)) {
	case "max-age":
		*any = true
		if d.MaxAge >= 0 {
			return
		}
		val, extra := dir.value, ""
		if i := strings.IndexByte(val, '+'); i >= 0 {
			val, extra = val[:i], val[i+1:]
		}
		n, ok := parseDelta(val)
		if !ok || !dir.hasValue {
			d.Invalid = true
			n = 0
		}
		d.MaxAge = n
		if extra != "" {
			if m, ok := parseDelta(extra); ok {
				if d.StaleIfError < 0 {
					d.StaleIfError = m
				}
			} else {
				d.Invalid = true
			}
		}
	case "no-store", "no-store-remote":
		*any = true
		d.NoStore = true
	case "content":
		// ESI capabilities; nothing for a cache to do.
	case "stale-while-revalidate", "stale-if-error", "must-revalidate", "proxy-revalidate",
		"no-cache", "private", "public":
		*any = true
		applyDirective(d, dir)
	}
}
