package dsn

import (
	"regexp"
	"strings"
)

// classify decides what m is, in order of the strength of the evidence:
// a feedback report, a delivery status report, a bounce-shaped plain-text
// message with a status code, a JMRP report, an auto-reply. Structure comes
// before headers because DSNs carry auto-reply headers themselves.
func classify(m *message, envelopeRcpt, prefix string) Report {
	var rep Report
	if m.isARF() {
		rep = m.complaint()
	} else if r, ok := m.dsnReport(); ok {
		rep = r
	} else if m.looksLikeBounce() {
		rep = m.plainBounce(envelopeRcpt, prefix)
	} else if m.isJMRP() {
		rep = m.complaint()
		rep.FeedbackType = "abuse"
	} else if m.isAutoReply() {
		rep.Kind = AutoReply
		rep.Recipient = firstAddress(m.header.Get("From"))
	}
	if rep.MessageID == "" {
		rep.MessageID = m.messageID()
	}
	rep.Tag = m.tag(envelopeRcpt, prefix)
	return rep
}

// isARF reports whether m is a feedback report: a message/feedback-report
// part, or a report-type=feedback-report whose report part some gateway
// relabelled as text/plain.
func (m *message) isARF() bool {
	if m.hasARF {
		return true
	}
	if m.reportType != "feedback-report" {
		return false
	}
	for _, t := range m.texts {
		if g := parseGroups([]byte(t), 0); len(g) > 0 && fieldsHave(g, "feedback-type") {
			m.arf, m.hasARF = []byte(t), true
			return true
		}
	}
	return false
}

// complaint reads a feedback report. Feedback types that are not
// complaints (not-spam, and RFC 6591 auth-failure reports about DKIM or SPF)
// are reported with Kind Unknown, so the caller does not suppress the
// address for them; a missing or unknown type is still a complaint, since
// the report's structure says it is one.
func (m *message) complaint() Report {
	var f fields
	for _, g := range parseGroups(m.arf, 0) {
		f = append(f, g...)
	}
	rep := Report{Kind: Complaint, FeedbackType: strings.ToLower(firstToken(f.get("feedback-type")))}
	switch rep.FeedbackType {
	case "not-spam", "auth-failure":
		rep.Kind = Unknown
	}
	for _, a := range []string{f.get("original-rcpt-to"), f.get("removal-recipient"), m.orig.get("x-hmxmroriginalrecipient"), m.orig.get("to")} {
		if rep.Recipient = firstAddress(a); rep.Recipient != "" {
			break
		}
	}
	rep.MessageID = msgID(m.orig.get("message-id"))
	m.senders = append(m.senders, typedValue(f.get("original-mail-from")))
	return rep
}

// fieldsHave reports whether any group has the named field.
func fieldsHave(groups []fields, name string) bool {
	for _, g := range groups {
		if g.get(name) != "" {
			return true
		}
	}
	return false
}

// dsnReport reads m's delivery-status parts, or a text part shaped like one
// in a bounce, and reports whether there was a per-recipient group to
// classify.
func (m *message) dsnReport() (Report, bool) {
	var d dsnReport
	for _, b := range m.dsn {
		p := parseDSN(b)
		d.rcpts = append(d.rcpts, p.rcpts...)
		d.origMessageID = first(d.origMessageID, p.origMessageID)
		d.sender = first(d.sender, p.sender)
	}
	if len(d.rcpts) == 0 && m.looksLikeBounce() {
		for _, t := range m.texts {
			if strings.Contains(strings.ToLower(t), "final-recipient:") {
				if p := parseDSN([]byte(t)); len(p.rcpts) > 0 {
					d = p
					break
				}
			}
		}
	}
	if len(d.rcpts) == 0 {
		return Report{}, false
	}
	pick := 0
	if i := kindIndex(d.rcpts, HardBounce); i >= 0 {
		pick = i
	} else if i := kindIndex(d.rcpts, SoftBounce); i >= 0 {
		pick = i
	}
	r := d.rcpts[pick]
	m.senders = append(m.senders, d.sender)
	return Report{
		Kind: r.Kind, Recipient: r.Recipient, Status: r.Status, Diagnostic: r.Diagnostic,
		RemoteMTA: r.RemoteMTA, Recipients: d.rcpts,
		MessageID: first(msgID(m.orig.get("message-id")), d.origMessageID),
	}, true
}

// kindIndex is the index of the first recipient of kind k, or -1.
func kindIndex(rs []RecipientStatus, k Kind) int {
	for i, r := range rs {
		if r.Kind == k {
			return i
		}
	}
	return -1
}

// first is a, or b if a is empty.
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// bounceSenders are local parts that send bounces and nothing else one
// would want to treat as a person's reply.
var bounceSenders = map[string]bool{
	"mailer-daemon": true, "mailer_daemon": true, "mailerdaemon": true, "mail-daemon": true,
	"maildaemon": true, "postmaster": true, "mdaemon": true,
}

// bounceSubjects are lower-case subject fragments of the bounces of
// Postfix, Exim, qmail, Sendmail, Gmail and Exchange, in the languages the
// last localises them into.
var bounceSubjects = []string{
	"undelivered mail returned to sender", "delayed mail (still being retried)",
	"mail delivery failed", "mail delivery failure", "delivery status notification",
	"undeliverable", "undelivered mail", "undelivered message", "failure notice",
	"returned mail:", "delivery failure", "delivery has failed", "delivery delayed",
	"warning: could not send message", "message could not be delivered",
	"mail could not be delivered", "nondeliverable", "non-delivery",
	"unzustellbar", "nicht zustellbar", "non remis", "no se puede entregar",
	"non recapitabile", "onbestelbaar", "não entregue",
}

// looksLikeBounce reports whether m's sender or subject is a bounce's. It
// only decides whether the text heuristics may look for a status code: the
// code is the evidence.
func (m *message) looksLikeBounce() bool {
	if m.reportType == "delivery-status" || len(m.dsn) > 0 {
		return true
	}
	from := firstAddress(m.header.Get("From"))
	local := from
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		local = from[:i]
	}
	if bounceSenders[local] || strings.HasPrefix(local, "microsoftexchange") {
		return true
	}
	subj := strings.ToLower(decodeHeader(m.header.Get("Subject")))
	for _, s := range bounceSubjects {
		if strings.Contains(subj, s) {
			return true
		}
	}
	return false
}

// bodyText is the start, at most max bytes, of the message's
// human-readable text: its text/plain parts, or its HTML ones reduced to
// text when there are none.
func (m *message) bodyText(max int) string {
	parts := m.texts
	if len(parts) == 0 {
		parts = m.htmls
	}
	var b strings.Builder
	for _, p := range parts {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p[:min(len(p), max-b.Len())])
		if b.Len() >= max {
			break
		}
	}
	return b.String()
}

// maxHeuristicText bounds the text the bounce heuristics search: an MTA's
// explanation comes first, and the bound keeps hostile input cheap.
const maxHeuristicText = 64 << 10

// copyMarkers start the returned copy of the original message in the text
// of a plain-text bounce; the text after one is never searched for
// evidence.
var copyMarkers = regexp.MustCompile(`(?im)^[ \t]*(?:` +
	`-+ ?This is a copy of the message|` + // Exim
	`-+ ?Below this line is a copy of the message|` + // qmail
	`-+ ?Original message ?-*|` + // Gmail, many
	`-+ ?Forwarded message|` +
	`-+ ?The header of the original message is following|` +
	`-+ ?Returned message|` +
	`Original message headers:|` + // Exchange
	`Received: |Return-Path: |Message-ID: |DKIM-Signature: )`)

// plainBounce classifies a bounce without a machine-readable report by
// the SMTP status in its text. Without one it is Unknown, with whatever
// recipient can be found, for the caller's log.
func (m *message) plainBounce(envelopeRcpt, prefix string) Report {
	text := m.bodyText(maxHeuristicText)
	if loc := copyMarkers.FindStringIndex(text); loc != nil {
		text = text[:loc[0]]
	}
	rep := Report{Recipient: failedRecipient(m, text, envelopeRcpt, prefix)}
	rep.Status, rep.Diagnostic = findStatus(text)
	switch statusClass(rep.Status) {
	case '5':
		rep.Kind = HardBounce
	case '4':
		rep.Kind = SoftBounce
	}
	return rep
}

// addrPattern matches an email address in free text: a dot-atom local
// part and a domain of at least two labels, which keeps it off the "user@host"
// fragments in Received lines and log output.
const addrPattern = `[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`

var reAddress = regexp.MustCompile(addrPattern)

// recipientPatterns find the failed address in bounce texts, most specific
// first; the address is the first submatch.
var recipientPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)following address(?:\(es\)|es)? failed:\s*<?(` + addrPattern + `)`),                                    // Exim
	regexp.MustCompile(`(?i)following recipients?(?: or groups)? failed(?: permanently| temporarily)?:\s*<?(` + addrPattern + `)`), // Gmail (old)
	regexp.MustCompile(`(?i)(?:wasn't|was not|couldn't be|could not be) delivered to:?\s*<?(` + addrPattern + `)`),                 // Gmail
	regexp.MustCompile(`(?i)your message to:?\s*<?(` + addrPattern + `)>? (?:couldn't|could not|can't|cannot)`),                    // Office 365
	regexp.MustCompile(`(?i)delivery has failed to these recipients or groups:\s*(?:[^\n(<]*[(<])?(` + addrPattern + `)`),          // Exchange
	regexp.MustCompile(`(?im)^[ \t]*<(` + addrPattern + `)>:`),                                                                     // qmail, Postfix
	regexp.MustCompile(`(?i)RCPT TO:\s*<(` + addrPattern + `)>`),
	regexp.MustCompile(`(?i)(?:original|final)-recipient:\s*(?:rfc822;)?\s*<?(` + addrPattern + `)`),
	regexp.MustCompile(`(?i)recipient address:\s*<?(` + addrPattern + `)`),
}

// failedRecipient finds the address a plain-text bounce is about: Exim's
// X-Failed-Recipients, a phrase an MTA puts before it, or else the first
// address in the text that is neither a daemon's nor rapport's own.
func failedRecipient(m *message, text, envelopeRcpt, prefix string) string {
	if a := firstAddress(strings.ReplaceAll(m.header.Get("X-Failed-Recipients"), ";", ",")); a != "" {
		return a
	}
	for _, re := range recipientPatterns {
		if s := re.FindStringSubmatch(text); s != nil {
			return strings.ToLower(s[1])
		}
	}
	from := firstAddress(m.header.Get("From"))
	for _, a := range reAddress.FindAllString(text, 50) {
		a = strings.ToLower(a)
		local := a[:strings.LastIndexByte(a, '@')]
		if a == from || strings.EqualFold(a, envelopeRcpt) || bounceSenders[local] {
			continue
		}
		if _, ok := VERPTag(a, prefix); ok {
			continue
		}
		return a
	}
	return ""
}

// Status code patterns for free text. A reply code followed by an enhanced
// code ("550 5.1.1", "550-5.1.1", "#550 5.2.2") is the best evidence; an
// enhanced code alone next; a bare reply code only where MTAs write one
// (at the start of a line, after "said:", "reason:", "]:", "<<<").
var (
	reReplyEnhanced = regexp.MustCompile(`([45][0-9][0-9])[ -]#?([45]\.[0-9]{1,3}\.[0-9]{1,3})`)
	reEnhanced      = regexp.MustCompile(`([45]\.[0-7]\.[0-9]{1,3})`)
	reReply         = regexp.MustCompile(`(?im)(?:^[ \t]*|said:[ \t]*|reason:[ \t]*|\]:[ \t]*|<<<[ \t]*|returned '|error:[ \t]*|smtp;[ \t]*)#?([45][0-5][0-9])(?:[ -]|$)`)
)

// findStatus finds the SMTP status in a bounce's text and the line it is
// on (with its continuation lines) as the diagnostic. Codes inside longer
// numbers ("15.1.10", "5.1.1.2", IP addresses) are not codes.
func findStatus(text string) (status, diag string) {
	if i, s := findCode(reReplyEnhanced, text, 2); i >= 0 {
		return s, diagnosticAt(text, i)
	}
	if i, s := findCode(reEnhanced, text, 1); i >= 0 {
		return s, diagnosticAt(text, i)
	}
	if i, s := findCode(reReply, text, 1); i >= 0 {
		return s[:1] + ".0.0", diagnosticAt(text, i)
	}
	return "", ""
}

// findCode returns the offset and text of the first match of re's
// submatch group whose match stands alone: not preceded by a digit or dot
// and not followed by a digit or by a dot and a digit.
func findCode(re *regexp.Regexp, text string, group int) (int, string) {
	for _, loc := range re.FindAllStringSubmatchIndex(text, 200) {
		start, end := loc[2], loc[2*group+1]
		if start > 0 {
			if c := text[start-1]; c >= '0' && c <= '9' || c == '.' {
				continue
			}
		}
		if end < len(text) {
			c := text[end]
			if c >= '0' && c <= '9' || c == '.' && end+1 < len(text) && text[end+1] >= '0' && text[end+1] <= '9' {
				continue
			}
		}
		return loc[2], text[loc[2*group]:loc[2*group+1]]
	}
	return -1, ""
}

// diagnosticAt is the text from offset i to the end of its line, with the
// continuation lines MTAs write: more-indented lines (Postfix wraps so) and
// the rest of a "550-" multi-line reply (Gmail).
func diagnosticAt(text string, i int) string {
	lineStart := strings.LastIndexByte(text[:i], '\n') + 1
	indent := indentOf(text[lineStart:])
	line, rest, _ := strings.Cut(text[i:], "\n")
	var b strings.Builder
	b.WriteString(strings.TrimSpace(line))
	code := ""
	if len(line) > 3 && line[3] == '-' {
		code = line[:3]
	}
	for b.Len() < maxDiagnostic && rest != "" {
		next, after, _ := strings.Cut(rest, "\n")
		trimmed := strings.TrimSpace(next)
		switch {
		case trimmed == "":
			return b.String()
		case code != "":
			if !strings.HasPrefix(trimmed, code) {
				return b.String()
			}
			if len(trimmed) < 4 || trimmed[3] != '-' {
				b.WriteByte(' ')
				b.WriteString(trimmed) // "550 " is the reply's last line
				return b.String()
			}
		case indentOf(next) <= indent:
			return b.String()
		}
		b.WriteByte(' ')
		b.WriteString(trimmed)
		rest = after
	}
	return b.String()
}

// indentOf is the number of leading blanks of s.
func indentOf(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}

// isJMRP reports whether m is an Outlook.com JMRP report without a
// feedback-report part: its subject, and the complained-about message
// attached as the evidence.
func (m *message) isJMRP() bool {
	subj := strings.ToLower(strings.TrimSpace(decodeHeader(m.header.Get("Subject"))))
	return m.hasOrigMsg && strings.HasPrefix(subj, "complaint about message from")
}

// autoReplySubjects are lower-case subject fragments of out-of-office and
// vacation replies in the languages rapport's recipients write.
var autoReplySubjects = []string{
	"out of office", "out of the office", "automatic reply", "auto reply", "auto-reply",
	"autoreply", "auto response", "autoresponse", "abwesenheitsnotiz", "automatische antwort",
	"abwesenheit", "réponse automatique", "absence du bureau", "respuesta automática",
	"fuera de la oficina", "risposta automatica", "fuori ufficio", "automatisch antwoord",
	"afwezigheidsmelding", "resposta automática", "autosvar", "automaattinen vastaus",
	"odpowiedź automatyczna", "automatická odpověď", "vacation reply", "on vacation",
}

// isAutoReply reports whether m's headers or subject mark it as an
// automatic reply (RFC 3834 Auto-Submitted, the X-Autoreply family,
// Precedence: auto_reply, or a known subject).
func (m *message) isAutoReply() bool {
	h := m.header
	if v := strings.ToLower(firstToken(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"} {
		if v := strings.ToLower(strings.TrimSpace(h.Get(k))); v != "" && v != "no" && v != "false" {
			return true
		}
	}
	if p := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); p == "auto_reply" || p == "auto-reply" {
		return true
	}
	subj := strings.ToLower(decodeHeader(h.Get("Subject")))
	for _, s := range autoReplySubjects {
		if strings.Contains(subj, s) {
			return true
		}
	}
	return false
}

// reBodyMessageID finds a Message-ID header line in a plain-text bounce's
// returned copy.
var reBodyMessageID = regexp.MustCompile(`(?im)^[ \t]*Message-ID:[ \t]*<([^<>\s]+@[^<>\s]+)>`)

// messageID is the original message's id when the report did not give it
// in a structured way: from the returned message's header, the text of a
// plain-text bounce, or the In-Reply-To or References a bounce or
// auto-reply carries.
func (m *message) messageID() string {
	if id := msgID(m.orig.get("message-id")); id != "" {
		return id
	}
	for _, t := range m.texts {
		if s := reBodyMessageID.FindStringSubmatch(t[:min(len(t), 4*maxHeuristicText)]); s != nil {
			return s[1]
		}
	}
	if id := msgID(m.header.Get("In-Reply-To")); id != "" {
		return id
	}
	return lastMsgID(m.header.Get("References"))
}

// tag finds rapport's VERP tag: in the envelope recipient first, then in
// the addresses a report quotes, for reports sent to a fixed address (a
// feedback loop) or forwarded.
func (m *message) tag(envelopeRcpt, prefix string) string {
	cands := []string{envelopeRcpt}
	cands = append(cands, m.header.Values("X-Original-To")...)
	cands = append(cands, m.header.Values("Delivered-To")...)
	cands = append(cands, rawAddress(m.header.Get("To")))
	cands = append(cands, m.senders...)
	cands = append(cands, m.orig.get("return-path"))
	for _, c := range cands {
		if t, ok := VERPTag(c, prefix); ok {
			return t
		}
	}
	return ""
}
