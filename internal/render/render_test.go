package render

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/render -update to create %s", path)
	require.Equal(t, string(want), got, "%s differs; run with -update if the change is intended", path)
}

func sample() Data {
	return Data{
		Contact:        ContactData{ID: 7, Name: "Ada <Lovelace>", Email: "ada@example.com", Locale: "en", Tier: "high", Attributes: map[string]any{"plan": "pro"}},
		Campaign:       CampaignData{ID: 3, Name: "Autumn"},
		PreferencesURL: "https://mail.example.com/p/PREFS", UnsubscribeURL: "https://mail.example.com/u/UNSUB",
	}
}

func TestRenderGolden(t *testing.T) {
	r, err := New(Company{Name: "Example & Co", Address: "1 Example Street, Berlin"})
	require.NoError(t, err)
	comp, errs := Compile(outreach.Content{
		Subject: "News for {{.Contact.Name}}\t ({{.Campaign.Name}})",
		Text:    "Hello {{.Contact.Name}}, your plan: {{.Contact.Attributes.plan}}.\nManage: {{.PreferencesURL}}",
		HTML:    `<p>Hello <b>{{.Contact.Name}}</b></p><p><a href="{{.UnsubscribeURL}}">Stop</a></p>`,
	}, "")
	require.Empty(t, errs)
	msg, err := r.Render(context.Background(), comp, sample())
	require.NoError(t, err)
	require.Equal(t, "News for Ada <Lovelace> (Autumn)", msg.Subject)
	golden(t, "message.txt.golden", msg.Text)
	golden(t, "message.html.golden", msg.HTML)
	require.Contains(t, msg.HTML, "Ada &lt;Lovelace&gt;", "HTML escapes contact data")
}

func TestTemplateErrorsNameFieldAndLine(t *testing.T) {
	r, err := New(Company{Name: "C", Address: "A"})
	require.NoError(t, err)
	errs := r.Check(context.Background(), outreach.Content{Subject: "ok", Text: "line one\n{{ .Contact.Name ", HTML: "<p>{{ .Contact.Nope }}</p>"}, "variants.high.")
	require.Len(t, errs, 1, "parse errors stop before execution")
	require.Equal(t, "variants.high.text", errs[0].Field)
	require.Equal(t, 2, errs[0].Line)

	errs = r.Check(context.Background(), outreach.Content{Subject: "ok", Text: "fine", HTML: "<p>\n\n{{ .Contact.Nope }}</p>"}, "")
	require.Len(t, errs, 1)
	require.Equal(t, "html", errs[0].Field)
	require.Equal(t, 3, errs[0].Line)

	errs = r.Check(context.Background(), outreach.Content{Subject: "two\nlines", Text: "", HTML: " "}, "")
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	require.True(t, fields["subject"] && fields["text"] && fields["html"])
}

// TestFooterEndsOneSentence: a company name that ends with a full stop
// ("Rapport Demo Inc.") ends the footer's sentence without a second one.
func TestFooterEndsOneSentence(t *testing.T) {
	comp, errs := Compile(outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}, "")
	require.Empty(t, errs)
	for _, c := range []struct{ name, text, html string }{
		{"Rapport Demo Inc.", "customer of Rapport Demo Inc.\n", "customer of Rapport Demo Inc.\n"},
		{"Example & Co", "customer of Example & Co.\n", "customer of Example &amp; Co.\n"},
		{"Shout!", "customer of Shout!\n", "customer of Shout!\n"},
	} {
		r, err := New(Company{Name: c.name, Address: "1 Road"})
		require.NoError(t, err)
		msg, err := r.Render(context.Background(), comp, sample())
		require.NoError(t, err)
		require.Contains(t, msg.Text, c.text, c.name)
		require.Contains(t, msg.HTML, c.html, c.name)
		require.NotContains(t, msg.Text+msg.HTML, "..", c.name)
	}
	require.Equal(t, "Acme.", EndSentence("Acme"))
	require.Equal(t, "Acme Inc.", EndSentence("Acme Inc."))
	require.Equal(t, "Why?", EndSentence("Why?"))
}

// TestCompanyBakedIntoLayouts: the layouts print the company as text
// written in once (bakeCompany), not as actions evaluated per message; the
// golden files show the text is what the actions printed, escaped alike.
func TestCompanyBakedIntoLayouts(t *testing.T) {
	r, err := New(Company{Name: "Example & Co", Address: "1 Example Street, Berlin"})
	require.NoError(t, err)
	for _, tree := range []*parse.Tree{r.layoutText.Tree, r.layoutHTML.Tree} {
		for _, n := range tree.Root.Nodes {
			if a, ok := n.(*parse.ActionNode); ok {
				require.NotContains(t, a.String(), ".Company", "in %s", tree.Name)
			}
		}
	}
}

// TestOneLine: the shortcut for a subject that is one clean line already
// gives what folding it gives, for random subjects of spaces, tabs,
// control characters and non-ASCII.
func TestOneLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "Z", " ", "  ", "\t", "\x00", "\x7f", "\u0085", "\u00a0", "ü", "\u2028", "-", "\n"}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		require.Equal(t, strings.Join(strings.Fields(strings.Map(dropControl, s)), " "), oneLine(s), "%q", s)
	}
}

// TestPartsReleaseOnce: releasing a message's parts twice hands its
// buffers back once, so two later messages never share one.
func TestPartsReleaseOnce(t *testing.T) {
	r, err := New(Company{Name: "Example", Address: "1 Example Street"})
	require.NoError(t, err)
	c, errs := Compile(outreach.Content{Subject: "s", Text: "Hello {{.Contact.Name}}", HTML: "<p>Hello {{.Contact.Name}}</p>"}, "")
	require.Empty(t, errs)
	ctx := context.Background()
	p, err := r.RenderParts(ctx, c, Data{Contact: ContactData{Name: "Ada"}})
	require.NoError(t, err)
	require.Contains(t, string(p.HTML), "Hello Ada")
	p.Release()
	p.Release()
	require.Nil(t, p.HTML)
	a, err := r.RenderParts(ctx, c, Data{Contact: ContactData{Name: "Bob"}})
	require.NoError(t, err)
	b, err := r.RenderParts(ctx, c, Data{Contact: ContactData{Name: "Eve"}})
	require.NoError(t, err)
	require.Contains(t, string(a.HTML), "Hello Bob")
	require.Contains(t, string(a.Text), "Hello Bob")
	require.Contains(t, string(b.HTML), "Hello Eve")
	a.Release()
	b.Release()
}
