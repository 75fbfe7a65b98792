package console

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChartsAreWellFormedAndEscaped: the charts are XML a browser can
// read, names in them are escaped, and their numbers are written on them.
func TestChartsAreWellFormedAndEscaped(t *testing.T) {
	bars := stackedBars("What <happens>", "desc & more", []barRow{
		{Label: `<script>alert("x")</script>`, Segments: []segment{{"Sent now", 120, "c-now"}, {"Deferred", 0, "c-deferred"}}},
		{Label: "Empty", Segments: []segment{{"Sent now", 0, "c-now"}, {"Deferred", 0, "c-deferred"}}},
	})
	cols := columns("Waits", "d", "c-deferred", []segment{{Label: "≤ 1h", Value: 3}, {Label: "later"}})
	for _, svg := range []string{string(bars), string(cols)} {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := d.Token()
			if err != nil {
				require.Equal(t, "EOF", err.Error(), svg)
				break
			}
		}
	}
	require.NotContains(t, string(bars), "<script>")
	require.Contains(t, string(bars), "&lt;script&gt;")
	require.Contains(t, string(bars), ">120</text>")
	require.Contains(t, string(bars), `class="chart-empty"`, "a row with nothing still shows")
	require.Contains(t, string(bars), `role="img" aria-labelledby="chart-what-happens-t chart-what-happens-d"`)
	require.Contains(t, string(cols), ">3</text>")
}
