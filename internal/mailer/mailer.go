// Package mailer writes MIME messages (Compose) and hands them to an SMTP
// server over a pool of reused go-mail connections, or, with no SMTP server
// configured, writes them as .eml files into an outbox folder.
package mailer

import (
	"context"
	"errors"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Envelope is one message to one recipient.
type Envelope struct {
	From    *mail.Address
	To      string
	ToName  string
	Subject string
	// Text and HTML are the two parts' bodies. They may be buffers the
	// caller reuses for the next message once Send returns, so a Session
	// never keeps them (nor the Envelope) past Send.
	Text      []byte
	HTML      []byte
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

// stepError is a failure at one step of the SMTP conversation: the step
// (named by go-mail's reasons, as its own sender names them) and the
// error, whose reply code, if any, says what the server meant.
type stepError struct {
	reason gomail.SendErrReason
	err    error
}

func (e *stepError) Error() string { return e.reason.String() + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// replyCode is the SMTP reply code behind err, 0 for none (a network
// error).
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// classify maps the failure of one message's conversation to an outcome.
func classify(err error) Result {
	if err == nil {
		return Result{Outcome: Accepted}
	}
	var se *stepError
	if !errors.As(err, &se) {
		return Result{Outcome: TempFail, Unsent: true, Err: err, Detail: err.Error()}
	}
	r := Result{Err: err, Code: replyCode(se.err), Detail: err.Error()}
	switch se.reason {
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
		switch se.reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrConnCheck, gomail.ErrSMTPData:
			r.Unsent = true
		}
	}
	return r
}
