package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime/pprof"
	"strconv"
)

// Sender CPU from a CPU profile: every goroutine of node i carries the
// profiler label node=i (set on the starting goroutine just before the
// node starts: the goroutines it starts inherit it), and so do the
// accepting node's Purge calls; the profile's samples are then summed by
// label. What the network simulation does on its own goroutines (delivery
// timers) carries no label.

// labelNode labels the calling goroutine (and those it starts) node=i.
func labelNode(i int) {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("node", strconv.Itoa(i))))
}

func unlabel() { pprof.SetGoroutineLabels(context.Background()) }

// cpuByNode sums a gzipped CPU profile's CPU time by the "node" label
// ("" for unlabelled samples).
func cpuByNode(prof []byte) (map[string]int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(prof))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var strs []string
	var types [][2]int64 // sample_type: (type, unit) string indexes
	type sample struct {
		values []int64
		labels [][2]int64 // (key, str) string indexes
	}
	var samples []sample
	err = fields(raw, func(num int, wire int, v uint64, b []byte) error {
		switch {
		case num == 6 && wire == 2:
			strs = append(strs, string(b))
		case num == 1 && wire == 2:
			var vt [2]int64
			err := fields(b, func(n, w int, v uint64, _ []byte) error {
				if w == 0 && (n == 1 || n == 2) {
					vt[n-1] = int64(v)
				}
				return nil
			})
			types = append(types, vt)
			return err
		case num == 2 && wire == 2:
			var s sample
			err := fields(b, func(n, w int, v uint64, sb []byte) error {
				switch {
				case n == 2 && w == 0:
					s.values = append(s.values, int64(v))
				case n == 2 && w == 2:
					for len(sb) > 0 {
						x, k := binary.Uvarint(sb)
						if k <= 0 {
							return errors.New("bad packed value")
						}
						s.values = append(s.values, int64(x))
						sb = sb[k:]
					}
				case n == 3 && w == 2:
					var l [2]int64
					err := fields(sb, func(ln, lw int, lv uint64, _ []byte) error {
						if lw == 0 && (ln == 1 || ln == 2) {
							l[ln-1] = int64(lv)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	str := func(i int64) string {
		if i >= 0 && int(i) < len(strs) {
			return strs[i]
		}
		return ""
	}
	cpu := -1
	for i, t := range types {
		if str(t[0]) == "cpu" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, errors.New("no cpu sample type")
	}
	out := map[string]int64{}
	for _, s := range samples {
		if cpu >= len(s.values) {
			continue
		}
		node := ""
		for _, l := range s.labels {
			if str(l[0]) == "node" {
				node = str(l[1])
			}
		}
		out[node] += s.values[cpu]
	}
	return out, nil
}

// fields walks the protobuf fields of b.
func fields(b []byte, f func(num, wire int, v uint64, sub []byte) error) error {
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("bad key")
		}
		b = b[k:]
		num, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return errors.New("bad varint")
			}
			b = b[k:]
			if err := f(num, wire, v, nil); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return errors.New("short fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return errors.New("short fixed32")
			}
			b = b[4:]
		case 2:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return errors.New("bad length")
			}
			if err := f(num, wire, 0, b[k:k+int(l)]); err != nil {
				return err
			}
			b = b[k+int(l):]
		default:
			return errors.New("bad wire type")
		}
	}
	return nil
}
