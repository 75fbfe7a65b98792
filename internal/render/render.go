// Package render turns a campaign's templates and a contact into a message:
// subject, plain text and HTML, each wrapped in the shared layout that adds
// the preference-center link, the unsubscribe link and the sender's postal
// address every marketing message must carry.
package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"
	"unicode"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/templates"
)

// Company is the sender, shown in every message's footer.
type Company struct {
	Name    string
	Address string
}

// ContactData is what templates see as .Contact.
type ContactData struct {
	ID         int64
	Name       string
	Email      string
	Locale     string
	Tier       string
	Attributes map[string]any
}

// CampaignData is what templates see as .Campaign.
type CampaignData struct {
	ID    int64
	Name  string
	Topic string
}

// Data is the whole template context.
type Data struct {
	Contact        ContactData
	Campaign       CampaignData
	PreferencesURL string
	UnsubscribeURL string
	Company        Company
}

// Message is a rendered message.
type Message struct {
	Subject string
	Text    string
	HTML    string
}

// Compiled is a parsed Content, reusable for every recipient.
type Compiled struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
	// The templates cut at their values (flat); nil: executed per message.
	flatSubject, flatText, flatHTML *flat
}

// Renderer wraps compiled content in the shared layouts, within its
// limits.
type Renderer struct {
	company    Company
	layoutHTML *htmltemplate.Template
	layoutText *texttemplate.Template
	// The layouts cut at their values (splice); nil: executed per message.
	spliceHTML, spliceText *splice
	limits                 Limits
}

// New loads the embedded layouts.
func New(company Company) (*Renderer, error) {
	h, err := htmltemplate.New("layout.html.tmpl").Funcs(htmltemplate.FuncMap{"endSentence": EndSentence}).
		ParseFS(templates.FS, "email/layout.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("html layout: %w", err)
	}
	t, err := texttemplate.New("layout.txt.tmpl").Funcs(texttemplate.FuncMap{"endSentence": EndSentence}).
		ParseFS(templates.FS, "email/layout.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("text layout: %w", err)
	}
	if err := bakeCompany(t.Tree, company, func(s string) string { return s }); err != nil {
		return nil, fmt.Errorf("text layout: %w", err)
	}
	if err := bakeCompany(h.Tree, company, htmlText); err != nil {
		return nil, fmt.Errorf("html layout: %w", err)
	}
	r := &Renderer{company: company, layoutHTML: h, layoutText: t, limits: Limits{}.withDefaults()}
	r.spliceHTML = newSplice(func(w io.Writer, ld layoutData) error { return h.Execute(w, ld) }, true)
	r.spliceText = newSplice(func(w io.Writer, ld layoutData) error { return t.Execute(w, ld) }, false)
	return r, nil
}

// bakeCompany writes the company's name and address into a layout's tree
// as text, once, where the layout prints them ({{.Company.Name}},
// {{endSentence .Company.Name}}, {{.Company.Address}}): they are the same
// in every message, and each action evaluated per message (reflection,
// and in HTML an escaper) was a fair part of a render. esc escapes a
// value for where it stands, as the template would have.
func bakeCompany(t *parse.Tree, c Company, esc func(string) string) error {
	baked := map[string]string{
		".Company.Name":             esc(c.Name),
		"endSentence .Company.Name": esc(EndSentence(c.Name)),
		".Company.Address":          esc(c.Address),
	}
	var walk func(l *parse.ListNode)
	walk = func(l *parse.ListNode) {
		if l == nil {
			return
		}
		for i, n := range l.Nodes {
			switch n := n.(type) {
			case *parse.ActionNode:
				if v, ok := baked[n.Pipe.String()]; ok && len(n.Pipe.Decl) == 0 {
					l.Nodes[i] = &parse.TextNode{NodeType: parse.NodeText, Pos: n.Pos, Text: []byte(v)}
				}
			case *parse.ListNode:
				walk(n)
			}
		}
	}
	if t == nil {
		return errors.New("no tree")
	}
	walk(t.Root)
	return nil
}

// htmlText is s escaped as html/template escapes a value in HTML text,
// where the layout prints the company (between elements: a layout that
// put it in a URL or a script would need that context's escaper).
func htmlText(s string) string {
	var b strings.Builder
	_ = htmltemplate.Must(htmltemplate.New("").Parse("{{.}}")).Execute(&b, s)
	return b.String()
}

// WithLimits returns a renderer like r that renders within l (zero fields
// keep the defaults).
func (r *Renderer) WithLimits(l Limits) *Renderer {
	c := *r
	c.limits = l.withDefaults()
	return &c
}

// Limits returns the bounds every render keeps.
func (r *Renderer) Limits() Limits { return r.limits }

// EndSentence ends a sentence with s: s and a full stop, unless s ends
// with a full stop, question or exclamation mark already, as
// "Rapport Demo Inc." does.
func EndSentence(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "…") {
		return s
	}
	return s + "."
}

// Company returns the sender the renderer was made with.
func (r *Renderer) Company() Company { return r.company }

// TemplateError is a template problem in one field, with the line when the
// parser or executor reported one. Err is the error behind it, when there
// is one (a *LimitError for a render stopped by its bounds).
type TemplateError struct {
	Field   string
	Line    int
	Message string
	Err     error
}

// Unwrap returns the error behind the template problem.
func (e *TemplateError) Unwrap() error { return e.Err }

func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", e.Field, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// lineRE finds "name:LINE:" in Go's template errors.
var lineRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`)

func templateError(field string, err error) *TemplateError {
	var le *LimitError
	if errors.As(err, &le) {
		return &TemplateError{Field: field, Message: le.Error(), Err: le}
	}
	msg := err.Error()
	te := &TemplateError{Field: field, Message: msg, Err: err}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		te.Line, _ = strconv.Atoi(m[1])
		te.Message = strings.TrimSpace(m[2])
	}
	return te
}

// Compile parses content; prefix names the fields in errors ("" or
// "variants.high."). Every field's error is returned.
func Compile(c outreach.Content, prefix string) (*Compiled, []*TemplateError) {
	var errs []*TemplateError
	out := &Compiled{}
	var err error
	if strings.TrimSpace(c.Subject) == "" {
		errs = append(errs, &TemplateError{Field: prefix + "subject", Message: "is required"})
	} else if strings.ContainsAny(c.Subject, "\r\n") {
		errs = append(errs, &TemplateError{Field: prefix + "subject", Message: "must be one line"})
	} else if f := outreach.LineFault(strings.ReplaceAll(c.Subject, "\t", " ")); f != "" {
		// A tab is white space like any other (Render folds it); the
		// other control characters have no place in a header.
		errs = append(errs, &TemplateError{Field: prefix + "subject", Message: f})
	} else if out.subject, err = texttemplate.New("subject").Option("missingkey=zero").Funcs(funcs).Parse(c.Subject); err != nil {
		errs = append(errs, templateError(prefix+"subject", err))
	}
	if strings.TrimSpace(c.Text) == "" {
		errs = append(errs, &TemplateError{Field: prefix + "text", Message: "is required: every message has a plain-text part"})
	} else if f := outreach.TextFault(c.Text); f != "" {
		errs = append(errs, &TemplateError{Field: prefix + "text", Message: f})
	} else if out.text, err = texttemplate.New("text").Option("missingkey=zero").Funcs(funcs).Parse(c.Text); err != nil {
		errs = append(errs, templateError(prefix+"text", err))
	}
	if strings.TrimSpace(c.HTML) == "" {
		errs = append(errs, &TemplateError{Field: prefix + "html", Message: "is required: every message has an HTML part"})
	} else if f := outreach.TextFault(c.HTML); f != "" {
		errs = append(errs, &TemplateError{Field: prefix + "html", Message: f})
	} else if out.html, err = htmltemplate.New("html").Option("missingkey=zero").Funcs(funcs).Parse(c.HTML); err != nil {
		errs = append(errs, templateError(prefix+"html", err))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for _, t := range out.subject.Templates() {
		bound(t.Tree)
	}
	for _, t := range out.text.Templates() {
		bound(t.Tree)
	}
	for _, t := range out.html.Templates() {
		bound(t.Tree)
	}
	out.flatSubject = newFlat(func() *parse.Tree { return out.subject.Tree }, false,
		func(w io.Writer, d Data) error { return out.subject.Execute(w, d) })
	out.flatText = newFlat(func() *parse.Tree { return out.text.Tree }, false,
		func(w io.Writer, d Data) error { return out.text.Execute(w, d) })
	out.flatHTML = newFlat(func() *parse.Tree { return out.html.Tree }, true,
		func(w io.Writer, d Data) error { return out.html.Execute(w, d) })
	return out, nil
}

// Check compiles content and renders it once for a sample contact, catching
// what parsing cannot (such as a field that does not exist, or output over
// the limits).
func (r *Renderer) Check(ctx context.Context, c outreach.Content, prefix string) []*TemplateError {
	comp, errs := Compile(c, prefix)
	if len(errs) > 0 {
		return errs
	}
	sample := Data{
		Contact:        ContactData{ID: 1, Name: "Ada Lovelace", Email: "ada@example.com", Locale: "en", Tier: "medium", Attributes: map[string]any{}},
		Campaign:       CampaignData{ID: 1, Name: "Sample"},
		PreferencesURL: "https://example.com/p/sample", UnsubscribeURL: "https://example.com/u/sample",
	}
	if _, err := r.Render(ctx, comp, sample); err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			te.Field = prefix + te.Field
			return []*TemplateError{te}
		}
		return []*TemplateError{{Field: prefix + "html", Message: err.Error()}}
	}
	return nil
}

type layoutData struct {
	Data
	Lang    string
	Subject string
	Body    any
}

// Render executes compiled content for one recipient and wraps it in the
// layouts, within the renderer's limits and ctx: a part that grows past
// MaxBytes, a message that takes longer than Timeout or a ctx that is done
// stops the execution at its next write (a *TemplateError wrapping a
// *LimitError, or ctx's error).
func (r *Renderer) Render(ctx context.Context, c *Compiled, d Data) (Message, error) {
	p, err := r.RenderParts(ctx, c, d)
	if err != nil {
		return Message{}, err
	}
	defer p.Release()
	return Message{Subject: p.Subject, Text: string(p.Text), HTML: string(p.HTML)}, nil
}

// Parts is a rendered message whose bodies are still in the renderer's
// buffers, for a sender that writes them out at once: Release hands the
// buffers back for the next message, and Text and HTML are not read after
// it. Copying each message's 4–7 KB of bodies into strings was a quarter
// of what the send path allocated.
type Parts struct {
	Subject    string
	Text, HTML []byte
	bufs       [2]*bytes.Buffer
}

// Release returns the parts' buffers, once: a second Release of the same
// Parts does nothing, and a Parts never released only costs the pool its
// buffers. (A copy released as well would give one buffer to two
// messages: keep one Parts per message.)
func (p *Parts) Release() {
	for i, b := range p.bufs {
		if b != nil {
			putBuffer(b)
		}
		p.bufs[i] = nil
	}
	p.Text, p.HTML = nil, nil
}

// RenderParts is Render into buffers the caller releases (Parts).
func (r *Renderer) RenderParts(ctx context.Context, c *Compiled, d Data) (Parts, error) {
	d.Company = r.company
	deadline := time.Now().Add(r.limits.Timeout)
	// The writers' buffers are reused from render to render: grown from
	// nothing for every message, they were most of a render's garbage.
	// The three the content is executed into go back at the end; the two
	// the layouts write into go to the caller, with the message.
	var ws [5]boundedWriter
	n := 0
	w := func(part string, max int) *boundedWriter {
		bw := &ws[n]
		n++
		*bw = boundedWriter{ctx: ctx, buf: getBuffer(), max: max, deadline: deadline, timeout: r.limits.Timeout, part: part}
		return bw
	}
	kept := 0 // the writers past the first three whose buffers the caller has
	defer func() {
		for i := range n - kept {
			putBuffer(ws[i].buf)
		}
	}()
	subj, text, html := w("subject", r.limits.MaxBytes), w("text", r.limits.MaxBytes), w("html", r.limits.MaxBytes)
	if err := run(subj, c.flatSubject, &d, func(w io.Writer) error { return c.subject.Execute(w, d) }); err != nil {
		return Parts{}, templateError("subject", err)
	}
	if err := run(text, c.flatText, &d, func(w io.Writer) error { return c.text.Execute(w, d) }); err != nil {
		return Parts{}, templateError("text", err)
	}
	if err := run(html, c.flatHTML, &d, func(w io.Writer) error { return c.html.Execute(w, d) }); err != nil {
		return Parts{}, templateError("html", err)
	}
	subject := oneLine(subj.buf.String())
	lang := d.Contact.Locale
	if lang == "" {
		lang = "en"
	}
	ld := layoutData{Data: d, Lang: lang, Subject: subject}
	outText := w("text", r.limits.MaxBytes+layoutSlack)
	err := wrap(outText, r.spliceText, ld, text.buf.Bytes(), func(w io.Writer) error {
		ld.Body = text.buf.String()
		return r.layoutText.Execute(w, ld)
	})
	if err != nil {
		return Parts{}, layoutError("text", err)
	}
	outHTML := w("html", r.limits.MaxBytes+layoutSlack)
	err = wrap(outHTML, r.spliceHTML, ld, html.buf.Bytes(), func(w io.Writer) error {
		ld.Body = htmltemplate.HTML(html.buf.String()) // already escaped by html/template
		return r.layoutHTML.Execute(w, ld)
	})
	if err != nil {
		return Parts{}, layoutError("html", err)
	}
	kept = 2
	return Parts{Subject: subject, Text: outText.buf.Bytes(), HTML: outHTML.buf.Bytes(), bufs: [2]*bytes.Buffer{outText.buf, outHTML.buf}}, nil
}

// oneLine is a subject as one line of clean text, whatever the data held:
// white space folds, other control characters (data stored before they
// were refused) go. A subject that is that already, as nearly all are, is
// kept as it is.
func oneLine(s string) string {
	clean := s != "" && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; clean && i < len(s); i++ {
		c := s[i]
		clean = c >= 0x20 && c != 0x7f && !(c == ' ' && s[i+1] == ' ') && c < 0x80
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(strings.Map(dropControl, s)), " ")
}

// run writes a campaign template's output for d into out: through its
// flat when it has one that can take d's values, else by executing it
// (exec).
func run(out *boundedWriter, f *flat, d *Data, exec func(io.Writer) error) error {
	if f == nil {
		return exec(out)
	}
	return precut(out, func(b *bytes.Buffer, max int) (int, bool) { return f.write(b, d, max) }, exec)
}

// wrap writes a layout around body (and ld's other values) into out:
// through its splice when there is one that can take ld's values, else by
// executing it (exec).
func wrap(out *boundedWriter, sp *splice, ld layoutData, body []byte, exec func(io.Writer) error) error {
	if sp == nil {
		return exec(out)
	}
	return precut(out, func(b *bytes.Buffer, max int) (int, bool) { return sp.write(b, ld, body, max) }, exec)
}

// precut writes out's part through write, a template cut in advance (a
// flat or a splice), with the writer's bounds: a done context (a preview
// whose client left, a worker stopping) stops it as at an executed
// template's first write, and a part over the size bound fails as
// executing it would (write takes back what it wrote). Its time is
// bounded by its size. When write cannot take the values (ok false,
// nothing written), the template is executed (exec).
func precut(out *boundedWriter, write func(b *bytes.Buffer, max int) (n int, ok bool), exec func(io.Writer) error) error {
	if err := out.ctx.Err(); err != nil {
		return err
	}
	n, ok := write(out.buf, out.max)
	switch {
	case !ok:
		return exec(out)
	case n > out.max:
		return &LimitError{Part: out.part, Size: out.max}
	}
	return nil
}

// buffers keeps render buffers between renders.
var buffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 8<<10)) }}

func getBuffer() *bytes.Buffer {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// putBuffer keeps a buffer for the next render, unless a big message grew
// it: one 512 KiB render must not pin that much per pooled buffer.
func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		buffers.Put(b)
	}
}

// layoutError is a failure of the shared layout around a part: its bounds
// (the deadline) are the part's; anything else is a defect of ours.
func layoutError(part string, err error) error {
	var le *LimitError
	if errors.As(err, &le) {
		return templateError(part, err)
	}
	return fmt.Errorf("%s layout: %w", part, err)
}

func dropControl(r rune) rune {
	if unicode.IsControl(r) && !unicode.IsSpace(r) {
		return -1
	}
	return r
}
