package render

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"
)

// A flat is a campaign template made of text and of values printed as
// they are ({{.Contact.Name}}, {{.UnsubscribeURL}}), with no conditions,
// loops, functions or variables: most campaigns' templates. Its output is
// the same pieces of text around the same values for every recipient, so
// rendering it is writing them, instead of walking the template and
// calling html/template's escapers through reflection, which were most of
// a message's render.
//
// Anything else is executed as before. A flat copies, for each value, the
// escaper chain html/template wrote into the tree, and is made only when
// that chain is one htmlEscape reproduces for a string: the text, RCDATA
// and quoted-attribute escapers (whatever the element: text in a
// <noscript> is escaped as in a <p>), and the URL chain (filter,
// normaliser, attribute escaper) of a link at the start of a quoted URL
// attribute or of a CSS url() in a quoted style, for links made only of
// characters the filter and the normaliser leave alone (plainURL; any
// other link makes that message's render execute the template). It is
// kept only if it writes what executing the template writes on probe data
// full of characters to escape, a backstop for the above.
type flat struct {
	pieces []string // len(vals)+1
	vals   []flatValue
}

// flatValue is one value a flat prints, and how.
type flatValue struct {
	get func(*Data) string
	esc escaping
}

// escaping is how a flat writes a value.
type escaping int

const (
	escNone escaping = iota // text/template: as it is
	escHTML                 // html/template's text and attribute escaper
	escURL                  // a link in a URL attribute: plainURL, then escHTML
)

// flatFields are the fields a flat prints: the string and integer fields
// of Data (Attributes are of any type, and stay with the template).
var flatFields = map[string]func(*Data) string{
	"Contact.ID":      func(d *Data) string { return strconv.FormatInt(d.Contact.ID, 10) },
	"Contact.Name":    func(d *Data) string { return d.Contact.Name },
	"Contact.Email":   func(d *Data) string { return d.Contact.Email },
	"Contact.Locale":  func(d *Data) string { return d.Contact.Locale },
	"Contact.Tier":    func(d *Data) string { return d.Contact.Tier },
	"Campaign.ID":     func(d *Data) string { return strconv.FormatInt(d.Campaign.ID, 10) },
	"Campaign.Name":   func(d *Data) string { return d.Campaign.Name },
	"Campaign.Topic":  func(d *Data) string { return d.Campaign.Topic },
	"PreferencesURL":  func(d *Data) string { return d.PreferencesURL },
	"UnsubscribeURL":  func(d *Data) string { return d.UnsubscribeURL },
	"Company.Name":    func(d *Data) string { return d.Company.Name },
	"Company.Address": func(d *Data) string { return d.Company.Address },
}

// htmlEscapers are the escaper chains html/template gives a value that
// htmlEscape reproduces for a string, by the escaping a flat uses.
var htmlEscapers = []struct {
	chain []string
	esc   escaping
}{
	{[]string{"_html_template_htmlescaper"}, escHTML},
	{[]string{"_html_template_attrescaper"}, escHTML},
	{[]string{"_html_template_rcdataescaper"}, escHTML},
	{[]string{"_html_template_urlfilter", "_html_template_urlnormalizer", "_html_template_attrescaper"}, escURL},
}

// newFlat returns the flat of a template, or nil; tree is read after
// exec ran once on probe data, since html/template escapes a template at
// its first execution, writing its escapers into the tree. Only a template
// of a flat's shape is executed here: any other, outside the render's
// bounds, could hold up its compilation (nested loops). The flat is kept
// only if it writes what that execution wrote.
func newFlat(tree func() *parse.Tree, html bool, exec func(io.Writer, Data) error) *flat {
	f := flatten(tree(), false)
	if f == nil {
		return nil
	}
	d := probeData()
	var want, got bytes.Buffer
	if exec(&want, d) != nil {
		return nil
	}
	if html {
		if f = flatten(tree(), true); f == nil {
			return nil
		}
	}
	if _, ok := f.write(&got, &d, 1<<30); !ok || want.String() != got.String() {
		return nil
	}
	return f
}

// flatten cuts a template's escaped tree into pieces and values; nil when
// the tree holds anything but text and values printed as they are.
func flatten(t *parse.Tree, html bool) *flat {
	if t == nil || t.Root == nil {
		return nil
	}
	f := &flat{}
	var piece strings.Builder
	for _, n := range t.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			piece.Write(n.Text)
		case *parse.ActionNode:
			v, ok := flatAction(n, html)
			if !ok {
				return nil
			}
			f.pieces = append(f.pieces, piece.String())
			f.vals = append(f.vals, v)
			piece.Reset()
		default:
			return nil
		}
	}
	f.pieces = append(f.pieces, piece.String())
	return f
}

// flatAction is a value printed as it is: one field of flatFields, and in
// HTML one of htmlEscapers after it.
func flatAction(n *parse.ActionNode, html bool) (flatValue, bool) {
	p := n.Pipe
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 || len(p.Cmds[0].Args) != 1 {
		return flatValue{}, false
	}
	field, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok {
		return flatValue{}, false
	}
	get, ok := flatFields[strings.Join(field.Ident, ".")]
	if !ok {
		return flatValue{}, false
	}
	var chain []string
	for _, c := range p.Cmds[1:] {
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if len(c.Args) != 1 || !ok {
			return flatValue{}, false
		}
		chain = append(chain, id.Ident)
	}
	if !html {
		return flatValue{get: get, esc: escNone}, len(chain) == 0
	}
	for _, e := range htmlEscapers {
		if slices.Equal(chain, e.chain) {
			return flatValue{get: get, esc: e.esc}, true
		}
	}
	return flatValue{}, false
}

// probeData is Data with every character HTML escapes in its text fields
// and links as rapport signs them.
func probeData() Data {
	nasty := "<b>\"Ada\" & 'Bob' + <i>\x00 ü€ `=`"
	return Data{
		Contact: ContactData{ID: 42, Name: "Name " + nasty, Email: "e+" + nasty + "@example.com", Locale: "de-CH" + nasty,
			Tier: "tier" + nasty, Attributes: map[string]any{}},
		Campaign:       CampaignData{ID: 7, Name: "Campaign " + nasty, Topic: "topic" + nasty},
		PreferencesURL: "https://mail.example.com/p/AbC-_9?x=1&y=2#z",
		UnsubscribeURL: "http://mail.example.com/u/Z+z;a=b,c~d!e*f@g$h%2F[i]",
		Company:        Company{Name: "Company " + nasty, Address: "Street " + nasty},
	}
}

// write writes the template's output for d into b and returns its length.
// ok is false, with nothing written, for a link plainURL refuses: the
// caller executes the template. Longer than max, what was written is taken
// back.
func (f *flat) write(b *bytes.Buffer, d *Data, max int) (n int, ok bool) {
	for _, v := range f.vals {
		if v.esc == escURL && !plainURL(v.get(d)) {
			return 0, false
		}
	}
	start := b.Len()
	for i, v := range f.vals {
		b.WriteString(f.pieces[i])
		if v.esc == escNone {
			b.WriteString(v.get(d))
		} else {
			htmlEscape(b, v.get(d))
		}
	}
	b.WriteString(f.pieces[len(f.vals)])
	if n = b.Len() - start; n > max {
		b.Truncate(start)
	}
	return n, true
}
