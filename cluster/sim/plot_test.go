package main

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// The plot is well-formed SVG with one step curve and one legend entry
// per design, and stays finite for empty and sub-millisecond samples.
func TestCDFSVG(t *testing.T) {
	ms := time.Millisecond
	svg := cdfSVG(100, 0.01, []curve{
		{name: "direct", xs: []time.Duration{20 * ms, 300 * ms, 900 * ms}},
		{name: "relay", xs: []time.Duration{-2 * ms, 0, 8 * ms}},
		{name: "gossip"},
	})
	d := xml.NewDecoder(strings.NewReader(svg))
	lines := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 2 {
		t.Errorf("%d curves drawn, want 2 (the empty one has none)", lines)
	}
	for _, want := range []string{"direct (p50 300.0", "relay (p50 0.0", "gossip (p50 0.0"} {
		if !strings.Contains(svg, want) {
			t.Errorf("legend lacks %q", want)
		}
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Error("a coordinate is not finite")
	}
}
