package outreach

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Text rules. Every string a client writes ends up in PostgreSQL, which
// cannot store NUL or invalid UTF-8 (a batch holding one is refused
// whole), and some end up in mail headers, where a CR or LF in a contact's
// name breaks the To header the mail library builds. The rules are checked
// where the input is validated, so bad bytes are a field error on the one
// row or request that holds them, never a failed batch, a 500 or a message
// that cannot be built at send time.

// LineFault says what makes s unfit for a one-line field (a name, an id, a
// key, a subject): invalid UTF-8 or any control character, tab and line
// breaks included. It returns "" when s is fine.
func LineFault(s string) string {
	return textFault(s, false)
}

// TextFault is LineFault for multi-line text (templates, descriptions,
// attribute values): tab, CR and LF are allowed; NUL, the other control
// characters and invalid UTF-8 are not.
func TextFault(s string) string {
	return textFault(s, true)
}

func textFault(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "must be UTF-8 text (it holds a byte sequence that is not UTF-8)"
	}
	for _, r := range s {
		if !unicode.IsControl(r) || (multiline && (r == '\t' || r == '\n' || r == '\r')) {
			continue
		}
		return fmt.Sprintf("must not contain control characters (it holds %U)", r)
	}
	return ""
}

// attributesFault checks a contact's attributes, which are stored as JSON
// and may be rendered into a message: keys are one-line text, string values
// (also inside arrays and objects) multi-line text.
func attributesFault(v any) string {
	switch x := v.(type) {
	case string:
		return TextFault(x)
	case map[string]any:
		for k, e := range x {
			if f := LineFault(k); f != "" {
				return fmt.Sprintf("key %q %s", k, f)
			}
			if f := attributesFault(e); f != "" {
				return f
			}
		}
	case []any:
		for _, e := range x {
			if f := attributesFault(e); f != "" {
				return f
			}
		}
	}
	return ""
}
