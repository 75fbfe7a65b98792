package dsn

import (
	"bytes"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// field is one "Name: value" line, unfolded; name is lower-cased.
type field struct{ name, value string }

// fields is a header or field group in order.
type fields []field

// get returns the first value of the named (lower-case) field.
func (fs fields) get(name string) string {
	for _, f := range fs {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// maxFieldValue bounds one unfolded field value; real ones are a few
// hundred bytes, and the bound keeps hostile folding cheap.
const maxFieldValue = 16 << 10

// parseGroups splits b into blank-line-separated groups of fields, as in a
// message/delivery-status or message/feedback-report body, unfolding
// continuation lines. It is lenient where net/textproto is strict: lines
// that are not fields are skipped, not fatal, because the MTAs that write
// these bodies do not all follow the RFCs. At most max groups are returned
// (max <= 0: all).
func parseGroups(b []byte, max int) []fields {
	var (
		groups []fields
		cur    fields
		name   string // of the field being unfolded, "" if none
		val    strings.Builder
	)
	endField := func() {
		if name != "" {
			cur = append(cur, field{name: name, value: val.String()})
			name = ""
			val.Reset()
		}
	}
	endGroup := func() bool {
		endField()
		if len(cur) > 0 {
			groups = append(groups, cur)
			cur = nil
		}
		return max > 0 && len(groups) >= max
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimRight(line, "\r")
		trimmed := bytes.TrimSpace(line)
		switch {
		case len(trimmed) == 0:
			if endGroup() {
				return groups
			}
		case line[0] == ' ' || line[0] == '\t':
			if name != "" && val.Len() < maxFieldValue {
				val.WriteByte(' ')
				val.Write(trimmed)
			}
		default:
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !isFieldName(line[:colon]) {
				continue
			}
			endField()
			name = strings.ToLower(string(line[:colon]))
			v := bytes.TrimSpace(line[colon+1:])
			val.Write(v[:min(len(v), maxFieldValue)])
		}
	}
	endGroup()
	return groups
}

// isFieldName reports whether b is an RFC 5322 field name (printable ASCII
// except colon; the colon is already excluded).
func isFieldName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// parseHeaderBlock reads the header of a returned message (or a
// text/rfc822-headers part), which may be cut short: it stops at the first
// blank line, so the body is never looked at.
func parseHeaderBlock(b []byte) fields {
	g := parseGroups(skipMboxLine(b), 1)
	if len(g) == 0 {
		return nil
	}
	return g[0]
}

// dsnReport is a parsed message/delivery-status body.
type dsnReport struct {
	origMessageID string // X-Original-Message-ID (Gmail)
	sender        string // X-Postfix-Sender: the original envelope sender
	rcpts         []RecipientStatus
}

// parseDSN reads the per-message fields and per-recipient groups of a
// delivery-status body. A new recipient starts at a blank line or when a
// field repeats within one, because some MTAs omit the blank line or order
// the fields differently (Exim puts Action before Final-Recipient).
func parseDSN(b []byte) dsnReport {
	var d dsnReport
	type rcpt struct {
		orig, final, action, status, diag, remote string
		seen                                      map[string]bool
	}
	var rs []*rcpt
	var cur *rcpt
	for _, g := range parseGroups(b, 0) {
		cur = nil
		for _, f := range g {
			switch f.name {
			case "original-recipient", "final-recipient", "action", "status", "diagnostic-code", "remote-mta":
				if cur == nil || cur.seen[f.name] {
					cur = &rcpt{seen: map[string]bool{}}
					rs = append(rs, cur)
				}
				cur.seen[f.name] = true
				switch f.name {
				case "original-recipient":
					cur.orig = f.value
				case "final-recipient":
					cur.final = f.value
				case "action":
					cur.action = f.value
				case "status":
					cur.status = f.value
				case "diagnostic-code":
					cur.diag = f.value
				case "remote-mta":
					cur.remote = f.value
				}
			case "x-original-message-id":
				if d.origMessageID == "" {
					d.origMessageID = msgID(f.value)
				}
			case "x-postfix-sender":
				if d.sender == "" {
					d.sender = typedValue(f.value)
				}
			}
		}
	}
	for _, r := range rs {
		if r.orig == "" && r.final == "" && r.status == "" && r.diag == "" {
			continue // a stray Action or Remote-MTA: no recipient, no evidence
		}
		addr := dsnAddress(r.orig)
		if addr == "" {
			addr = dsnAddress(r.final)
		}
		diag := cleanText(r.diag, maxDiagnostic)
		action := strings.ToLower(firstToken(r.action))
		status := refineStatus(statusCode(r.status), diag)
		d.rcpts = append(d.rcpts, RecipientStatus{
			Kind:       dsnKind(action, status),
			Recipient:  addr,
			Action:     action,
			Status:     status,
			Diagnostic: diag,
			RemoteMTA:  remoteMTA(r.remote),
		})
	}
	return d
}

// dsnKind classifies one recipient: the Action says whether delivery
// failed, the status class whether for good. Without a 4 or 5 status there
// is no evidence of a bounce.
func dsnKind(action, status string) Kind {
	switch action {
	case "delivered", "relayed", "expanded":
		return Unknown
	}
	switch statusClass(status) {
	case '5':
		if action == "delayed" {
			return SoftBounce // still being retried: not final, whatever the code
		}
		return HardBounce
	case '4':
		return SoftBounce
	}
	return Unknown
}

// typedValue strips an RFC 3464 type ("rfc822;", "dns;", "smtp;") from a
// field value.
func typedValue(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 && i < 16 && !strings.ContainsAny(v[:i], "@<> ") {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// dsnAddress is a recipient address from an Original- or Final-Recipient
// value, lower-cased, or "" when it is not an email address (X.400, empty).
func dsnAddress(v string) string {
	a := strings.Trim(firstToken(typedValue(v)), "<>")
	if !strings.Contains(a, "@") {
		return ""
	}
	return strings.ToLower(a)
}

// remoteMTA is a Remote-MTA host name without type, comment or root dot
// ("dns; mx.example.org. (203.0.113.5)" → "mx.example.org").
func remoteMTA(v string) string {
	return strings.TrimSuffix(firstToken(typedValue(v)), ".")
}

// firstToken is v up to its first white space.
func firstToken(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		return v[:i]
	}
	return v
}

// statusCode validates an RFC 3463 code ("5.1.1 (user unknown)" → "5.1.1"),
// returning "" for anything else.
func statusCode(v string) string {
	c := strings.TrimRight(firstToken(v), ".,;")
	parts := strings.Split(c, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return c
}

// statusClass is the first digit of a status code, or 0.
func statusClass(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// refineStatus fills a missing or generic status ("5.0.0") from the
// diagnostic text when that has a code of the same class: Exim always
// reports 5.0.0, and the remote server's 5.1.1 is the more useful fact.
func refineStatus(status, diag string) string {
	if status != "" && !strings.HasSuffix(status, ".0.0") {
		return status
	}
	found, _ := findStatus(diag)
	switch {
	case found == "":
		return status
	case status == "":
		return found
	case found[0] == status[0] && !strings.HasSuffix(found, ".0.0"):
		return found
	}
	return status
}

// msgID is the first message id in a Message-ID, In-Reply-To or
// References value, without angle brackets; a bare id is accepted if it
// looks like one.
func msgID(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 1 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
		return ""
	}
	if t := firstToken(v); strings.Contains(t, "@") {
		return t
	}
	return ""
}

// lastMsgID is the last message id in a References value: the message
// replied to.
func lastMsgID(v string) string {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		return msgID(v[i:])
	}
	return msgID(v)
}

// firstAddress is the first address in an address-list header value,
// lower-cased, as Report wants recipients.
func firstAddress(v string) string {
	return strings.ToLower(rawAddress(v))
}

// rawAddress is the first address in an address-list header value, as
// written (a VERP tag is case-sensitive), falling back to anything
// address-shaped when the list does not parse (a common state of From
// headers in bounces).
func rawAddress(v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if list, err := p.ParseList(v); err == nil && len(list) > 0 {
		return list[0].Address
	}
	return reAddress.FindString(v)
}

// Limits on Report strings: enough for any real value, small enough that a
// hostile report cannot make rapport store megabytes.
const (
	maxDiagnostic = 500
	maxField      = 320
)

// cleanText collapses white space and control characters to single spaces,
// makes s valid UTF-8 and cuts it to at most max bytes on a rune boundary.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = strings.TrimSpace(out[:cut])
	}
	return out
}

// clip cuts s for use in an error message.
func clip(s string, max int) string {
	return cleanText(s, max)
}

// errDetail is a parser error's text, cut short: net/textproto quotes the
// whole offending line, which in hostile input can be megabytes, and the
// caller logs these errors. The error itself is not wrapped: callers test
// for this package's sentinels, not for the parsers' errors.
func errDetail(err error) string {
	return clip(err.Error(), 200)
}

func (r *Report) sanitize() {
	r.Recipient = strings.ToLower(cleanText(r.Recipient, maxField))
	r.Status = cleanText(r.Status, 16)
	r.Diagnostic = cleanText(r.Diagnostic, maxDiagnostic)
	r.RemoteMTA = cleanText(r.RemoteMTA, maxField)
	r.MessageID = cleanText(r.MessageID, maxField)
	r.FeedbackType = strings.ToLower(cleanText(r.FeedbackType, 64))
	for i := range r.Recipients {
		rs := &r.Recipients[i]
		rs.Recipient = strings.ToLower(cleanText(rs.Recipient, maxField))
		rs.Action = cleanText(rs.Action, 64)
		rs.Status = cleanText(rs.Status, 16)
		rs.Diagnostic = cleanText(rs.Diagnostic, maxDiagnostic)
		rs.RemoteMTA = cleanText(rs.RemoteMTA, maxField)
	}
}

// decodeCharset converts a body or encoded word to UTF-8. The charsets
// bounces and auto-replies use besides UTF-8 and ASCII are Latin-1 and its
// Windows and euro variants; anything else is read as UTF-8 with invalid
// bytes replaced, which keeps the ASCII that status codes and addresses are
// written in.
func decodeCharset(b []byte, charset string) string {
	cs := strings.ToLower(strings.TrimSpace(charset))
	var table func(byte) rune
	switch cs {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "cp819", "ibm819":
		table = func(c byte) rune { return rune(c) }
	case "windows-1252", "cp1252", "x-cp1252":
		table = func(c byte) rune {
			if c >= 0x80 && c < 0xa0 {
				return cp1252[c-0x80]
			}
			return rune(c)
		}
	case "iso-8859-15", "iso8859-15", "latin9", "latin-9":
		table = func(c byte) rune {
			if r, ok := latin9[c]; ok {
				return r
			}
			return rune(c)
		}
	default:
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(table(c))
		}
	}
	return sb.String()
}

// cp1252 maps Windows-1252 bytes 0x80-0x9f; undefined ones stay C1
// controls, which cleanText removes.
var cp1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
}

// latin9 is where ISO-8859-15 differs from ISO-8859-1.
var latin9 = map[byte]rune{
	0xa4: 0x20ac, 0xa6: 0x0160, 0xa8: 0x0161, 0xb4: 0x017d,
	0xb8: 0x017e, 0xbc: 0x0152, 0xbd: 0x0153, 0xbe: 0x0178,
}
