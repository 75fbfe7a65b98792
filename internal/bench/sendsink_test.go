package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rapport-dev/rapport/internal/testproc"
)

// sinkEnv makes the test binary run sinkProcess as a discarding SMTP
// sink instead of the tests: the send benchmark starts the sink as a process
// of its own, so its memory and garbage collection stay out of rapport's
// figures.
const sinkEnv = "RAPPORT_BENCH_SINK"

// TestMain makes the test binary the send benchmark's SMTP sink process
// when sinkEnv is set (see startSink).
func TestMain(m *testing.M) {
	if os.Getenv(sinkEnv) == "1" {
		os.Exit(testproc.Run(sinkProcess))
	}
	os.Exit(m.Run())
}

// sinkProcess accepts every message, keeps nothing but a count, prints
// "listening on <addr>" once ready and, when its stdin closes, "received <n>
// <peak RSS MB>" and exits.
func sinkProcess(t testing.TB) {
	var n atomic.Int64
	srv := smtp.NewServer(discardBackend{n: &n})
	srv.Domain = "sink.bench.local"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening on %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	fmt.Printf("received %d %.0f\n", n.Load(), PeakRSSMB())
}

type discardBackend struct{ n *atomic.Int64 }

func (b discardBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession(b), nil }

type discardSession struct{ n *atomic.Int64 }

func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }
func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s discardSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}

// sink is a running sink process.
type sink struct {
	host  string
	port  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startSink starts the discarding SMTP sink as a separate process (this test
// binary again) and stops it when the benchmark ends.
func startSink(tb testing.TB) *sink {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), sinkEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &sink{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	tb.Cleanup(func() { s.stop() })
	for s.out.Scan() {
		if addr, ok := strings.CutPrefix(s.out.Text(), "listening on "); ok {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				tb.Fatal(err)
			}
			s.host = host
			s.port, _ = strconv.Atoi(port)
			return s
		}
	}
	tb.Fatalf("smtp sink did not start: %v", s.out.Err())
	return nil
}

// stop ends the sink and returns how many messages it accepted and its peak
// resident memory (MiB); -1 when unknown. Safe to call twice.
func (s *sink) stop() (received int, peakMB float64) {
	if s.stdin == nil {
		return -1, -1
	}
	_ = s.stdin.Close()
	s.stdin = nil
	received, peakMB = -1, -1
	for s.out.Scan() {
		if v, ok := strings.CutPrefix(s.out.Text(), "received "); ok {
			_, _ = fmt.Sscanf(v, "%d %f", &received, &peakMB)
		}
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	return received, peakMB
}
