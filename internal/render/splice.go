package render

import (
	"bytes"
	htmltemplate "html/template"
	"io"
	"strings"
)

// A splice is one of the shared layouts executed once, at New, with
// stand-ins for the values that change from message to message, and cut
// where they appear: wrapping a body is then writing the pieces and the
// values between them. Executing the layout for every message spent a
// third of a render on what is the same each time (walking the template,
// looking fields up by reflection, calling html/template's escapers by
// reflection).
//
// Only the layouts are spliced: they are this package's own templates,
// where each value stands in a context known at New. A splice is used only
// when it writes exactly what executing the layout writes: New checks it
// against the template on probe data full of characters to escape, and
// Render falls back to executing the layout for a link that the splice's
// escaping does not cover (see plainURL).
type splice struct {
	pieces []string // len(slots)+1
	slots  []slot
	html   bool // values are escaped as html/template escapes them
}

// slot is a value the layout prints.
type slot int

const (
	slotLang slot = iota
	slotSubject
	slotBody
	slotPrefs
	slotUnsub
	slotCount
)

// standIns are what the layout is executed with, one per slot: plain
// letters (and, for the links, a URL of them) that no escaper changes and
// no layout contains.
var standIns = [slotCount]string{
	slotLang:    "rpzlangzr",
	slotSubject: "rpzsubjectzr",
	slotBody:    "rpzbodyzr",
	slotPrefs:   "https://rpzprefszr.invalid/",
	slotUnsub:   "https://rpzunsubzr.invalid/",
}

// newSplice executes a layout with the stand-ins and cuts it at them. It
// returns nil — the layout is then executed per message, as before — when
// the layout fails, prints none of the values, prints anything else that
// differs from message to message (it is executed twice, with every other
// field of the data different), or when the splice and the template
// disagree on the probe data.
func newSplice(exec func(io.Writer, layoutData) error, html bool) *splice {
	var b, other bytes.Buffer
	if exec(&b, standInData(html, "a")) != nil || exec(&other, standInData(html, "b")) != nil || b.String() != other.String() {
		return nil
	}
	out := b.String()
	sp := &splice{html: html}
	for {
		at, which := -1, slot(0)
		for s, in := range standIns {
			if i := strings.Index(out, in); i >= 0 && (at < 0 || i < at) {
				at, which = i, slot(s)
			}
		}
		if at < 0 {
			break
		}
		sp.pieces = append(sp.pieces, out[:at])
		sp.slots = append(sp.slots, which)
		out = out[at+len(standIns[which]):]
	}
	sp.pieces = append(sp.pieces, out)
	if len(sp.slots) == 0 || !sp.agrees(exec) {
		return nil
	}
	return sp
}

// standInData is layoutData with a stand-in for every slot, and v in
// every other field a layout could print.
func standInData(html bool, v string) layoutData {
	ld := layoutData{Lang: standIns[slotLang], Subject: standIns[slotSubject]}
	ld.Contact = ContactData{ID: int64(v[0]), Name: v, Email: v + "@example.com", Locale: v, Tier: v, Attributes: map[string]any{"x": v}}
	ld.Campaign = CampaignData{ID: int64(v[0]), Name: v, Topic: v}
	ld.Company = Company{Name: v, Address: v}
	ld.PreferencesURL, ld.UnsubscribeURL = standIns[slotPrefs], standIns[slotUnsub]
	ld.Body = standIns[slotBody]
	if html {
		ld.Body = htmltemplate.HTML(standIns[slotBody])
	}
	return ld
}

// agrees reports whether the splice writes what the template does, for
// values with every character HTML escapes.
func (sp *splice) agrees(exec func(io.Writer, layoutData) error) bool {
	nasty := `<b>"Ada" & 'Bob' + <i>`
	ld := layoutData{Lang: "de-CH" + nasty, Subject: "Re: " + nasty}
	ld.PreferencesURL = "https://mail.example.com/p/AbC-_9?x=1&y=2#z"
	ld.UnsubscribeURL = "http://mail.example.com/u/Z+z;a=b,c~d!e*f@g$h%2F[i]"
	body := "Hello " + nasty + "\n"
	ld.Body = body
	if sp.html {
		body = "<p>Hello " + nasty + "</p>\n"
		ld.Body = htmltemplate.HTML(body)
	}
	var want, got bytes.Buffer
	if exec(&want, ld) != nil {
		return false
	}
	if _, ok := sp.write(&got, ld, []byte(body), 1<<30); !ok {
		return false
	}
	return want.String() == got.String()
}

// write writes the layout around body and ld's other values into b and
// returns its length. body is the content already rendered (and, in HTML,
// escaped), read from its buffer as it is: ld.Body is not looked at. ok is
// false for a link the splice does not escape as html/template would:
// nothing is written, and the caller executes the layout. Longer than max,
// what was written is taken back: the caller reports the part too big.
func (sp *splice) write(b *bytes.Buffer, ld layoutData, body []byte, max int) (n int, ok bool) {
	if sp.html && (!plainURL(ld.PreferencesURL) || !plainURL(ld.UnsubscribeURL)) {
		return 0, false
	}
	vals := [slotCount]string{slotLang: ld.Lang, slotSubject: ld.Subject, slotPrefs: ld.PreferencesURL, slotUnsub: ld.UnsubscribeURL}
	start := b.Len()
	for i, s := range sp.slots {
		b.WriteString(sp.pieces[i])
		switch {
		case s == slotBody:
			b.Write(body)
		case sp.html:
			// Text in an attribute or an element, and links whose
			// characters html/template's URL filter and normaliser leave
			// as they are: its escaper for all of these is htmlEscape's.
			htmlEscape(b, vals[s])
		default:
			b.WriteString(vals[s])
		}
	}
	b.WriteString(sp.pieces[len(sp.slots)])
	if n = b.Len() - start; n > max {
		b.Truncate(start)
	}
	return n, true
}

// htmlEntities is html/template's table for text, quoted attributes and
// RCDATA (htmlReplacementTable in its html.go): the escaping it gives a
// string in each of the layout's slots. (html/template's exported
// HTMLEscaper is text/template's, which leaves + alone.)
var htmlEntities = [...]string{0: "\uFFFD", '"': "&#34;", '&': "&amp;", '\'': "&#39;", '+': "&#43;", '<': "&lt;", '>': "&gt;"}

// htmlEscape writes s to b escaped with htmlEntities.
func htmlEscape(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; int(c) < len(htmlEntities) && htmlEntities[c] != "" {
			b.WriteString(s[last:i])
			b.WriteString(htmlEntities[c])
			last = i + 1
		}
	}
	b.WriteString(s[last:])
}

// plainURL reports whether u is an http or https URL made only of the
// characters html/template's URL normaliser keeps as they are (RFC 3986's
// unreserved and reserved characters but the quote and the parentheses,
// which it escapes, and % escapes): the links rapport signs always are.
// Anything else goes through html/template.
func plainURL(u string) bool {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~:/?#[]@!$&*+,;=", c) >= 0:
		case c == '%' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]):
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
