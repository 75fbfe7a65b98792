// Package dsn classifies one inbound email message, as rapport's bounce
// address receives it, so rapport can record what happened to mail it sent:
// a permanent bounce, a temporary one, a spam complaint, an auto-reply, or
// none of these.
//
// It reads RFC 3464 delivery status notifications (and the lenient
// variants real MTAs send), the plain-text bounces of older MTAs, RFC 5965
// ARF feedback reports (Yahoo, Outlook.com JMRP) and auto-replies (RFC 3834
// Auto-Submitted, X-Autoreply, "Out of Office" subjects).
//
// The classification is deliberately conservative, because its results are
// acted on: a HardBounce or Complaint suppresses an address for good, and a
// SoftBounce counts towards doing so. A message is therefore only a bounce
// when it carries an SMTP status code of class 4 or 5 (in a delivery-status
// field or, for bounce-shaped plain-text messages, in the text), only a
// complaint when it is a feedback report (or a JMRP report with the
// complained-about message attached), and anything that is neither and not
// clearly an auto-reply is Unknown. Delivery status structure is checked
// before auto-reply headers, because every DSN carries
// "Auto-Submitted: auto-replied" itself. Evidence is never taken from the
// returned copy of rapport's own message, whose text could contain
// anything.
//
// The package is pure: no I/O beyond the given reader, no database or
// network, no mutable global state, so Parse is safe for concurrent use. Its
// input is untrusted, so its reads are bounded (Options), and it reports
// what it cannot read with the sentinel errors ErrTooLarge, ErrTooComplex and
// ErrMalformed rather than guessing.
package dsn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"net/textproto"
)

// Kind is what an inbound message says happened to a message rapport sent.
// Its zero value is Unknown, so a zero Report never suppresses anyone.
type Kind int

// The kinds of inbound message. Only HardBounce and Complaint should
// suppress an address at once; SoftBounce is a temporary failure the caller
// counts; AutoReply and Unknown call for no action.
const (
	// Unknown is a message that is not a bounce, complaint or auto-reply,
	// or one without the evidence to say it is: it calls for no action.
	Unknown Kind = iota
	// HardBounce is a permanent failure, a status of class 5: retrying
	// will not help, so the address should be suppressed.
	HardBounce
	// SoftBounce is a temporary failure or a delay (a status of class 4,
	// or Action: delayed): the address may work later, so it is counted,
	// not suppressed at once.
	SoftBounce
	// Complaint is a spam report by the recipient (ARF or JMRP): sending
	// again harms the sender's reputation, so the address should be
	// suppressed.
	Complaint
	// AutoReply is an out-of-office, vacation or other automatic reply:
	// the address works, so it calls for no action.
	AutoReply
)

// String returns the kind in snake case ("hard_bounce"), the spelling
// rapport's suppression reasons already use, so it can be stored or logged
// as is.
func (k Kind) String() string {
	switch k {
	case HardBounce:
		return "hard_bounce"
	case SoftBounce:
		return "soft_bounce"
	case Complaint:
		return "complaint"
	case AutoReply:
		return "auto_reply"
	}
	return "unknown"
}

// Report is what one inbound message says about mail rapport sent. Fields
// the message does not provide are empty. All strings are valid UTF-8
// without control characters, so they can be logged and stored as they are.
type Report struct {
	// Kind is the classification; see Kind.
	Kind Kind
	// Recipient is the address that bounced, complained or auto-replied,
	// lower-cased. For a DSN it is the Original-Recipient when the report
	// has one (the address rapport sent to, before any forwarding), else
	// the Final-Recipient; for a complaint the Original-Rcpt-To or the
	// complained-about message's To; for an auto-reply its From.
	Recipient string
	// Status is the RFC 3463 enhanced status code, such as "5.1.1". When
	// the report gives only a generic code ("5.0.0", as Exim does) and the
	// diagnostic holds a more specific one of the same class, Status is the
	// specific one; when only a basic SMTP reply code is known ("550"),
	// Status is its class with zeros ("5.0.0").
	Status string
	// Diagnostic is the remote server's explanation, such as
	// "smtp; 550 5.1.1 user unknown", whitespace-collapsed and cut to at
	// most 500 bytes.
	Diagnostic string
	// RemoteMTA is the host that reported the failure, without the "dns;"
	// type.
	RemoteMTA string
	// MessageID is the Message-ID of rapport's original message, without
	// angle brackets, from the returned message or headers, the report's
	// own fields or, failing those, the In-Reply-To or References header.
	// It lets the caller map the message back to a delivery when there is
	// no VERP tag.
	MessageID string
	// FeedbackType is the ARF Feedback-Type, lower-cased ("abuse", "fraud",
	// "virus", "other", "not-spam"...); "abuse" for a JMRP report without
	// a feedback-report part.
	FeedbackType string
	// Tag is the VERP tag of rapport's bounce address (see VERPTag), from
	// the envelope recipient or, failing that, from the addresses the report
	// quotes (X-Original-To, To, Original-Mail-From, X-Postfix-Sender, the
	// original message's Return-Path).
	Tag string
	// Recipients holds every per-recipient group of a DSN, in order; nil
	// for other messages. The top-level fields describe the first hard
	// bounce among them, else the first soft bounce, else the first group.
	Recipients []RecipientStatus
}

// RecipientStatus is one per-recipient field group of a DSN. A DSN may
// report on several recipients, with different outcomes, and a caller that
// sent to several addresses in one transaction needs each.
type RecipientStatus struct {
	Kind       Kind   // this recipient's classification (HardBounce, SoftBounce or Unknown)
	Recipient  string // Original-Recipient if usable, else Final-Recipient, lower-cased
	Action     string // Action field, lower-cased: failed, delayed, delivered, relayed, expanded
	Status     string // enhanced status code, as for Report.Status
	Diagnostic string // Diagnostic-Code, as for Report.Diagnostic
	RemoteMTA  string // Remote-MTA, without the "dns;" type
}

// Defaults used for zero (or negative) Options fields.
const (
	// DefaultMaxBytes is the default Options.MaxBytes, 10 MiB: a typical
	// SMTP SIZE limit, since a bounce that returns a whole message is only
	// a little larger than the message.
	DefaultMaxBytes = 10 << 20
	// DefaultMaxParts is the default Options.MaxParts. Real reports have
	// at most a dozen parts (Gmail's, the most elaborate, has eight).
	DefaultMaxParts = 100
	// DefaultMaxDepth is the default Options.MaxDepth. Real reports nest
	// multiparts at most three deep.
	DefaultMaxDepth = 10
	// DefaultVERPPrefix is the default Options.VERPPrefix, the local part
	// of bounces+TAG@domain.
	DefaultVERPPrefix = "bounces"
)

// Options bounds what Parse reads, because inbound mail is untrusted input,
// and names rapport's bounce address. The zero value uses the defaults.
type Options struct {
	// MaxBytes is the largest message Parse reads; a longer one is
	// ErrTooLarge, detected after reading MaxBytes+1 bytes.
	MaxBytes int64
	// MaxParts is the most MIME parts, at all depths, Parse walks before
	// returning ErrTooComplex.
	MaxParts int
	// MaxDepth is the deepest nesting of multiparts Parse walks before
	// returning ErrTooComplex.
	MaxDepth int
	// VERPPrefix is the local part before the "+" of rapport's bounce
	// address, as for VERPTag.
	VERPPrefix string
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.VERPPrefix == "" {
		o.VERPPrefix = DefaultVERPPrefix
	}
	return o
}

// Errors Parse returns, wrapped with detail; test for them with errors.Is.
// Each means the message could not be classified, not that it is harmless:
// a caller may keep such messages for a person to look at.
var (
	// ErrTooLarge is returned for a message longer than Options.MaxBytes.
	ErrTooLarge = errors.New("dsn: message too large")
	// ErrTooComplex is returned for a message with more MIME parts than
	// Options.MaxParts or multiparts nested deeper than Options.MaxDepth,
	// which no real report needs.
	ErrTooComplex = errors.New("dsn: message too complex")
	// ErrMalformed is returned for a message that is not RFC 5322 / MIME:
	// no header, an unparsable header, NUL bytes in the header, a
	// multipart without a boundary, or broken or truncated MIME structure.
	ErrMalformed = errors.New("dsn: malformed message")
)

// Parse reads one raw RFC 5322 message from r, as an SMTP or LMTP listener
// received it (CRLF or LF line endings), and classifies it. envelopeRcpt is
// the RCPT TO address the message was delivered to, used for the VERP tag;
// with several recipients, pass the one addressed to rapport's bounce
// address. It may be empty.
//
// Parse reads at most opts.MaxBytes+1 bytes, so its memory use is bounded
// by a small multiple of opts.MaxBytes whatever r holds. An error other than
// the sentinels is r's own read error. On error the Report is zero.
func Parse(r io.Reader, envelopeRcpt string, opts Options) (Report, error) {
	opts = opts.withDefaults()
	limit := opts.MaxBytes
	if limit < math.MaxInt64 {
		limit++
	}
	raw, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return Report{}, fmt.Errorf("dsn: reading message: %w", err)
	}
	if int64(len(raw)) > opts.MaxBytes {
		return Report{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, opts.MaxBytes)
	}
	m, err := readMessage(raw, opts)
	if err != nil {
		return Report{}, err
	}
	rep := classify(m, envelopeRcpt, opts.VERPPrefix)
	rep.sanitize()
	return rep, nil
}

// readMessage parses the top-level header strictly (a message whose header
// cannot be read is not mail) and walks the MIME tree.
func readMessage(raw []byte, opts Options) (*message, error) {
	raw = skipMboxLine(raw)
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	if bytes.IndexByte(headerSection(raw), 0) >= 0 {
		return nil, fmt.Errorf("%w: NUL byte in header", ErrMalformed)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: header: %s", ErrMalformed, errDetail(err))
	}
	if len(msg.Header) == 0 {
		return nil, fmt.Errorf("%w: no header fields", ErrMalformed)
	}
	m := &message{header: textproto.MIMEHeader(msg.Header)}
	w := walker{opts: opts, m: m}
	if err := w.part(m.header, msg.Body, 0); err != nil {
		return nil, err
	}
	return m, nil
}

// skipMboxLine drops a leading mbox "From " separator line, which messages
// saved from a mailbox carry and which is not a header field.
func skipMboxLine(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return raw
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return raw[i+1:]
	}
	return nil
}

// headerSection is raw up to the first empty line.
func headerSection(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("\n")) || bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil
	}
	for _, sep := range []string{"\n\n", "\n\r\n"} {
		if i := bytes.Index(raw, []byte(sep)); i >= 0 {
			raw = raw[:i]
		}
	}
	return raw
}
