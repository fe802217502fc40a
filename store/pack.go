package store

import (
	"net/http"
	"slices"
	"unsafe"
)

// Packing: Insert rewrites the strings an object holds (Primary,
// Secondary, Vary, header names and values, surrogate keys) into one byte
// block, and their []string backings into one slab, before the object is
// published. A response parsed by net/http holds each header value in its
// own string, each field's values in their own slice, and the edge's keys
// in more strings: about twenty small heap objects per cached object, each
// one the garbage collector must find and mark on every cycle, so the cost
// of a collection grew with the cache, on the cores that serve hits. Packed,
// an object is its struct, the block, the slab and the header map,
// whatever its headers; the strings are views into the block
// (unsafe.String), which is never written after packing, so they are as
// immutable as any Go string. The edge sees the same http.Header and reads
// it as before: a hit still copies the field slices without allocating.

// staticName returns the canonical spelling of a common header field name
// as a string constant (no bytes in the block), or "".
func staticName(k string) string {
	switch k {
	case "Accept-Ranges":
		return "Accept-Ranges"
	case "Age":
		return "Age"
	case "Cache-Control":
		return "Cache-Control"
	case "Content-Encoding":
		return "Content-Encoding"
	case "Content-Language":
		return "Content-Language"
	case "Content-Length":
		return "Content-Length"
	case "Content-Type":
		return "Content-Type"
	case "Date":
		return "Date"
	case "Etag":
		return "Etag"
	case "Expires":
		return "Expires"
	case "Last-Modified":
		return "Last-Modified"
	case "Location":
		return "Location"
	case "Server":
		return "Server"
	case "Surrogate-Control":
		return "Surrogate-Control"
	case "Surrogate-Key":
		return "Surrogate-Key"
	case "Vary":
		return "Vary"
	}
	return ""
}

// packed is what packing allocated, for the budget.
type packed struct {
	block, slab int // capacities: bytes, strings
	fields      int // header fields
}

// The body is not copied into the block. It holds no pointers, so the
// collector never scans it (a noscan span costs marking one word), and
// the edge's body buffer already has its final size: a copy would cost
// every insert a memmove of the body and saves the collector nothing.
// Measured (BenchmarkInsert, 1 KiB bodies): copying bodies of up to
// 16 KiB made an insert about twice as slow.

// packCounts returns the bytes of the strings pack moves into the block,
// how many strings go to the slab, and the header fields.
func packCounts(o *Object) (n, strs, fields int) {
	n, strs = len(o.Primary)+len(o.Secondary), len(o.Vary)+len(o.Keys)
	for _, v := range o.Vary {
		n += len(v)
	}
	for k, vs := range o.Header {
		if staticName(k) == "" {
			n += len(k)
		}
		strs += len(vs)
		for _, v := range vs {
			n += len(v)
		}
	}
	for _, k := range o.Keys {
		n += len(k)
	}
	return n, strs, len(o.Header)
}

// pack rewrites o's strings into one block and one slab (see above). It
// runs before o is published; o's contents are unchanged.
func pack(o *Object) packed {
	n, strs, _ := packCounts(o)
	block := slices.Grow([]byte(nil), n) // capacity rounded up to the allocation
	slab := slices.Grow([]string(nil), strs)
	str := func(s string) string {
		if s == "" {
			return ""
		}
		i := len(block)
		block = append(block, s...)
		return unsafe.String(&block[i], len(s))
	}
	strSlice := func(ss []string) []string {
		if len(ss) == 0 {
			return ss[:0:0] // nil stays nil; empty points to nothing of the original
		}
		i := len(slab)
		for _, s := range ss {
			slab = append(slab, str(s))
		}
		return slab[i:len(slab):len(slab)]
	}
	o.Primary = str(o.Primary)
	o.Secondary = str(o.Secondary)
	o.Vary = strSlice(o.Vary)
	if o.Header != nil {
		h := make(http.Header, len(o.Header))
		for k, vs := range o.Header {
			name := staticName(k)
			if name == "" {
				name = str(k)
			}
			h[name] = strSlice(vs)
		}
		o.Header = h
	}
	o.Keys = strSlice(o.Keys)
	return packed{block: cap(block), slab: cap(slab), fields: len(o.Header)}
}
