package render

import (
	"bytes"
	"context"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// TestLayoutsAreSpliced: both shared layouts pass New's check, so no
// message executes them.
func TestLayoutsAreSpliced(t *testing.T) {
	r, err := New(Company{Name: "Example & Co <GmbH>", Address: "1 \"Example\" Street"})
	require.NoError(t, err)
	require.NotNil(t, r.spliceHTML, "the HTML layout")
	require.NotNil(t, r.spliceText, "the text layout")
	require.Len(t, r.spliceHTML.slots, 5, "lang, subject, body and the two links")
	require.Len(t, r.spliceText.slots, 3, "body and the two links")
}

// TestSpliceWritesWhatTheLayoutWrites: for random contacts, subjects and
// links — plain ones as rapport signs them, and ones with spaces,
// non-ASCII, quotes or a script scheme that must go through html/template
// — a render through the splices is byte for byte the render that
// executes the layouts.
func TestSpliceWritesWhatTheLayoutWrites(t *testing.T) {
	r, err := New(Company{Name: "Example & Co", Address: "1 Example Street"})
	require.NoError(t, err)
	slow := *r
	slow.spliceHTML, slow.spliceText = nil, nil
	comp, errs := Compile(outreach.Content{
		Subject: "{{.Contact.Name}} — news",
		Text:    "Hello {{.Contact.Name}}\n{{.PreferencesURL}}",
		HTML:    `<p>Hello {{.Contact.Name}}</p><a href="{{.UnsubscribeURL}}">stop</a>`,
	}, "")
	require.Empty(t, errs)
	v := newRandomValues(1)
	word, link := v.word, v.link
	spliced := 0
	for range 2000 {
		d := Data{Contact: ContactData{ID: 1, Name: word(12), Email: "a@example.com", Locale: word(4)},
			PreferencesURL: link(), UnsubscribeURL: link()}
		want, err := slow.Render(context.Background(), comp, d)
		require.NoError(t, err)
		got, err := r.Render(context.Background(), comp, d)
		require.NoError(t, err)
		require.Equal(t, want, got, "%+v", d)
		if plainURL(d.PreferencesURL) && plainURL(d.UnsubscribeURL) {
			spliced++
		}
	}
	require.Greater(t, spliced, 500, "most renders went through the splice")
}

// TestSplicedLayoutKeepsTheLimit: through the splice as through the
// template, a wrapped part longer than its writer's bound is refused with
// the part's name and size, and one that fits is written whole.
func TestSplicedLayoutKeepsTheLimit(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	ld := layoutData{Data: sample(), Lang: "en", Subject: "Hi", Body: htmltemplate.HTML(strings.Repeat("a", 900))}
	var n int
	for _, max := range []int{100000, 1000} {
		out := &boundedWriter{ctx: context.Background(), buf: &bytes.Buffer{}, max: max, deadline: time.Now().Add(time.Minute), part: "html"}
		err := wrap(out, r.spliceHTML, ld, []byte(strings.Repeat("a", 900)), func(io.Writer) error { t.Fatal("the splice took it"); return nil })
		if max == 1000 {
			var le *LimitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, &LimitError{Part: "html", Size: 1000}, le)
			require.Zero(t, out.buf.Len(), "nothing written past the bound")
			continue
		}
		require.NoError(t, err)
		n = out.buf.Len()
		require.Contains(t, out.buf.String(), strings.Repeat("a", 900))
	}
	require.Greater(t, n, 1000, "the layout around 900 bytes is over 1000")
}

// BenchmarkRender renders the benchmark's realistic message
// (internal/bench/testdata) as every send does (content flat, layouts
// spliced), with the content executed, and with everything executed, as
// before both: `go test -bench Render ./internal/render`.
func BenchmarkRender(b *testing.B) {
	read := func(name string) string {
		raw, err := os.ReadFile(filepath.Join("..", "bench", "testdata", name))
		require.NoError(b, err)
		return string(raw)
	}
	r, err := New(Company{Name: "Example & Co", Address: "1 Example Street, Berlin"})
	require.NoError(b, err)
	comp, errs := Compile(outreach.Content{Subject: strings.TrimSpace(read("realistic.subject.txt")), Text: read("realistic.txt.tmpl"), HTML: read("realistic.html.tmpl")}, "")
	require.Empty(b, errs)
	executed := *r
	executed.spliceHTML, executed.spliceText = nil, nil
	content := *comp
	content.flatSubject, content.flatText, content.flatHTML = nil, nil, nil
	for _, tc := range []struct {
		name string
		r    *Renderer
		c    *Compiled
	}{{"flat+spliced", r, comp}, {"content-executed", r, &content}, {"all-executed", &executed, &content}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			d := sample()
			for b.Loop() {
				if _, err := tc.r.Render(context.Background(), tc.c, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNoSpliceForOtherValues: a layout printing anything per message other
// than the spliced values is never spliced (it is executed per message).
func TestNoSpliceForOtherValues(t *testing.T) {
	for _, layout := range []string{
		`<p>{{.Contact.Email}}</p>{{.Body}}<a href="{{.UnsubscribeURL}}">x</a>`,
		`{{.Body}}<p>{{.Company.Name}}</p>`,
		`{{.Body}}<script>var l = {{.Lang}};</script>`, // escaped for JS, not as HTML text
	} {
		h := htmltemplate.Must(htmltemplate.New("l").Parse(layout))
		require.Nil(t, newSplice(func(w io.Writer, ld layoutData) error { return h.Execute(w, ld) }, true), layout)
	}
	h := htmltemplate.Must(htmltemplate.New("l").Parse(`<html lang="{{.Lang}}">{{.Body}}<a href="{{.PreferencesURL}}">p</a>`))
	require.NotNil(t, newSplice(func(w io.Writer, ld layoutData) error { return h.Execute(w, ld) }, true), "only spliced values")
}
