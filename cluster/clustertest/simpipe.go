package clustertest

import (
	"net"
	"sync/atomic"
	"time"
)

// delayedPipe returns the two ends of an in-memory stream whose every
// chunk of n bytes arrives after ab(n) (client → server) or ba(n) (server
// → client), in order, and whose close reaches the far end after the
// data written before it; a chunk whose delay function reports false
// breaks the stream (both ends close). Bytes written are added to
// abBytes / baBytes.
func delayedPipe(ab, ba func(n int) (time.Duration, bool), abBytes, baBytes *atomic.Uint64) (client, server net.Conn) {
	client, c2 := net.Pipe()
	s2, server := net.Pipe()
	go pump(c2, s2, ab, abBytes)
	go pump(s2, c2, ba, baBytes)
	return client, server
}

type chunk struct {
	b  []byte
	at time.Time
}

// pump copies src to dst, holding each chunk until its delay has passed;
// at the end of src it closes dst (after the held chunks).
func pump(src, dst net.Conn, delay func(n int) (time.Duration, bool), count *atomic.Uint64) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		last := time.Time{}
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				count.Add(uint64(n))
				d, up := delay(n)
				if !up {
					_ = src.Close()
					_ = dst.Close()
					return
				}
				at := time.Now().Add(d)
				if at.Before(last) { // a stream keeps its order
					at = last
				}
				last = at
				q <- chunk{buf[:n], at}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	_ = dst.Close()
	for range q { // unblock the reader
	}
}
