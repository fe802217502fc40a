package main

import (
	"bytes"
	"context"
	"runtime/pprof"
	"testing"
)

// CPU spent under a label is found under that label in the profile.
func TestCPUByNode(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skip("CPU profiling unavailable:", err)
	}
	var sink uint64
	spin := func(n int) { // a fixed amount of work, whatever the machine's load
		x := uint64(1)
		for range n {
			x = x*6364136223846793005 + 1442695040888963407
		}
		sink += x
	}
	pprof.Do(context.Background(), pprof.Labels("node", "7"), func(context.Context) { spin(300_000_000) })
	spin(50_000_000)
	pprof.StopCPUProfile()
	by, err := cpuByNode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if by["7"] == 0 || by["7"] < 2*by[""] {
		t.Fatalf("CPU by label: %v (node 7 did six times the unlabelled work; %d)", by, sink)
	}
}
