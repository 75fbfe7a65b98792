package inbound

import (
	"context"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rapport-dev/rapport/internal/feedback"
)

type recorder struct {
	mu      sync.Mutex
	reports []feedback.Report
	fail    bool
}

func (r *recorder) Apply(_ context.Context, rep feedback.Report) (feedback.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return "", errors.New("database down")
	}
	r.reports = append(r.reports, rep)
	return feedback.Applied, nil
}

func (r *recorder) last() feedback.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reports[len(r.reports)-1]
}

func start(t *testing.T, app Applier) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Domain: "bounces.example.com", MaxBytes: 256 << 10}, app)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String()
}

// send delivers msg to rcpt and returns the server's error, if any.
func send(t *testing.T, addr, rcpt string, msg []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(""); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dsn", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// TestListener sends real-shaped reports to the listener: bounces and
// complaints reach the applier with their VERP tag and Message-ID, an
// auto-reply is passed on as such (and ignored there), and mail for
// another domain, malformed or oversized mail is refused cleanly while the
// listener keeps serving.
func TestListener(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	addr := start(t, rec)
	rcpt := "bounces+Hb4kP2-xQ9@bounces.example.com"

	if err := send(t, addr, rcpt, sample(t, "postfix_hard_user_unknown.eml")); err != nil {
		t.Fatalf("hard bounce refused: %v", err)
	}
	r := rec.last()
	if r.Kind != "hard_bounce" || r.Tag != "Hb4kP2-xQ9" || r.MessageID != "rapport.1234.56.k3x9@example.com" || r.Source != "dsn" ||
		r.EventID == "" || !strings.HasPrefix(r.Detail, "5.1.1") {
		t.Errorf("hard bounce became %+v", r)
	}
	if err := send(t, addr, rcpt, sample(t, "postfix_hard_user_unknown.eml")); err != nil || rec.last().EventID != r.EventID {
		t.Errorf("the same message again must carry the same event id (err %v)", err)
	}
	if err := send(t, addr, "fbl@bounces.example.com", sample(t, "yahoo_arf.eml")); err != nil || rec.last().Kind != "complaint" {
		t.Errorf("ARF complaint: %v, %+v", err, rec.last())
	}
	if err := send(t, addr, rcpt, sample(t, "autoreply_out_of_office.eml")); err != nil || rec.last().Kind != "auto_reply" {
		t.Errorf("auto-reply: %v, %+v", err, rec.last())
	}
	n := len(rec.reports)
	if err := send(t, addr, "someone@example.org", sample(t, "postfix_hard_user_unknown.eml")); code(err) != 550 {
		t.Errorf("mail for another domain: %v; want 550", err)
	}
	if err := send(t, addr, rcpt, sample(t, "truncated_mime.eml")); code(err) != 554 {
		t.Errorf("malformed mail: %v; want 554", err)
	}
	huge := append(sample(t, "postfix_hard_user_unknown.eml"), []byte(strings.Repeat(strings.Repeat("x", 76)+"\r\n", 4000))...)
	if err := send(t, addr, rcpt, huge); code(err) != 552 {
		t.Errorf("oversized mail: %v; want 552", err)
	}
	if len(rec.reports) != n {
		t.Errorf("refused mail reached the applier")
	}
	// Still serving after all that.
	if err := send(t, addr, rcpt, sample(t, "exim_dsn.eml")); err != nil || rec.last().Kind != "hard_bounce" {
		t.Errorf("after refusals: %v, %+v", err, rec.last())
	}
	// When the report cannot be recorded, the sender is asked to retry.
	rec.fail = true
	if err := send(t, addr, rcpt, sample(t, "gmail_dsn_failure.eml")); code(err) != 451 {
		t.Errorf("with the database down: %v; want 451", err)
	}
}
