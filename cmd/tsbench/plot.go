package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// The plot: two panels, relay CPU (cores busy) and p99 added delay against
// viewers, one line per system and protocol, from the "summary" lines of
// the base scenario. Plain SVG written by hand, so that no tool is needed.

const (
	panelW, panelH = 420, 300
	marginL        = 60
	marginT        = 40
	marginB        = 50
	gap            = 40
)

var seriesColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

type series struct {
	name   string
	dashed bool
	pts    [][2]float64 // viewers, value
}

// collect gathers, per system and protocol, the points of key.
func collect(sums []map[string]any, key string) []series {
	idx := map[string]int{}
	var out []series
	for _, s := range sums {
		if s["mode"] != "summary" || s["scenario"] != "base" {
			continue
		}
		n, _ := s["viewers"].(float64)
		if i, ok := s["viewers"].(int); ok {
			n = float64(i)
		}
		for _, sys := range []string{"tsstream", "candidate", "reference"} {
			fig, ok := s[sys].(map[string]float64)
			if !ok {
				continue
			}
			name := fmt.Sprintf("%s %v", sys, s["protocol"])
			i, ok := idx[name]
			if !ok {
				i = len(out)
				idx[name] = i
				out = append(out, series{name: name, dashed: sys == "reference"})
			}
			out[i].pts = append(out[i].pts, [2]float64{n, fig[key]})
		}
	}
	for i := range out {
		slices.SortFunc(out[i].pts, func(a, b [2]float64) int { return int(a[0] - b[0]) })
	}
	return out
}

// plotSVG draws the two panels.
func plotSVG(sums []map[string]any) string {
	var b strings.Builder
	w := marginL*2 + panelW*2 + gap
	h := marginT + panelH + marginB + 20
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	cpu := collect(sums, "cpu_cores")
	panel(&b, marginL, "relay CPU (cores busy)", cpu)
	panel(&b, marginL*2+panelW+gap, "p99 added delay (ms)", collect(sums, "delay_p99_ms"))
	for i, s := range cpu {
		x := marginL + i*170
		y := h - 12
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`,
			x, y-4, x+24, y-4, seriesColors[i%len(seriesColors)], dash(s.dashed))
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y, s.name)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func dash(d bool) string {
	if d {
		return ` stroke-dasharray="6,4"`
	}
	return ""
}

// panel draws one chart with its left edge at x0.
func panel(b *strings.Builder, x0 int, title string, ss []series) {
	var maxX, maxY float64
	for _, s := range ss {
		for _, p := range s.pts {
			maxX, maxY = math.Max(maxX, p[0]), math.Max(maxY, p[1])
		}
	}
	maxX, maxY = niceCeil(maxX), niceCeil(maxY*1.05)
	px := func(v float64) float64 { return float64(x0) + v/maxX*panelW }
	py := func(v float64) float64 { return float64(marginT+panelH) - v/maxY*panelH }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14">%s</text>`+"\n", x0, marginT-14, title)
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0, marginT, panelW, panelH)
	for i := 0; i <= 5; i++ {
		yv, xv := maxY*float64(i)/5, maxX*float64(i)/5
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, x0, py(yv), x0+panelW, py(yv))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, x0-4, py(yv)+4, axisLabel(yv))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(xv), marginT+panelH+16, axisLabel(xv))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">viewers</text>`+"\n", x0+panelW/2, marginT+panelH+34)
	for i, s := range ss {
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1])))
		}
		c := seriesColors[i%len(seriesColors)]
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), c, dash(s.dashed))
		for _, p := range s.pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(p[0]), py(p[1]), c)
		}
		b.WriteString("\n")
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// replot reads the summary lines of a file of tsbench output and writes
// the plot; it returns the exit code.
func replot(from, to string) int {
	f, err := os.Open(from)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer f.Close()
	var sums []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var raw map[string]any
		if json.Unmarshal(sc.Bytes(), &raw) != nil || raw["mode"] != "summary" {
			continue
		}
		sums = append(sums, normalize(raw))
	}
	if err := os.WriteFile(to, []byte(plotSVG(sums)), 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

// normalize gives a decoded summary line the types runCompare builds.
func normalize(raw map[string]any) map[string]any {
	for _, k := range []string{"tsstream", "candidate", "reference", "ratio", "candidate_ratio", "candidate_vs_tsstream"} {
		m, ok := raw[k].(map[string]any)
		if !ok {
			continue
		}
		f := map[string]float64{}
		for kk, v := range m {
			if x, ok := v.(float64); ok {
				f[kk] = x
			}
		}
		raw[k] = f
	}
	return raw
}
