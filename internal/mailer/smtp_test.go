package mailer

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptedServer is a minimal SMTP server that logs the commands it gets
// and, like strict real servers, keeps a transaction open after refusing
// DATA (here for recipients starting with "nodata"): a client that sends
// MAIL again without RSET gets 503.
type scriptedServer struct {
	mu   sync.Mutex
	log  []string
	host string
	port int
	// pipelining: offer PIPELINING, and refuse recipients starting with
	// "refuse" (those starting with "refuse354" then answer DATA with
	// 354 all the same, as a careless server might).
	pipelining bool
	// extensions are offered besides PIPELINING; mails logs each MAIL
	// command whole.
	extensions []string
	mails      []string
}

func startScripted(t *testing.T, pipelining bool) *scriptedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	s := &scriptedServer{host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port, pipelining: pipelining}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptedServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *scriptedServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	say("220 scripted ESMTP")
	var inTx bool
	var rcpt string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		if i := strings.IndexByte(verb, ':'); i >= 0 {
			verb = verb[:i]
		}
		s.mu.Lock()
		s.log = append(s.log, verb)
		s.mu.Unlock()
		switch verb {
		case "EHLO", "HELO":
			ext := s.extensions
			if s.pipelining {
				ext = append([]string{"PIPELINING"}, ext...)
			}
			if len(ext) == 0 {
				say("250 scripted")
				continue
			}
			say("250-scripted")
			for i, e := range ext {
				if i == len(ext)-1 {
					say("250 " + e)
				} else {
					say("250-" + e)
				}
			}
		case "MAIL":
			if inTx {
				say("503 5.5.1 nested MAIL command")
				continue
			}
			inTx, rcpt = true, ""
			s.mu.Lock()
			s.mails = append(s.mails, line)
			s.mu.Unlock()
			say("250 2.1.0 ok")
		case "RCPT":
			rcpt = strings.ToLower(line)
			if strings.Contains(rcpt, "<refuse") {
				say("550 5.1.1 no such user")
				continue
			}
			say("250 2.1.5 ok")
		case "DATA":
			if strings.Contains(rcpt, "<refuse") && !strings.Contains(rcpt, "<refuse354") {
				say("554 5.5.1 no valid recipients")
				continue
			}
			if strings.Contains(rcpt, "<nodata") {
				say("554 5.7.1 no data for you") // the transaction stays open
				continue
			}
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.log = append(s.log, ".")
			s.mu.Unlock()
			if strings.Contains(rcpt, "<refuse") {
				say("554 5.5.1 no valid recipients")
				continue
			}
			inTx = false
			say("250 2.0.0 queued")
		case "RSET":
			inTx = false
			say("250 2.0.0 reset")
		case "NOOP":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("500 5.5.2 unknown command")
		}
	}
}

// TestSessionResetsOnlyAfterFailures checks the pool's round-trip economy:
// no NOOP or RSET around accepted messages, and an RSET after a refused DATA
// so the next message on the connection is not refused as nested.
func TestSessionResetsOnlyAfterFailures(t *testing.T) {
	t.Parallel()
	for _, pipelining := range []bool{false, true} {
		srv := startScripted(t, pipelining)
		p := NewPool(SMTPConfig{Host: srv.host, Port: srv.port, TLS: "none", PoolSize: 1, Timeout: 5 * time.Second}, nil)
		defer p.Close()
		ctx := context.Background()
		s, err := p.Session(ctx)
		require.NoError(t, err)
		require.Equal(t, Accepted, s.Send(ctx, envelope("a@example.org")).Outcome)
		require.Equal(t, Accepted, s.Send(ctx, envelope("b@example.org")).Outcome)
		refused := s.Send(ctx, envelope("nodata@example.org"))
		require.Equal(t, PermFail, refused.Outcome, refused.Detail)
		require.Equal(t, 554, refused.Code)
		after := s.Send(ctx, envelope("c@example.org"))
		require.Equal(t, Accepted, after.Outcome, after.Detail)
		refused = s.Send(ctx, envelope("nodata2@example.org"))
		require.Equal(t, PermFail, refused.Outcome, refused.Detail)
		s.Close() // resets before the connection goes back to the pool

		s, err = p.Session(ctx)
		require.NoError(t, err)
		again := s.Send(ctx, envelope("d@example.org"))
		require.Equal(t, Accepted, again.Outcome, again.Detail)
		s.Close()
		require.Equal(t, []string{"EHLO",
			"MAIL", "RCPT", "DATA", ".",
			"MAIL", "RCPT", "DATA", ".",
			"MAIL", "RCPT", "DATA", // refused
			"RSET", "MAIL", "RCPT", "DATA", ".",
			"MAIL", "RCPT", "DATA", // refused
			"RSET", // on Close
			"MAIL", "RCPT", "DATA", "."}, srv.commands(), "pipelining %v", pipelining)
	}
}

// TestPipelinedRefusals: with PIPELINING, a refused recipient is a 5xx for
// that message alone (its DATA refused too, or, from a careless server,
// accepted and ended empty at once), the transaction is reset and the
// connection sends the next message.
func TestPipelinedRefusals(t *testing.T) {
	t.Parallel()
	srv := startScripted(t, true)
	p := NewPool(SMTPConfig{Host: srv.host, Port: srv.port, TLS: "none", PoolSize: 1, Timeout: 5 * time.Second}, nil)
	defer p.Close()
	ctx := context.Background()
	s, err := p.Session(ctx)
	require.NoError(t, err)
	for _, to := range []string{"refuse@example.org", "refuse354@example.org"} {
		r := s.Send(ctx, envelope(to))
		require.Equal(t, PermFail, r.Outcome, r.Detail)
		require.Equal(t, 550, r.Code, "the recipient's refusal, not DATA's")
		require.False(t, r.Unsent)
		ok := s.Send(ctx, envelope("a@example.org"))
		require.Equal(t, Accepted, ok.Outcome, ok.Detail)
	}
	s.Close()
	// Each refusal is reset at once and again before the next message,
	// as without pipelining.
	require.Equal(t, []string{"EHLO",
		"MAIL", "RCPT", "DATA", "RSET", "RSET",
		"MAIL", "RCPT", "DATA", ".",
		"MAIL", "RCPT", "DATA", ".", "RSET", "RSET", // the empty message, ended at once
		"MAIL", "RCPT", "DATA", "."}, srv.commands())
}

// TestMailParameters: MAIL FROM says BODY=8BITMIME and SMTPUTF8 to a
// server that offers them, on every message of the session and with or
// without pipelining, and nothing to one that does not.
func TestMailParameters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pipelining bool
		extensions []string
		want       string
	}{
		{true, []string{"8BITMIME", "SMTPUTF8"}, "MAIL FROM:<news@example.com> BODY=8BITMIME SMTPUTF8"},
		{false, []string{"8BITMIME"}, "MAIL FROM:<news@example.com> BODY=8BITMIME"},
		{true, nil, "MAIL FROM:<news@example.com>"},
	} {
		srv := startScripted(t, tc.pipelining)
		srv.extensions = tc.extensions
		p := NewPool(SMTPConfig{Host: srv.host, Port: srv.port, TLS: "none", PoolSize: 1, Timeout: 5 * time.Second}, nil)
		ctx := context.Background()
		s, err := p.Session(ctx)
		require.NoError(t, err)
		for range 2 {
			r := s.Send(ctx, envelope("a@example.org"))
			require.Equal(t, Accepted, r.Outcome, r.Detail)
		}
		s.Close()
		_ = p.Close()
		srv.mu.Lock()
		require.Equal(t, []string{tc.want, tc.want}, srv.mails, "%+v", tc.extensions)
		srv.mu.Unlock()
	}
}
