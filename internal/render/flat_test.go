package render

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// TestFlatTemplates: templates of text and plain values are cut into a
// flat, each value with the escaping html/template gives it; anything
// with logic, functions, attributes or a context a flat does not escape
// for is executed.
func TestFlatTemplates(t *testing.T) {
	for _, tc := range []struct {
		html string
		flat bool
		vals int
	}{
		{`<p>Hello {{.Contact.Name}}</p>`, true, 1},
		{`<a href="{{.UnsubscribeURL}}" title="{{.Campaign.Name}}">x</a><textarea>{{.Contact.Email}}</textarea>`, true, 3},
		{`<p>#{{.Contact.ID}} of {{.Campaign.ID}} ({{.Contact.Tier}}, {{.Contact.Locale}}, {{.Campaign.Topic}})</p>`, true, 5},
		{`no values at all`, true, 0},
		{`<!-- note --><p>{{.Company.Name}}, {{.Company.Address}}, {{.PreferencesURL}}</p>`, true, 3},
		{`<!-- {{.Contact.Name}} --><p>x</p>`, false, 0},
		{`{{if .Contact.Name}}Hi {{.Contact.Name}}{{end}}`, false, 0},
		{`{{with .Contact.Name}}{{.}}{{end}}`, false, 0},
		{`{{range .Contact.Attributes}}x{{end}}`, false, 0},
		{`{{.Contact.Attributes.plan}}`, false, 0},
		{`{{$n := .Contact.Name}}{{$n}}`, false, 0},
		{`{{printf "%s" .Contact.Name}}`, false, 0},
		{`{{.Contact.Name | html}}`, false, 0},
		{`<script>var n = {{.Contact.Name}};</script>`, false, 0},
		{`<a href="https://example.com/?e={{.Contact.Email}}">x</a>`, false, 0},
		{`<a title={{.Contact.Name}}>x</a>`, false, 0},
		{`<p style="color: {{.Contact.Tier}}">x</p>`, false, 0},
		{`{{define "x"}}y{{end}}{{template "x"}}`, false, 0},
	} {
		c, errs := Compile(outreach.Content{Subject: "s", Text: "t", HTML: tc.html}, "")
		require.Empty(t, errs, tc.html)
		if !tc.flat {
			require.Nil(t, c.flatHTML, tc.html)
			continue
		}
		require.NotNil(t, c.flatHTML, tc.html)
		require.Len(t, c.flatHTML.vals, tc.vals, tc.html)
	}
	c, errs := Compile(outreach.Content{Subject: "{{.Contact.Name}} news", Text: "{{if .Contact.Name}}x{{end}}", HTML: "<p>x</p>"}, "")
	require.Empty(t, errs)
	require.NotNil(t, c.flatSubject)
	require.Nil(t, c.flatText)
}

// TestRealisticTemplateIsFlat: the benchmark's campaign (a newsletter of
// the usual kind) takes the fast path in all three parts.
func TestRealisticTemplateIsFlat(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../bench/testdata/" + name)
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	c, errs := Compile(outreach.Content{Subject: read("realistic.subject.txt"), Text: read("realistic.txt.tmpl"),
		HTML: read("realistic.html.tmpl")}, "")
	require.Empty(t, errs)
	require.NotNil(t, c.flatSubject)
	require.NotNil(t, c.flatText)
	require.NotNil(t, c.flatHTML)
}

// TestFlatWritesWhatTheTemplateWrites: random templates, built of markup
// in every context html/template knows and of values in them, rendered for
// random contacts (names full of characters to escape, links plain or
// not): when a template has a flat, a render through it is byte for byte
// the render that executes the template.
func TestFlatWritesWhatTheTemplateWrites(t *testing.T) {
	r, err := New(Company{Name: "Example & Co", Address: "1 Example Street"})
	require.NoError(t, err)
	v := newRandomValues(3, "\xff", "{", "}", "\n")
	rng, word, link := v.rng, v.word, v.link
	markup := []string{"<p>", "</p>", `<a href="`, `<a href='`, `">`, `'>`, "</a>", `<img alt="`, `<a title=`, " x ",
		"<textarea>", "</textarea>", "<title>", "</title>", "<script>", "</script>", "<style>", "</style>", "<!-- ", " -->",
		`<a href="https://e.com/?q=`, `<p style="`, `<div `, "&amp;", "Hello, ", "\n", "<b>", "</b>"}
	wholes := []string{`<a href="V">x</a>`, `<a href='V'>x</a>`, `<img alt="V">`, `<p>V</p>`, `<textarea>V</textarea>`,
		`<a href="https://e.com/?q=V">x</a>`, `<script>var v = V;</script>`, `<a title=V>x</a>`, `<p style="color: V">x</p>`,
		`<a href="mailto:V">x</a>`, `<a href="/V">x</a>`, `<a href="V/x">x</a>`}
	fields := []string{"Contact.ID", "Contact.Name", "Contact.Email", "Contact.Locale", "Contact.Tier", "Campaign.ID",
		"Campaign.Name", "Campaign.Topic", "PreferencesURL", "UnsubscribeURL", "Company.Name", "Company.Address"}
	flats, spliced := 0, 0
	for range 1000 {
		var tmpl strings.Builder
		for range 1 + rng.IntN(8) {
			value := "{{." + fields[rng.IntN(len(fields))] + "}}"
			switch rng.IntN(4) {
			case 0:
				tmpl.WriteString(markup[rng.IntN(len(markup))])
			case 1:
				tmpl.WriteString(value)
			default: // a value in a whole element or attribute
				tmpl.WriteString(strings.Replace(wholes[rng.IntN(len(wholes))], "V", value, 1))
			}
		}
		comp, errs := Compile(outreach.Content{Subject: "{{.Contact.Name}} " + word(4), Text: tmpl.String(), HTML: tmpl.String()}, "")
		if len(errs) > 0 {
			continue
		}
		if comp.flatHTML == nil {
			continue
		}
		flats++
		slow := *comp
		slow.flatSubject, slow.flatText, slow.flatHTML = nil, nil, nil
		for range 20 {
			d := Data{Contact: ContactData{ID: rng.Int64N(1e6), Name: word(12), Email: word(6) + "@example.com", Locale: word(4), Tier: word(4)},
				Campaign: CampaignData{ID: rng.Int64N(1e6), Name: word(8), Topic: word(4)}, PreferencesURL: link(), UnsubscribeURL: link()}
			want, wantErr := r.Render(context.Background(), &slow, d)
			got, gotErr := r.Render(context.Background(), comp, d)
			require.Equal(t, wantErr, gotErr, tmpl.String())
			require.Equal(t, want, got, "%q with %+v", tmpl.String(), d)
			var b bytes.Buffer
			if _, ok := comp.flatHTML.write(&b, &d, 1<<30); ok {
				spliced++
			}
		}
	}
	t.Logf("%d of 1000 templates flat, %d of their renders through the flat", flats, spliced)
	require.Greater(t, flats, 100, "a fair share of the random templates were flat")
	require.Greater(t, spliced, 1500, "and most of their renders went through the flat")
	require.Less(t, spliced, flats*20, "and some, with links plainURL refuses, executed the template")
}

// TestFlatKeepsTheSizeBound: a flat part over TEMPLATE_MAX_BYTES fails as
// the executed template does.
func TestFlatKeepsTheSizeBound(t *testing.T) {
	r, err := New(Company{Name: "Example", Address: "1 Example Street"})
	require.NoError(t, err)
	r = r.WithLimits(Limits{MaxBytes: 64})
	c, errs := Compile(outreach.Content{Subject: "s", Text: "t", HTML: "<p>{{.Contact.Name}}</p>"}, "")
	require.Empty(t, errs)
	require.NotNil(t, c.flatHTML)
	_, err = r.Render(context.Background(), c, Data{Contact: ContactData{Name: strings.Repeat("<", 20)}})
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "html", le.Part)
	_, err = r.Render(context.Background(), c, Data{Contact: ContactData{Name: "Ada"}})
	require.NoError(t, err)
}

// FuzzFlat: whatever the template and the values, a render through a flat
// is the render that executes the template.
func FuzzFlat(f *testing.F) {
	f.Add(`<p>Hello {{.Contact.Name}}</p><a href="{{.UnsubscribeURL}}">x</a>`, "Ada <&>", "https://e.com/u/x")
	f.Add(`<a title="{{.Contact.Email}}">{{.Campaign.ID}}</a>`, "\x00'\"", "javascript:x")
	f.Add(`<textarea>{{.Contact.Name}}</textarea>{{.PreferencesURL}}`, "</textarea><b>", "http://e.com/p?a=1&b=2")
	r, err := New(Company{Name: "Example & Co", Address: "1 Example Street"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, html, name, link string) {
		comp, errs := Compile(outreach.Content{Subject: "s", Text: "t", HTML: html}, "")
		if len(errs) > 0 || comp.flatHTML == nil {
			return
		}
		slow := *comp
		slow.flatHTML = nil
		d := Data{Contact: ContactData{ID: 1, Name: name, Email: name + "@example.com"}, PreferencesURL: link, UnsubscribeURL: link}
		want, wantErr := r.Render(context.Background(), &slow, d)
		got, gotErr := r.Render(context.Background(), comp, d)
		if (wantErr == nil) != (gotErr == nil) || want != got {
			t.Fatalf("%q: executed %q (%v), flat %q (%v)", html, want.HTML, wantErr, got.HTML, gotErr)
		}
	})
}

// TestCompileRunsNoLoop: making the flats executes only templates of a
// flat's shape, never one with loops, outside the render's bounds: this
// would run for days if Compile executed it.
func TestCompileRunsNoLoop(t *testing.T) {
	loops := `{{range 10000}}{{range 10000}}{{range 10000}}<p>{{$.Contact.Name}}</p>{{end}}{{end}}{{end}}`
	c, errs := Compile(outreach.Content{Subject: "s", Text: loops, HTML: loops}, "")
	require.Empty(t, errs)
	require.Nil(t, c.flatHTML)
	require.Nil(t, c.flatText)
	r, err := New(Company{Name: "Example", Address: "1 Example Street"})
	require.NoError(t, err)
	r = r.WithLimits(Limits{Timeout: 50 * time.Millisecond})
	_, err = r.Render(context.Background(), c, Data{})
	var le *LimitError
	require.ErrorAs(t, err, &le, "the render is still bounded")
}

// TestFlatStopsForADoneContext: a render through flats fails for a done
// context as an executed template does at its first write.
func TestFlatStopsForADoneContext(t *testing.T) {
	r, err := New(Company{Name: "Example", Address: "1 Example Street"})
	require.NoError(t, err)
	c, errs := Compile(outreach.Content{Subject: "s {{.Contact.Name}}", Text: "t {{.Contact.Name}}", HTML: "<p>{{.Contact.Name}}</p>"}, "")
	require.Empty(t, errs)
	require.NotNil(t, c.flatSubject)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Render(ctx, c, Data{Contact: ContactData{Name: "Ada"}})
	require.ErrorIs(t, err, context.Canceled)
}
