package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The insight charts (fatigue per week, the pressure–response curve, the
// what-if histogram) are one shape: a row per series, a column per
// period or bucket, every bar on one shared scale so rows compare at a
// glance, its figure written above it and a note below (messages sent,
// contact-days). As the dashboard's charts: SVG drawn here, no script, no
// inline style, a title and a description in words, and the page gives
// the figures in a table too.

// gridBar is one bar: its height's value, the text written above it
// ("12.5"; "—" for no rate), a note under the column and whether it
// stands on too little data to be read as a trend (drawn hollow, and the
// note says so, so colour is never the only sign).
type gridBar struct {
	Value float64
	Text  string
	Note  string
	Faint bool
}

// gridRow is one series: a label, a line under it, and a bar per column.
type gridRow struct {
	Label, Sub string
	Bars       []gridBar
}

// barGrid draws rows of bars under column labels cols.
func barGrid(id, title, desc string, cols []string, rows []gridRow) template.HTML {
	const (
		labelW = 190
		plotW  = 560
		rowH   = 118
		top    = 10
		headH  = 22
	)
	peak := 0.0
	for _, r := range rows {
		for _, b := range r.Bars {
			if !math.IsNaN(b.Value) {
				peak = max(peak, b.Value)
			}
		}
	}
	if peak <= 0 {
		peak = 1
	}
	n := max(len(cols), 1)
	slot := float64(plotW) / float64(n)
	barW := max(slot*0.6, 2)
	height := top + headH + rowH*len(rows)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc">`,
		labelW+plotW+8, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, esc(title), id, esc(desc))
	for j, c := range cols {
		x := float64(labelW) + float64(j)*slot + slot/2
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#52525b" text-anchor="middle">%s</text>`, x, top+12, esc(c))
	}
	for i, r := range rows {
		y0 := top + headH + rowH*i
		base := y0 + rowH - 34
		plotH := float64(rowH - 34 - 22)
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="14" font-weight="600" fill="#18181b">%s</text>`, y0+30, esc(r.Label))
		if r.Sub != "" {
			fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12" fill="#52525b">%s</text>`, y0+48, esc(r.Sub))
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#a1a1aa" stroke-width="1"/>`, labelW, base, labelW+plotW, base)
		for j, bar := range r.Bars {
			if j >= n {
				break
			}
			cx := float64(labelW) + float64(j)*slot + slot/2
			h := 0.0
			if !math.IsNaN(bar.Value) && bar.Value > 0 {
				h = max(plotH*bar.Value/peak, 1.5)
			}
			if h > 0 {
				fill := `fill="#7c2d12"`
				if bar.Faint {
					fill = `fill="#ffffff" stroke="#7c2d12" stroke-width="1.5" stroke-dasharray="3 2"`
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" %s><title>%s, %s: %s</title></rect>`,
					cx-barW/2, float64(base)-h, barW, h, fill, esc(r.Label), esc(cols[j]), esc(bar.Text))
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" font-weight="600" fill="#18181b" text-anchor="middle">%s</text>`,
				cx, float64(base)-h-5, esc(bar.Text))
			if bar.Note != "" {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#52525b" text-anchor="middle">%s</text>`, cx, base+15, esc(bar.Note))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it went through esc
}

// rateText writes a rate per 1,000 with one decimal, "—" for none (nothing
// sent, no contact-day).
func rateText(r *float64) string {
	if r == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f", *r)
}

// rateValue is a rate as a bar's height, NaN for none.
func rateValue(r *float64) float64 {
	if r == nil {
		return math.NaN()
	}
	return *r
}
