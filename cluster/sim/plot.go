package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// curve is one design's samples for the CDF plot.
type curve struct {
	name string
	xs   []time.Duration
}

var colors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// writeCDF writes dir/cdf-<n>.svg: the empirical CDF of each curve's
// samples (milliseconds, log scale, values under 1 ms drawn at 1 ms) and
// returns its path.
func writeCDF(dir string, n int, loss float64, curves []curve) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("cdf-%d.svg", n))
	return path, os.WriteFile(path, []byte(cdfSVG(n, loss, curves)), 0o644)
}

// cdfSVG draws the plot (pure: the same input gives the same bytes).
func cdfSVG(n int, loss float64, curves []curve) string {
	const w, h, left, right, top, bottom = 640.0, 400.0, 60.0, 20.0, 40.0, 50.0
	pw, ph := w-left-right, h-top-bottom
	lo, hi := 0.0, 1.0 // log10 ms
	for _, c := range curves {
		for _, x := range c.xs {
			hi = max(hi, math.Ceil(logms(x)))
		}
	}
	px := func(x time.Duration) float64 { return left + (logms(x)-lo)/(hi-lo)*pw }
	py := func(f float64) float64 { return top + (1-f)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="20" text-anchor="middle" font-size="14">%d nodes, 6 regions, %.1f %% loss: purge applied on every node, minus the floor</text>`+"\n", w/2, n, loss*100)
	for e := lo; e <= hi; e++ {
		x := left + (e-lo)/(hi-lo)*pw
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x, top+ph+16, math.Pow(10, e))
	}
	for f := 0.0; f <= 1.0; f += 0.25 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, py(f), left+pw, py(f))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left-6, py(f)+4, f)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">ms after the floor (log scale)</text>`+"\n", left+pw/2, h-10)
	fmt.Fprintf(&b, `<text x="15" y="%.1f" text-anchor="middle" transform="rotate(-90 15 %.1f)">fraction of purges</text>`+"\n", top+ph/2, top+ph/2)
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	for i, c := range curves {
		xs := append([]time.Duration(nil), c.xs...)
		sort.Slice(xs, func(a, b int) bool { return xs[a] < xs[b] })
		col := colors[i%len(colors)]
		var pts []string
		prev := py(0)
		for k, x := range xs { // a step function
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", px(x), prev, px(x), py(float64(k+1)/float64(len(xs)))))
			prev = py(float64(k+1) / float64(len(xs)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		}
		ly := top + 16 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`+"\n", left+pw-150, ly-4, left+pw-130, ly-4, col)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s (p50 %s, max %s ms)</text>`+"\n", left+pw-125, ly, c.name, ms(pct(c.xs, 50)), ms(pct(c.xs, 100)))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// logms is log10 of d in milliseconds, at least 0 (1 ms).
func logms(d time.Duration) float64 {
	return math.Log10(max(float64(d)/1e6, 1))
}
