package console

import (
	"strings"
)

// Field is one form control as the "field" and "select" partials draw it:
// a label, an optional hint, the error (if any) between them and the
// control, which names both in aria-describedby and is aria-invalid when
// it failed.
type Field struct {
	ID, Name, Label, Type, Value, Hint, Error string
	Autocomplete, InputMode, Step, Min        string
	Required, Autofocus                       bool
	Options                                   []Option
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// Describedby lists the hint's and the error's ids for the control.
func (f Field) Describedby() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// field builds a text-like control for templates:
//
//	{{template "field" (field .Form "email" "Email address" "type=email" "autocomplete=username" "required")}}
//
// Options are "type=…" (default text), "hint=…", "autocomplete=…",
// "inputmode=…", "step=…", "min=…", "required" and "autofocus". A password
// field never shows what was typed.
func field(f *Form, name, label string, opts ...string) Field {
	if f == nil {
		f = newForm(nil)
	}
	fd := Field{ID: fieldID(name), Name: name, Label: label, Type: "text", Value: f.Raw(name), Error: f.Error(name)}
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "type":
			fd.Type = v
		case "hint":
			fd.Hint = v
		case "autocomplete":
			fd.Autocomplete = v
		case "inputmode":
			fd.InputMode = v
		case "step":
			fd.Step = v
		case "min":
			fd.Min = v
		case "required":
			fd.Required = true
		case "autofocus":
			fd.Autofocus = true
		}
	}
	if fd.Type == "password" {
		fd.Value = ""
	}
	return fd
}

// choices builds a select for templates, with the form's value selected:
//
//	{{template "select" (choices .Form "role" "Role" .Data.Roles "hint=…")}}
func choices(f *Form, name, label string, options []Option, opts ...string) Field {
	fd := field(f, name, label, opts...)
	fd.Type = "select"
	for _, o := range options {
		o.Selected = o.Value == fd.Value
		fd.Options = append(fd.Options, o)
	}
	return fd
}

// roleOptions are the roles, least powerful first, explained for people
// choosing one.
var roleOptions = []Option{
	{Value: "viewer", Label: "Viewer — reads, changes nothing"},
	{Value: "marketer", Label: "Marketer — contacts, campaigns, suppressions"},
	{Value: "admin", Label: "Admin — everything, users and keys too"},
}
