package render

import (
	"bytes"
	"context"
	"errors"
	htmltemplate "html/template"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
)

func content(html string) outreach.Content {
	return outreach.Content{Subject: "Hi", Text: "Hello", HTML: html}
}

func renderHTML(t *testing.T, r *Renderer, ctx context.Context, html string, d Data) (Message, error) {
	t.Helper()
	comp, errs := Compile(content(html), "")
	require.Empty(t, errs)
	return r.Render(ctx, comp, d)
}

// TestRangeOverHugeIntegerIsRefused: {{range 10000000}} took 486 MB and
// seconds to check; now the create check refuses it at once, naming the
// field.
func TestRangeOverHugeIntegerIsRefused(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	errs := r.Check(context.Background(), content("{{range 10000000}}xxxxxxxxxx{{end}}"), "variants.high.")
	require.Len(t, errs, 1)
	require.Equal(t, "variants.high.html", errs[0].Field)
	require.Contains(t, errs[0].Message, "at most 10000 iterations")
}

// TestOutputOverTheLimitStops: a part that writes past MaxBytes stops at
// that write, with an error naming the part and the limit.
func TestOutputOverTheLimitStops(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	// The default: 512 KiB per part; this writes 1 MB.
	errs := r.Check(context.Background(), content(`{{range 10000}}{{printf "%0100d" 0}}{{end}}`), "")
	require.Len(t, errs, 1)
	require.Equal(t, "html", errs[0].Field)
	require.Equal(t, "the html part is larger than 512 KiB (TEMPLATE_MAX_BYTES)", errs[0].Message)

	small := r.WithLimits(Limits{MaxBytes: 1 << 10})
	comp, cerrs := Compile(outreach.Content{Subject: "Hi", Text: "{{range 200}}abcdefghij{{end}}", HTML: "<p>ok</p>"}, "")
	require.Empty(t, cerrs)
	_, err = small.Render(context.Background(), comp, sample())
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "text", le.Part)
	require.Equal(t, "the text part is larger than 1 KiB (TEMPLATE_MAX_BYTES)", le.Error())
	var te *TemplateError
	require.ErrorAs(t, err, &te)
	require.Equal(t, "text", te.Field)
}

// TestExpensiveForSomeContacts: the check renders for a sample contact;
// a contact whose data makes the template large still meets the limit.
func TestExpensiveForSomeContacts(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	html := `{{range .Contact.Attributes.items}}{{printf "%0100d" 0}}{{end}}`
	require.Empty(t, r.Check(context.Background(), content(html), ""), "nothing for the sample contact")
	d := sample()
	items := make([]any, 10000)
	d.Contact.Attributes = map[string]any{"items": items}
	_, err = renderHTML(t, r, context.Background(), html, d)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "html", le.Part)
}

// TestSlowTemplateStopsAtDeadline: nested loops that write nothing (10^8
// iterations) stop at the deadline instead of running for seconds.
func TestSlowTemplateStopsAtDeadline(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	r = r.WithLimits(Limits{Timeout: 50 * time.Millisecond})
	_, err = renderHTML(t, r, context.Background(), "{{range 10000}}{{range 10000}}{{end}}{{end}}", sample())
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "the html part took longer than 50ms to render (TEMPLATE_TIMEOUT)", le.Error())
}

// TestRenderStopsWhenContextEnds: a preview whose client has gone stops
// rendering.
func TestRenderStopsWhenContextEnds(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = renderHTML(t, r, ctx, "{{range 10000}}{{range 10000}}{{end}}{{end}}", sample())
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}

// TestBoundsChangeNoOutput: the rewritten loops write exactly what the
// template would have written, in every HTML context.
func TestBoundsChangeNoOutput(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	d := sample()
	d.Contact.Attributes = map[string]any{"list": []any{"a", "b<"}, "n": 3}
	for _, html := range []string{
		`{{range 3}}{{.}}{{end}}`,
		`{{range $i, $e := .Contact.Attributes.list}}{{$i}}={{$e}};{{end}}`,
		`{{range .Contact.Attributes.missing}}x{{else}}none{{end}}`,
		`<script>var a = [{{range .Contact.Attributes.list}}{{.}},{{end}}];</script>`,
		`<a href="/x?{{range .Contact.Attributes.list}}q={{.}}&{{end}}" title="{{range 2}}t{{end}}">x</a>`,
		`<style>{{range 2}}p{}{{end}}</style>{{define "x"}}{{range 2}}[{{.}}]{{end}}{{end}}{{template "x"}}`,
		`{{range $i := .Contact.Attributes.n}}{{if eq $i 1}}{{continue}}{{end}}{{$i}}{{end}}`,
	} {
		want := htmltemplate.Must(htmltemplate.New("html").Option("missingkey=zero").Parse(html))
		var buf bytes.Buffer
		require.NoError(t, want.Execute(&buf, d), html)
		comp, errs := Compile(content(html), "")
		require.Empty(t, errs, html)
		var got bytes.Buffer
		require.NoError(t, comp.html.Execute(&got, d), html)
		require.Equal(t, buf.String(), got.String(), html)
	}
	msg, err := renderHTML(t, r, context.Background(), `{{range 3}}{{.}}{{end}}`, d)
	require.NoError(t, err)
	require.True(t, strings.Contains(msg.HTML, "012"))
}
