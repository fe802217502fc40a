package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// storeOutcome is what became of a response the cache meant to store. The
// response headers go out before the body has arrived, so Cache-Status can
// say "stored" only for a body complete by then; the outcome of the others
// is in the access log ("store") and meshcdn_edge_store_failures_total.
type storeOutcome uint8

const (
	storePending   storeOutcome = iota // the body is still arriving
	storeStored                        // in the cache
	storeTruncated                     // the origin's body broke off
	storeTimeout                       // the origin stalled past the between-bytes timeout
	storeTooLarge                      // outgrew the object limit or the fetch budget
	storeFenced                        // a purge arrived while it was fetched
	storeRejected                      // the store refused it (expired on arrival, over its limits)
)

// String is the outcome in Cache-Status details and the access log.
func (o storeOutcome) String() string {
	switch o {
	case storeStored:
		return "stored"
	case storeTruncated:
		return "truncated"
	case storeTimeout:
		return "timeout"
	case storeTooLarge:
		return "too-large"
	case storeFenced:
		return "purged"
	case storeRejected:
		return "rejected"
	}
	return "storing"
}

// label is the outcome as a metric label value.
func (o storeOutcome) label() string {
	if o == storeTooLarge {
		return "too_large"
	}
	return o.String()
}

// bodyOutcome is the outcome of a body whose fetch ended with err (not
// nil) before it could be stored.
func bodyOutcome(err error, it *idleTimer) storeOutcome {
	if errors.Is(err, errNoReaders) {
		return storeTooLarge
	}
	if code, _ := classify(err, it); code == http.StatusGatewayTimeout {
		return storeTimeout
	}
	return storeTruncated
}

// closeDelimited reports an HTTP/1 response whose body ends where the
// origin closes the connection: no Content-Length, not chunked (RFC 9112
// §6.3 item 8). A body cut short looks complete.
func closeDelimited(resp *http.Response) bool {
	if resp.ProtoMajor != 1 || resp.ContentLength >= 0 || !bodyAllowed(resp.StatusCode) {
		return false
	}
	for _, te := range resp.TransferEncoding {
		if te == "chunked" {
			return false
		}
	}
	return true
}

// pump reads src into dst (once: a single read) and reports whether the
// body ended, and the error that ended it (nil: a clean end).
func pump(ctx context.Context, dst *streamBody, src io.Reader, buf []byte, once bool) (ended bool, err error) {
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if werr := dst.write(ctx, buf[:n]); werr != nil {
				return true, werr
			}
		}
		if rerr == io.EOF {
			return true, nil
		}
		if rerr != nil {
			return true, rerr
		}
		if once {
			return false, nil
		}
	}
}
