package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// The dashboard's charts, drawn on the server as SVG: no script, no
// chart library, nothing the Content-Security-Policy has to allow (SVG
// presentation attributes are not styles). Each is an image with a title
// and a description that says what it shows in words; the page gives the
// figures as a table too. Colour is never what tells two things apart:
// every series has its own row and label.

// dashSeries is one labelled row of bars.
type dashSeries struct {
	Label  string
	Values []int64
}

// dashMultiples draws one row of daily bars per series on a shared
// scale, so rows compare at a glance: days along the bottom, each row
// labelled with its name and total. id names the title and description.
func dashMultiples(id, title, desc string, days []time.Time, rows []dashSeries) template.HTML {
	const (
		labelW = 190
		plotW  = 560
		rowH   = 64
		top    = 8
		axisH  = 44
	)
	var peak int64
	for _, r := range rows {
		for _, v := range r.Values {
			peak = max(peak, v)
		}
	}
	scale := dashCeil(peak)
	n := max(len(days), 1)
	slot := float64(plotW) / float64(n)
	barW := max(slot*0.72, 1)
	height := top + rowH*len(rows) + axisH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc">`,
		labelW+plotW+8, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(title), id, esc(desc))
	for i, r := range rows {
		y0 := top + rowH*i
		base := y0 + rowH - 14
		var total int64
		for _, v := range r.Values {
			total += v
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="14" font-weight="600" fill="#18181b">%s</text>`, y0+24, esc(r.Label))
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="13" fill="#52525b">%s in all</text>`, y0+42, esc(thousands(total)))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#a1a1aa" stroke-width="1"/>`, labelW, base, labelW+plotW, base)
		for j, v := range r.Values {
			if v == 0 || j >= n {
				continue
			}
			h := float64(rowH-22) * float64(v) / float64(scale)
			h = max(h, 1.5)
			x := float64(labelW) + float64(j)*slot + (slot-barW)/2
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1d4ed8"><title>%s, %s: %s</title></rect>`,
				x, float64(base)-h, barW, h, esc(r.Label), esc(days[j].Format("2 Jan")), esc(thousands(v)))
		}
	}
	axisY := top + rowH*len(rows) + 16
	for j, d := range days {
		if (len(days)-1-j)%7 != 0 {
			continue
		}
		x := float64(labelW) + float64(j)*slot + slot/2
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#52525b" text-anchor="middle">%s</text>`, x, axisY, esc(d.Format("2 Jan")))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#52525b" text-anchor="end">bar height: up to %s a day</text>`,
		labelW+plotW, axisY+20, esc(thousands(scale)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// dashBar is one labelled horizontal bar.
type dashBar struct {
	Label string
	N     int64
}

// dashBars draws one bar per label, its figure written after it.
func dashBars(id, title, desc string, bars []dashBar) template.HTML {
	const (
		labelW = 260
		plotW  = 380
		barH   = 22
		gap    = 12
	)
	var peak int64
	for _, x := range bars {
		peak = max(peak, x.N)
	}
	peak = max(peak, 1)
	height := len(bars)*(barH+gap) + gap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart chart-bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc">`,
		labelW+plotW+90, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(title), id, esc(desc))
	for i, x := range bars {
		y := gap + i*(barH+gap)
		w := float64(plotW) * float64(x.N) / float64(peak)
		if x.N > 0 {
			w = max(w, 2)
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="14" fill="#18181b">%s</text>`, y+16, esc(x.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#92400e"/>`, labelW, y, w, barH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="14" font-weight="600" fill="#18181b">%s</text>`, float64(labelW)+w+8, y+16, esc(thousands(x.N)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// dashCeil rounds a chart's peak up to 1, 2 or 5 times a power of ten.
func dashCeil(v int64) int64 {
	if v <= 1 {
		return 1
	}
	p := int64(1)
	for p*10 < v {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
