package mailer

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
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

// Pool keeps up to PoolSize connected go-mail clients and lends one per
// session, so each message costs one SMTP transaction, not a handshake.
type Pool struct {
	cfg  SMTPConfig
	dkim *DKIMSigner
	idle chan *gomail.Client
	sem  chan struct{}
}

// NewPool returns a pool; connections are opened on first use.
func NewPool(cfg SMTPConfig, dkim *DKIMSigner) *Pool {
	if cfg.PoolSize < 1 {
		cfg.PoolSize = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Pool{cfg: cfg, dkim: dkim, idle: make(chan *gomail.Client, cfg.PoolSize), sem: make(chan struct{}, cfg.PoolSize)}
}

func (p *Pool) dial(ctx context.Context) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(p.cfg.Port), gomail.WithTimeout(p.cfg.Timeout),
		// NOOP before and RSET after every message would double the round
		// trips; a failed transaction is reset by go-mail anyway.
		gomail.WithoutNoop(),
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
	if err := c.DialWithContext(ctx); err != nil {
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
			_ = c.Close()
		default:
			return nil
		}
	}
}

type smtpSession struct {
	p      *Pool
	c      *gomail.Client
	broken bool
}

func (s *smtpSession) Send(ctx context.Context, e *Envelope) Result {
	if s.broken {
		return Result{Outcome: TempFail, Detail: "connection broken"}
	}
	m, err := Build(e, s.p.dkim)
	if err != nil {
		return Result{Outcome: PermFail, Err: err, Detail: err.Error()}
	}
	r := classify(s.c.Send(m))
	if r.Outcome == Uncertain || (r.Outcome == TempFail && r.Code == 0) || r.Code == 421 {
		// A network error or a 421 leaves the connection unusable.
		s.broken = true
	}
	return r
}

func (s *smtpSession) Close() {
	if s.broken {
		_ = s.c.Close()
	} else {
		select {
		case s.p.idle <- s.c:
		default:
			_ = s.c.Close()
		}
	}
	<-s.p.sem
}
