package console

import (
	"fmt"
	"html/template"
	"strings"
)

// Charts are SVG drawn on the server: no script, no library, no inline
// style (the colours are classes in console.css). Each is an image with a
// title and a description for screen readers, its numbers written on it,
// and the page puts the same numbers in a table next to it.

// segment is one part of a bar: a value, its label and the class that
// colours it.
type segment struct {
	Label string
	Value int
	Class string
}

// barRow is one labelled bar made of segments.
type barRow struct {
	Label    string
	Segments []segment
}

// esc escapes text for SVG.
func esc(s string) string { return template.HTMLEscapeString(s) }

// stackedBars draws one horizontal bar per row, its segments side by side,
// all on one scale (the largest row fills the width), with a legend.
func stackedBars(title, desc string, rows []barRow) template.HTML {
	const (
		width, barH, labelH, gap, top = 720, 26, 20, 12, 4
	)
	widest := 0
	for _, r := range rows {
		t := 0
		for _, s := range r.Segments {
			t += s.Value
		}
		widest = max(widest, t)
	}
	rowH := labelH + barH + gap
	legendY := top + len(rows)*rowH + 4
	height := legendY + 24
	var b strings.Builder
	id := chartID(title)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`, width, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, esc(title), id, esc(desc))
	for i, r := range rows {
		y := top + i*rowH
		total := 0
		for _, s := range r.Segments {
			total += s.Value
		}
		fmt.Fprintf(&b, `<text class="chart-label" x="0" y="%d">%s (%d)</text>`, y+labelH-6, esc(r.Label), total)
		y += labelH
		x := 0.0
		for _, s := range r.Segments {
			if s.Value == 0 || widest == 0 {
				continue
			}
			w := float64(width) * float64(s.Value) / float64(widest)
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s: %d</title></rect>`, s.Class, x, y, w, barH, esc(s.Label), s.Value)
			if label := fmt.Sprint(s.Value); w >= float64(8*len(label)+8) {
				fmt.Fprintf(&b, `<text class="chart-value %s-text" x="%.1f" y="%d" text-anchor="middle">%s</text>`, s.Class, x+w/2, y+barH/2+5, label)
			}
			x += w
		}
		if total == 0 {
			fmt.Fprintf(&b, `<rect class="chart-empty" x="0" y="%d" width="%d" height="%d"/>`, y, width, barH)
		}
	}
	if len(rows) > 0 {
		x := 0
		for _, s := range rows[0].Segments {
			fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="14" height="14"/><text class="chart-label" x="%d" y="%d">%s</text>`,
				s.Class, x, legendY, x+20, legendY+12, esc(s.Label))
			x += 20 + 8*len(s.Label) + 24
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it went through esc
}

// columns draws a vertical bar per value on one scale, each labelled
// below and its count above.
func columns(title, desc, class string, bars []segment) template.HTML {
	const width, height, bottom, top = 720, 220, 30, 24
	highest := 0
	for _, s := range bars {
		highest = max(highest, s.Value)
	}
	var b strings.Builder
	id := chartID(title)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`, width, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, esc(title), id, esc(desc))
	n := max(len(bars), 1)
	slot := float64(width-20) / float64(n)
	base := height - bottom
	fmt.Fprintf(&b, `<line class="chart-axis" x1="10" y1="%d" x2="%d" y2="%d"/>`, base, width-10, base)
	for i, s := range bars {
		x := 10 + float64(i)*slot
		h := 0.0
		if highest > 0 {
			h = float64(base-top) * float64(s.Value) / float64(highest)
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`, class, x+slot*0.15, float64(base)-h, slot*0.7, h, esc(s.Label), s.Value)
		fmt.Fprintf(&b, `<text class="chart-value" x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, x+slot/2, float64(base)-h-6, s.Value)
		fmt.Fprintf(&b, `<text class="chart-label" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+slot/2, base+20, esc(s.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it went through esc
}

// chartID makes an element id from a chart's title.
func chartID(title string) string {
	var b strings.Builder
	b.WriteString("chart-")
	for _, r := range strings.ToLower(title) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
