// Command smtpsink is an SMTP server that accepts mail and keeps only a
// journal of it: one line per accepted message,
//
//	<unix nanoseconds>\t<Message-ID without brackets>\t<recipients, comma-separated>
//
// appended to the -out file. It is the separate process the crash, outage
// and throttle tests (internal/systemtest) send to, so what it received can
// be compared with what rapport recorded.
//
// A message's line is written and fsynced before the 250 answer to its final
// dot: a message the sender was told was accepted is in the journal, even if
// the sink is stopped right after. Concurrent messages share an fsync (group
// commit). SIGTERM or SIGINT closes the listener and every connection at
// once (a message whose 250 was not yet sent may or may not be in the
// journal, as with a real server), flushes the journal and exits.
//
//	smtpsink -addr 127.0.0.1:2525 -out sink.log [-fail-rcpt-domain example.net]
//	         [-tempfail-every N] [-idle-timeout 5m] [-accept-delay 0]
//
// Once listening it prints "listening on <addr>" on stdout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "smtpsink:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("smtpsink", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2525", "address to listen on (port 0 picks a free one)")
	out := fs.String("out", "", "journal file the accepted messages are appended to (required)")
	failDomain := fs.String("fail-rcpt-domain", "", "answer 550 to recipients at this domain")
	tempEvery := fs.Int("tempfail-every", 0, "answer 451 to every Nth RCPT (0: never)")
	delay := fs.Duration("accept-delay", 0, "wait this long before accepting each message (a slow server)")
	idle := fs.Duration("idle-timeout", 5*time.Minute, "close a connection idle this long (Postfix's smtpd_timeout is 300s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	j := newJournal(f)
	b := &backend{j: j, failDomain: strings.ToLower(*failDomain), tempEvery: int64(*tempEvery), delay: *delay}
	srv := smtp.NewServer(b)
	srv.Domain = "smtpsink.local"
	srv.ReadTimeout = *idle
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = j.close()
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = srv.Close()
	if cerr := j.close(); err == nil {
		err = cerr
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

// journal appends lines to a file and fsyncs them before append returns,
// sharing one fsync among the appends waiting at the same time.
type journal struct {
	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	written uint64 // lines written
	synced  uint64 // lines known durable
	syncing bool
	closed  bool
	err     error
}

func newJournal(f *os.File) *journal {
	j := &journal{f: f}
	j.cond = sync.NewCond(&j.mu)
	return j
}

// append writes line (one write call, so lines never interleave) and
// returns once it is on disk.
func (j *journal) append(line []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("journal closed")
	}
	if _, err := j.f.Write(line); err != nil {
		return err
	}
	j.written++
	mine := j.written
	for j.synced < mine && j.err == nil {
		if j.syncing {
			j.cond.Wait()
			continue
		}
		j.syncing = true
		target := j.written
		j.mu.Unlock()
		err := j.f.Sync()
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.err = err
		} else {
			j.synced = target
		}
		j.cond.Broadcast()
	}
	return j.err
}

// close waits for a sync in progress, then syncs and closes the file. Later
// appends fail.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.syncing {
		j.cond.Wait()
	}
	if j.closed {
		return nil
	}
	j.closed = true
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

type backend struct {
	j          *journal
	failDomain string
	tempEvery  int64
	delay      time.Duration // before accepting a message
	rcpts      atomic.Int64
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b  *backend
	to []string
}

func (s *session) Reset()                               { s.to = nil }
func (s *session) Logout() error                        { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if n := s.b.tempEvery; n > 0 && s.b.rcpts.Add(1)%n == 0 {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	}
	if d := s.b.failDomain; d != "" && strings.HasSuffix(strings.ToLower(to), "@"+d) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	}
	s.to = append(s.to, to)
	return nil
}

// Data reads the whole message (up to the final dot), journals it and only
// then returns, which makes go-smtp answer 250.
func (s *session) Data(r io.Reader) error {
	br := bufio.NewReader(r)
	h, herr := textproto.NewReader(br).ReadMIMEHeader()
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err // the connection broke before the final dot: nothing accepted
	}
	if herr != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Unreadable header"}
	}
	time.Sleep(s.b.delay)
	id := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	line := fmt.Sprintf("%d\t%s\t%s\n", time.Now().UnixNano(), id, strings.Join(s.to, ","))
	if err := s.b.j.append([]byte(line)); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Journal unavailable"}
	}
	return nil
}
