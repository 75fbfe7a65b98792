// Package smtptest runs a real SMTP server (emersion/go-smtp) in the test
// process, recording every accepted message, with hooks to refuse
// recipients the way real servers do.
package smtptest

import (
	"bytes"
	"io"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Raw  []byte
}

// Parsed parses the raw message.
func (m Message) Parsed(tb testing.TB) *mail.Message {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		tb.Fatalf("parse message: %v", err)
	}
	return msg
}

// Server is a running test SMTP server.
type Server struct {
	Addr string
	Host string
	Port int

	mu       sync.Mutex
	messages []Message
	notify   chan struct{}
	// Rcpt, when set, answers each RCPT TO; a non-nil error (use
	// *smtp.SMTPError for a code) refuses the recipient.
	Rcpt func(to string) error
	srv  *smtp.Server
}

// Start starts a server on a free loopback port, stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{notify: make(chan struct{}, 1)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "smtptest.local"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.srv = srv
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is an SMTP_URL for the server.
func (s *Server) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// Messages returns a copy of what was accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait blocks until n messages arrived or the timeout passed, and returns
// what arrived.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.notify:
		case <-deadline:
			return s.Messages()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	hook := x.s.Rcpt
	x.s.mu.Unlock()
	if hook != nil {
		if err := hook(to); err != nil {
			return err
		}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.messages = append(x.s.messages, Message{From: x.from, To: x.to, Raw: raw})
	x.s.mu.Unlock()
	select {
	case x.s.notify <- struct{}{}:
	default:
	}
	return nil
}

// SetRcpt installs a recipient hook safely while the server runs.
func (s *Server) SetRcpt(f func(to string) error) {
	s.mu.Lock()
	s.Rcpt = f
	s.mu.Unlock()
}
