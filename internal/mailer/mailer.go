// Package mailer builds MIME messages with go-mail and hands them to an SMTP
// server over a pool of reused connections, or, with no SMTP server
// configured, writes them as .eml files into an outbox folder.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Envelope is one message to one recipient.
type Envelope struct {
	From      *mail.Address
	To        string
	ToName    string
	Subject   string
	Text      string
	HTML      string
	MessageID string            // without angle brackets
	Headers   map[string]string // e.g. List-Unsubscribe
	Date      time.Time
	// Sender is the envelope sender (MAIL FROM, Return-Path), where
	// bounces go: a VERP address naming the delivery when BOUNCE_DOMAIN is
	// set; empty means From.
	Sender string
}

// Outcome classifies what the server said about one message.
type Outcome int

// Outcomes. Only Uncertain means the message may or may not have been
// accepted: the connection broke after the data was sent and before the
// server's answer arrived.
const (
	Accepted  Outcome = iota // the server took responsibility for the message
	TempFail                 // 4xx or a failure before the server had the message: retry later
	PermFail                 // 5xx: do not retry; the address is suppressed
	Uncertain                // may have been accepted: never resend
	// LocalFail: the message could not be built or handed over for a
	// reason of our own (a header go-mail cannot encode, no sender or
	// recipient it can read). No server saw it: it is not the address's
	// fault, so never a bounce, and trying again would fail the same way.
	LocalFail
)

func (o Outcome) String() string {
	return [...]string{"accepted", "temp_fail", "perm_fail", "uncertain", "local_fail"}[o]
}

// Result is the fate of one message.
type Result struct {
	Outcome Outcome
	// Unsent: the message never reached the server (no connection, or the
	// connection failed before DATA without a reply code). It is a fault of
	// the connection, not of the message: retried soon, not counted as an
	// attempt.
	Unsent bool
	Code   int    // SMTP reply code when there was one
	Err    error  // nil when accepted
	Detail string // server text, for logs and the delivery record
}

// SlowDown reports whether a temporary failure asks us to send more slowly
// (421, 450/451 with rate wording, 452): the throttle backs the domain off.
func (r Result) SlowDown() bool {
	if r.Outcome != TempFail || r.Code == 0 {
		return false
	}
	return r.Code == 421 || r.Code == 452 || strings.Contains(strings.ToLower(r.Detail), "rate") ||
		strings.Contains(strings.ToLower(r.Detail), "too many") || strings.Contains(strings.ToLower(r.Detail), "slow")
}

// Session sends messages one after another over one connection.
type Session interface {
	Send(ctx context.Context, e *Envelope) Result
	// Close returns the connection to its pool, or discards it if broken.
	Close()
}

// Transport opens sessions.
type Transport interface {
	Session(ctx context.Context) (Session, error)
	Close() error
}

// Build turns an envelope into a go-mail message.
func Build(e *Envelope, dkim *DKIMSigner) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(e.From)
	if err := m.AddToFormat(e.ToName, e.To); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	m.Subject(e.Subject)
	if e.Sender != "" {
		if err := m.EnvelopeFrom(e.Sender); err != nil {
			return nil, fmt.Errorf("envelope sender: %w", err)
		}
	}
	m.SetMessageIDWithValue(e.MessageID)
	if e.Date.IsZero() {
		m.SetDate()
	} else {
		m.SetDateWithValue(e.Date)
	}
	for k, v := range e.Headers {
		m.SetGenHeader(gomail.Header(k), v)
	}
	m.SetBodyString(gomail.TypeTextPlain, e.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	if dkim != nil {
		if err := dkim.sign(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// classify maps go-mail's error for one message to an outcome.
func classify(err error) Result {
	if err == nil {
		return Result{Outcome: Accepted}
	}
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return Result{Outcome: TempFail, Unsent: true, Err: err, Detail: err.Error()}
	}
	r := Result{Err: err, Code: se.ErrorCode(), Detail: err.Error()}
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		// Found in the message before a byte was sent: ours to fix.
		r.Outcome = LocalFail
		return r
	case gomail.ErrSMTPReset:
		// The message was accepted; only the RSET after it failed.
		return Result{Outcome: Accepted}
	case gomail.ErrSMTPDataClose:
		// The final dot was sent. Without a reply code we cannot know
		// whether the server kept the message.
		if r.Code == 0 {
			r.Outcome = Uncertain
			return r
		}
	}
	switch {
	case r.Code >= 500:
		r.Outcome = PermFail
	default:
		r.Outcome = TempFail
	}
	if r.Code == 0 || r.Code == 421 {
		// No reply, or 421 ("closing the channel", which is also what
		// servers say when they drop an idle connection): a fault of the
		// connection, not of this message, if it came before DATA.
		switch se.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrConnCheck, gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrSMTPData:
			r.Unsent = true
		}
	}
	return r
}
