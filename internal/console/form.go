package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Form is a submitted (or empty) form: its values, kept as typed so a
// failed form comes back as it was, and its errors, each under its field.
type Form struct {
	values url.Values
	labels map[string]string
	errs   map[string]string
	order  []string // fields with errors, in the order they failed
	other  []string // errors that belong to no field
}

// newForm makes a form from values with its fields' labels, given as
// name, label pairs; the labels name the fields in the error summary.
func newForm(values url.Values, labels ...string) *Form {
	f := &Form{values: values, labels: map[string]string{}, errs: map[string]string{}}
	if f.values == nil {
		f.values = url.Values{}
	}
	for i := 0; i+1 < len(labels); i += 2 {
		f.labels[labels[i]] = labels[i+1]
	}
	return f
}

// postForm reads a POST body's fields only, URL-encoded or multipart:
// query parameters are ignored, so a link cannot fill in a form.
func postForm(ec echo.Context) (url.Values, error) {
	if _, err := ec.FormParams(); err != nil {
		return nil, err
	}
	return ec.Request().PostForm, nil
}

// Get is a field's value, trimmed.
func (f *Form) Get(name string) string { return strings.TrimSpace(f.values.Get(name)) }

// Raw is a field's value exactly as typed (passwords).
func (f *Form) Raw(name string) string { return f.values.Get(name) }

// Set gives a field a value, for a form shown with what is stored.
func (f *Form) Set(name, value string) { f.values.Set(name, value) }

// Fail records an error for a field ("" for the form as a whole); the
// first error for a field is the one shown.
func (f *Form) Fail(name, msg string) {
	if name == "" {
		f.other = append(f.other, msg)
		return
	}
	if _, dup := f.errs[name]; dup {
		return
	}
	f.errs[name] = msg
	f.order = append(f.order, name)
}

// Error is a field's error, "" if it has none.
func (f *Form) Error(name string) string { return f.errs[name] }

// Failed reports whether the form has any error.
func (f *Form) Failed() bool { return len(f.errs) > 0 || len(f.other) > 0 }

// Problem is one line of the error summary at the top of a failed form;
// ID is the field it links to ("" for a form-wide error).
type Problem struct {
	ID, Text string
}

// Summary lists the form's errors for the summary: form-wide ones first,
// then each field's, named by its label.
func (f *Form) Summary() []Problem {
	var out []Problem
	for _, m := range f.other {
		out = append(out, Problem{Text: sentence(m)})
	}
	for _, name := range f.order {
		label := f.labels[name]
		if label == "" {
			label = name
		}
		out = append(out, Problem{ID: fieldID(name), Text: label + ": " + f.errs[name]})
	}
	return out
}

// absorb puts a service's domain error onto the form: each FieldError on
// the field of that name (rename maps the service's names to the form's,
// for fields named differently; nil keeps them), fields the form does not
// have and errors without fields on the form as a whole. It reports the
// status the form should be answered with: 422 for invalid input, 409 for
// a conflict, and false for any other error, which the caller returns.
func (f *Form) absorb(err error, rename func(string) string) (int, bool) {
	var oe *outreach.Error
	if !errors.As(err, &oe) || (oe.Code != outreach.EINVALID && oe.Code != outreach.ECONFLICT) {
		return 0, false
	}
	for _, fe := range oe.Fields {
		name := fe.Field
		if rename != nil {
			name = rename(name)
		}
		if _, known := f.labels[name]; known {
			f.Fail(name, fe.Message)
		} else {
			f.Fail("", fe.Field+": "+fe.Message)
		}
	}
	if len(oe.Fields) == 0 {
		f.Fail("", oe.Message)
	}
	if oe.Code == outreach.ECONFLICT && len(oe.Fields) == 0 {
		return http.StatusConflict, true
	}
	return http.StatusUnprocessableEntity, true
}

// fieldID is the HTML id of a field's control ("domain.2" → "f-domain-2").
func fieldID(name string) string { return "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(name) }

// sentence starts a message with a capital letter: domain messages are
// written in lower case ("this is the last admin key; …") and read as
// sentences on a line of their own. One starting with a name, an address
// say, is left as it is.
func sentence(s string) string {
	word, _, _ := strings.Cut(s, " ")
	for _, r := range word {
		if r < 'a' || r > 'z' {
			return s
		}
	}
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
