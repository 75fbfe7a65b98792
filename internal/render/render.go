// Package render turns a campaign's templates and a contact into a message:
// subject, plain text and HTML, each wrapped in the shared layout that adds
// the preference-center link, the unsubscribe link and the sender's postal
// address every marketing message must carry.
package render

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"

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
}

// Renderer wraps compiled content in the shared layouts.
type Renderer struct {
	company    Company
	layoutHTML *htmltemplate.Template
	layoutText *texttemplate.Template
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
	return &Renderer{company: company, layoutHTML: h, layoutText: t}, nil
}

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
// parser or executor reported one.
type TemplateError struct {
	Field   string
	Line    int
	Message string
}

func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %s", e.Field, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// lineRE finds "name:LINE:" in Go's template errors.
var lineRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`)

func templateError(field string, err error) *TemplateError {
	msg := err.Error()
	te := &TemplateError{Field: field, Message: msg}
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
	} else if out.subject, err = texttemplate.New("subject").Option("missingkey=zero").Parse(c.Subject); err != nil {
		errs = append(errs, templateError(prefix+"subject", err))
	}
	if strings.TrimSpace(c.Text) == "" {
		errs = append(errs, &TemplateError{Field: prefix + "text", Message: "is required: every message has a plain-text part"})
	} else if out.text, err = texttemplate.New("text").Option("missingkey=zero").Parse(c.Text); err != nil {
		errs = append(errs, templateError(prefix+"text", err))
	}
	if strings.TrimSpace(c.HTML) == "" {
		errs = append(errs, &TemplateError{Field: prefix + "html", Message: "is required: every message has an HTML part"})
	} else if out.html, err = htmltemplate.New("html").Option("missingkey=zero").Parse(c.HTML); err != nil {
		errs = append(errs, templateError(prefix+"html", err))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// Check compiles content and renders it once for a sample contact, catching
// what parsing cannot (such as a field that does not exist).
func (r *Renderer) Check(c outreach.Content, prefix string) []*TemplateError {
	comp, errs := Compile(c, prefix)
	if len(errs) > 0 {
		return errs
	}
	sample := Data{
		Contact:        ContactData{ID: 1, Name: "Ada Lovelace", Email: "ada@example.com", Locale: "en", Tier: "medium", Attributes: map[string]any{}},
		Campaign:       CampaignData{ID: 1, Name: "Sample"},
		PreferencesURL: "https://example.com/p/sample", UnsubscribeURL: "https://example.com/u/sample",
	}
	if _, err := r.Render(comp, sample); err != nil {
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
// layouts.
func (r *Renderer) Render(c *Compiled, d Data) (Message, error) {
	d.Company = r.company
	var subj, text, html, out bytes.Buffer
	if err := c.subject.Execute(&subj, d); err != nil {
		return Message{}, templateError("subject", err)
	}
	if err := c.text.Execute(&text, d); err != nil {
		return Message{}, templateError("text", err)
	}
	if err := c.html.Execute(&html, d); err != nil {
		return Message{}, templateError("html", err)
	}
	subject := strings.Join(strings.Fields(subj.String()), " ")
	lang := d.Contact.Locale
	if lang == "" {
		lang = "en"
	}
	ld := layoutData{Data: d, Lang: lang, Subject: subject}
	ld.Body = text.String()
	if err := r.layoutText.Execute(&out, ld); err != nil {
		return Message{}, fmt.Errorf("text layout: %w", err)
	}
	msg := Message{Subject: subject, Text: out.String()}
	out.Reset()
	ld.Body = htmltemplate.HTML(html.String()) // already escaped by html/template
	if err := r.layoutHTML.Execute(&out, ld); err != nil {
		return Message{}, fmt.Errorf("html layout: %w", err)
	}
	msg.HTML = out.String()
	return msg, nil
}
