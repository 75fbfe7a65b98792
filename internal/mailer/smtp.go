package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SMTPConfig says where and how to connect.
type SMTPConfig struct {
	Host      string
	Port      int
	Username  string
	Password  string
	TLS       string // "starttls", "tls" or "none"
	Timeout   time.Duration
	PoolSize  int
	TLSConfig *tls.Config // nil: verify the server name against the system roots
	HELO      string
}

// Pool keeps up to PoolSize SMTP connections and lends one per session, so
// each message costs one SMTP transaction, not a handshake. One go-mail
// client holds the settings and dials every connection.
type Pool struct {
	cfg     SMTPConfig
	dkim    *DKIMSigner
	client  *gomail.Client // settings only; connections are its smtp.Clients
	initErr error
	idle    chan *smtp.Client
	sem     chan struct{}
}

// NewPool returns a pool; connections are opened on first use.
func NewPool(cfg SMTPConfig, dkim *DKIMSigner) *Pool {
	if cfg.PoolSize < 1 {
		cfg.PoolSize = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	p := &Pool{cfg: cfg, dkim: dkim, idle: make(chan *smtp.Client, cfg.PoolSize), sem: make(chan struct{}, cfg.PoolSize)}
	p.client, p.initErr = p.newClient()
	return p
}

func (p *Pool) newClient() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(p.cfg.Port), gomail.WithTimeout(p.cfg.Timeout),
		// go-mail would send a NOOP before and an RSET after every message:
		// two extra round trips on top of MAIL, RCPT, DATA and the final
		// dot. Neither is needed. A dead connection shows at MAIL, before
		// the server has anything. The reply to the final dot ends the
		// transaction and clears the server's state whatever it says (RFC
		// 5321, 4.1.1.4), and go-mail resets after a refused MAIL or RCPT
		// itself; the one case it leaves open, a refused DATA, is reset by
		// the session before its next message (smtpSession.Send).
		gomail.WithoutNoop(), gomail.WithoutRset(),
	}
	switch p.cfg.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if p.cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(p.cfg.TLSConfig))
	}
	if p.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(p.cfg.HELO))
	}
	if p.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(p.cfg.Username), gomail.WithPassword(p.cfg.Password))
	}
	c, err := gomail.NewClient(p.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

func (p *Pool) dial(ctx context.Context) (*smtp.Client, error) {
	if p.initErr != nil {
		return nil, p.initErr
	}
	c, err := p.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("smtp connect %s:%d: %w", p.cfg.Host, p.cfg.Port, err)
	}
	return c, nil
}

// Session lends a connection, dialling one if none is idle. It waits when
// PoolSize sessions are already out.
func (p *Pool) Session(ctx context.Context) (Session, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case c := <-p.idle:
		return &smtpSession{p: p, c: c}, nil
	default:
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return &smtpSession{p: p, c: c}, nil
}

// Close closes idle connections.
func (p *Pool) Close() error {
	for {
		select {
		case c := <-p.idle:
			_ = p.client.CloseWithSMTPClient(c) // QUIT
		default:
			return nil
		}
	}
}

type smtpSession struct {
	p      *Pool
	c      *smtp.Client
	broken bool
	// redialed: the session already replaced a dead connection once; a
	// second failure means the server is really gone.
	redialed bool
	// open: the last message failed and may have left its transaction
	// open on the server (a refused DATA); RSET before the next one.
	open bool
	// pipelining: whether the server offers PIPELINING; 0 until asked.
	// mailParams: MAIL FROM's parameters for the server's extensions,
	// worked out with it.
	pipelining int
	mailParams string
}

func (s *smtpSession) Send(ctx context.Context, e *Envelope) Result {
	r := s.send(ctx, e)
	if r.Unsent && !s.redialed {
		// A pooled connection the server closed while idle fails at MAIL,
		// before the server has anything: dial a fresh one and try once
		// more rather than fail the rest of the batch.
		s.redialed = true
		if c, err := s.p.dial(ctx); err == nil {
			_ = s.c.Close()
			s.c, s.broken, s.open, s.pipelining = c, false, false, 0
			r = s.send(ctx, e)
		}
	}
	return r
}

func (s *smtpSession) send(_ context.Context, e *Envelope) Result {
	if s.broken {
		return Result{Outcome: TempFail, Unsent: true, Detail: "connection broken"}
	}
	buf := getBuffer()
	defer putBuffer(buf)
	// Composed (and DKIM-signed) before anything goes to the server, on
	// this worker's goroutine: signing runs in parallel across workers.
	if err := Compose(buf, e, s.p.dkim); err != nil {
		return Result{Outcome: LocalFail, Err: err, Detail: "build message: " + err.Error()}
	}
	if s.open {
		if err := s.reset(); err != nil {
			// Nothing of this message reached the server.
			s.broken = true
			return Result{Outcome: TempFail, Unsent: true, Err: err, Detail: "smtp reset: " + err.Error()}
		}
		s.open = false
	}
	from := e.Sender
	if from == "" {
		from = e.From.Address
	}
	r := classify(s.transmit(from, e.To, buf.Bytes()))
	if r.Outcome == Uncertain || (r.Outcome == TempFail && r.Code == 0) || r.Code == 421 {
		// A network error or a 421 leaves the connection unusable.
		s.broken = true
	}
	s.open = r.Outcome != Accepted
	return r
}

// transmit is one SMTP transaction: MAIL, RCPT, DATA, the message and the
// final dot, over go-mail's client. The DATA content goes straight to the
// connection's buffered writer, dot-stuffed in runs (writeDotted), rather
// than through go-mail's data writer, which stuffs byte by byte under a
// lock. A refused MAIL or RCPT is reset at once, as go-mail does; a
// refused DATA leaves the transaction for the session to reset (open).
func (s *smtpSession) transmit(from, to string, msg []byte) error {
	c := s.c
	if err := c.UpdateDeadline(s.p.cfg.Timeout); err != nil {
		return &stepError{gomail.ErrConnCheck, err}
	}
	if s.pipelining == 0 {
		s.pipelining = -1
		if ok, _ := c.Extension("PIPELINING"); ok {
			s.pipelining = 1
		}
		s.mailParams = ""
		if ok, _ := c.Extension("8BITMIME"); ok {
			s.mailParams += " BODY=8BITMIME" // as go-mail's Mail says it
		}
		if ok, _ := c.Extension("SMTPUTF8"); ok {
			s.mailParams += " SMTPUTF8"
		}
	}
	if s.pipelining > 0 {
		return s.transmitPipelined(from, to, msg)
	}
	if err := c.Mail((&mail.Address{Address: from}).String()); err != nil {
		_ = c.Reset()
		return &stepError{gomail.ErrSMTPMailFrom, err}
	}
	if err := c.Rcpt((&mail.Address{Address: to}).String()); err != nil {
		_ = c.Reset()
		return &stepError{gomail.ErrSMTPRcptTo, err}
	}
	id, err := c.Text.Cmd("DATA")
	if err != nil {
		return &stepError{gomail.ErrSMTPData, err}
	}
	c.Text.StartResponse(id)
	_, _, err = c.Text.ReadResponse(354)
	c.Text.EndResponse(id)
	if err != nil {
		return &stepError{gomail.ErrSMTPData, err}
	}
	if err := writeDotted(c.Text.W, msg); err != nil {
		return &stepError{gomail.ErrWriteContent, err}
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return &stepError{gomail.ErrSMTPDataClose, err}
	}
	return nil
}

// transmitPipelined is transmit for a server that offers PIPELINING (RFC
// 2920): MAIL, RCPT and DATA go in one write and their three replies are
// read after it, one round trip instead of three. Each reply is read
// whatever the one before said, so the conversation stays in step; a
// server that answers DATA with 354 although it refused the sender or the
// recipient gets an empty message ended at once (RFC 2920, 3.1), and the
// transaction is reset as after a refusal in transmit. Nothing of the
// message is written before all three were accepted, so a refusal or a
// broken connection up to there leaves the server without it.
func (s *smtpSession) transmitPipelined(from, to string, msg []byte) error {
	t := s.c.Text
	w := t.W
	_, _ = w.WriteString("MAIL FROM:")
	_, _ = w.WriteString((&mail.Address{Address: from}).String())
	_, _ = w.WriteString(s.mailParams)
	_, _ = w.WriteString("\r\nRCPT TO:")
	_, _ = w.WriteString((&mail.Address{Address: to}).String())
	_, _ = w.WriteString("\r\nDATA\r\n")
	if err := w.Flush(); err != nil {
		return &stepError{gomail.ErrSMTPMailFrom, err}
	}
	_, _, mailErr := t.ReadResponse(250)
	_, _, rcptErr := t.ReadResponse(25)
	code, _, dataErr := t.ReadResponse(354)
	if mailErr != nil || rcptErr != nil {
		if dataErr == nil && code == 354 {
			// An empty message, ended at once: no transaction was
			// started, so the server refuses it.
			if _, err := w.WriteString(".\r\n"); err == nil && w.Flush() == nil {
				_, _, _ = t.ReadResponse(250)
			}
		}
		_ = s.c.Reset()
		if mailErr != nil {
			return &stepError{gomail.ErrSMTPMailFrom, mailErr}
		}
		return &stepError{gomail.ErrSMTPRcptTo, rcptErr}
	}
	if dataErr != nil {
		return &stepError{gomail.ErrSMTPData, dataErr}
	}
	if err := writeDotted(w, msg); err != nil {
		return &stepError{gomail.ErrWriteContent, err}
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return &stepError{gomail.ErrSMTPDataClose, err}
	}
	return nil
}

func (s *smtpSession) reset() error {
	if err := s.c.UpdateDeadline(s.p.cfg.Timeout); err != nil {
		return err
	}
	return s.c.Reset()
}

func (s *smtpSession) Close() {
	if !s.broken && s.open && s.reset() != nil {
		s.broken = true
	}
	if s.broken {
		_ = s.c.Close() // no QUIT on a connection that failed
	} else {
		select {
		case s.p.idle <- s.c:
		default:
			_ = s.p.client.CloseWithSMTPClient(s.c)
		}
	}
	<-s.p.sem
}
