package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
)

// chart is one SVG of the report.
type chart struct {
	name  string // the rows' chart field
	file  string
	title string
}

var charts = []chart{
	{"calls", "bench-calls.svg", "Call overhead: median time per call, each kind against compiled code (log scale)"},
	{"apply", "bench-apply.svg", "Apply latency of each kind: median (log scale; the whisker is the spread)"},
}

// svgChart draws the median of ch's rows as horizontal bars on a log
// scale, since they span orders of magnitude, with the spread of the runs
// as a whisker; a row compared with another is drawn in a second colour
// just below it. It returns nil when no row belongs to ch.
func svgChart(ch chart, rows []row) []byte {
	var rs []row
	for _, r := range rows {
		if r.chart == ch.name && len(r.vals) > 0 {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	const left, barMax, barH, gap, top = 200, 460, 20, 6, 44
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		lo = min(lo, math.Log10(max(slices.Min(r.vals), 1e-3)))
		hi = max(hi, math.Log10(max(slices.Max(r.vals), 1e-3)))
	}
	if lo-math.Floor(lo) < 0.2 {
		lo-- // so that the shortest bar still shows
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	x := func(v float64) float64 {
		return left + (math.Log10(max(v, 1e-3))-lo)/(hi-lo)*barMax
	}
	height := top + len(rs)*(barH+gap) + 40
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+barMax+170, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">%s</text>`+"\n", xmlEscape(ch.title))
	// A grid line and a label at each power of ten.
	for p := lo; p <= hi; p++ {
		gx := x(math.Pow(10, p))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", gx, top-6, gx, height-30)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%s</text>`+"\n", gx, height-14, xmlEscape(fmtNs(math.Pow(10, p))))
	}
	for i, r := range rs {
		y := top + i*(barH+gap)
		fill := "#4a78b0"
		if r.base != "" {
			fill = "#d9822b" // a patched call, or anything compared with a baseline row
		}
		med := median(r.vals)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-6, xmlEscape(r.name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s</title></rect>`+"\n",
			left, y, x(med)-left, barH, fill, xmlEscape(r.name), xmlEscape(r.what))
		lx, hx := x(slices.Min(r.vals)), x(slices.Max(r.vals))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", lx, y+barH/2, hx, y+barH/2)
		label := r.format(med)
		if base, ok := findRow(rs, r.base); ok {
			label += fmt.Sprintf(" (%.3g×)", med/median(base.vals))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", max(x(med), hx)+6, y+barH-6, xmlEscape(label))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func findRow(rs []row, name string) (row, bool) {
	if name == "" {
		return row{}, false
	}
	i := slices.IndexFunc(rs, func(r row) bool { return r.name == name })
	if i < 0 {
		return row{}, false
	}
	return rs[i], true
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
