package httpcache

import (
	"net/http"
	"reflect"
	"time"
)

// hdr builds a header from name, value pairs; a name may repeat to add
// several field lines.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const s = time.Second

// dirs returns empty Directives with the given changes applied.
func dirs(f func(d *Directives)) Directives {
	d := emptyDirectives()
	if f != nil {
		f(&d)
	}
	return d
}

func equalDirectives(a, b Directives) bool {
	norm := func(d Directives) Directives {
		if len(d.NoCacheFields) == 0 {
			d.NoCacheFields = nil
		}
		if len(d.PrivateFields) == 0 {
			d.PrivateFields = nil
		}
		return d
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

var httpDate = func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
