// Package inbound is the SMTP listener for the bounce domain
// (BOUNCE_SMTP_ADDR): the mail server that bounces and complaints come
// back to. Point the bounce domain's MX at it. It accepts mail for the
// bounce domain only, reads each message (bounded), classifies it
// (internal/dsn: RFC 3464 delivery status notifications, RFC 5965 ARF
// complaints, auto-replies) and applies bounces and complaints through
// internal/feedback. A message it cannot read is refused with a clear
// reply; the listener keeps running.
package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rapport-dev/rapport/internal/dsn"
	"github.com/rapport-dev/rapport/internal/feedback"
)

// Applier applies a report (feedback.Service).
type Applier interface {
	Apply(ctx context.Context, r feedback.Report) (feedback.Outcome, error)
}

// Config says what the listener accepts.
type Config struct {
	Domain     string // the bounce domain; mail for any other is refused
	Hostname   string // the listener's name in its greeting
	MaxBytes   int64  // largest message; 0 means 10 MiB
	VERPPrefix string // the local part before "+": "bounces"
	Log        *slog.Logger
}

// Server is the listener.
type Server struct {
	srv *smtp.Server
	cfg Config
	app Applier
}

// New returns a listener applying what it receives through app.
func New(cfg Config, app Applier) *Server {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = dsn.DefaultMaxBytes
	}
	if cfg.VERPPrefix == "" {
		cfg.VERPPrefix = "bounces"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, app: app}
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	if srv.Domain == "" {
		srv.Domain = cfg.Domain
	}
	// A little above the parser's own limit, so an oversized message is
	// refused by the parser (552) rather than cut short mid-read.
	srv.MaxMessageBytes = cfg.MaxBytes + 64<<10
	srv.MaxRecipients = 10
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.srv = srv
	return s
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listener.
func (s *Server) Close() error { return s.srv.Close() }

// NewSession starts a session for a connection (smtp.Backend).
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s     *Server
	rcpts []string
}

func (ss *session) Reset()     { ss.rcpts = nil } // after each message and on RSET
func (*session) Logout() error { return nil }

// Mail accepts any return path: bounces come with an empty one.
func (*session) Mail(string, *smtp.MailOptions) error { return nil }

// Rcpt accepts the bounce domain's addresses only: the listener relays
// nothing.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at < 0 || !strings.EqualFold(to[at+1:], ss.s.cfg.Domain) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relaying denied: this server accepts mail for " + ss.s.cfg.Domain + " only"}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

// Data reads, classifies and applies the message.
func (ss *session) Data(r io.Reader) error {
	cfg := ss.s.cfg
	h := sha256.New()
	body := &readErr{r: r}
	rep, err := dsn.Parse(io.TeeReader(body, h), ss.rcpts[0], dsn.Options{MaxBytes: cfg.MaxBytes, VERPPrefix: cfg.VERPPrefix})
	_, _ = io.Copy(io.Discard, body) // the protocol needs the rest read
	switch {
	case errors.Is(err, dsn.ErrTooLarge), errors.Is(body.err, smtp.ErrDataTooLarge):
		cfg.Log.Warn("bounce message refused: too large")
		return smtp.ErrDataTooLarge
	case body.err != nil:
		// The protocol's own refusal (a line too long, a broken stream).
		var se *smtp.SMTPError
		if errors.As(body.err, &se) {
			return se
		}
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message cannot be read"}
	case err != nil:
		cfg.Log.Warn("bounce message refused: cannot be read", "error", err.Error())
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message cannot be read as a bounce or complaint report"}
	}
	detail := strings.TrimSpace(rep.Status + " " + rep.Diagnostic)
	// Bounded, so a stalled database makes the sender retry (451) rather
	// than hold the connection.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ss.s.app.Apply(ctx, feedback.Report{Source: "dsn", EventID: hex.EncodeToString(h.Sum(nil)),
		Kind: rep.Kind.String(), Email: rep.Recipient, MessageID: rep.MessageID, Tag: rep.Tag, Detail: detail})
	if err != nil {
		// Our fault (the database): the sender's server keeps the message
		// and tries again.
		cfg.Log.Error("bounce report not recorded; asking the sender to retry", "error", err.Error())
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "temporary failure, try again later"}
	}
	cfg.Log.Info("bounce report", "kind", rep.Kind.String(), "outcome", string(out), "status", rep.Status)
	return nil
}

// readErr remembers the first error reading the message failed with: the
// SMTP server's "too large" may reach the parser as a malformed message.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
