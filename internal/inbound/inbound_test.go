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
	"time"

	"github.com/rapport-dev/rapport/internal/feedback"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/token"
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

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

func verp(tag string) string { return "bounces+" + tag + "@bounces.example.com" }

// TestListenerSamples sends every stored sample to its VERP address (the
// feedback loops' to their fixed one) and checks the report that reaches
// the applier.
func TestListenerSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, rcpt string
		want       feedback.Report // Kind, Email, MessageID, Tag
		status     string          // the start of Detail
		code       int             // the reply to the message when refused
	}{
		{file: "postfix_hard_user_unknown.eml", rcpt: verp("Hb4kP2-xQ9"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "jane.doe@example.org", MessageID: "rapport.1234.56.k3x9@example.com", Tag: "Hb4kP2-xQ9"}},
		{file: "postfix_delayed.eml", rcpt: verp("Dl7mN3_aR1"), status: "4.4.1",
			want: feedback.Report{Kind: "soft_bounce", Email: "john.smith@example.net", MessageID: "rapport.1235.56.q7m2@example.com", Tag: "Dl7mN3_aR1"}},
		{file: "exim_dsn.eml", rcpt: verp("Ex1mDsN-42"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "m.rossi@example.it", MessageID: "rapport.1236.56.z8w4@example.com", Tag: "Ex1mDsN-42"}},
		{file: "exim_plain_mail_delivery_failed.eml", rcpt: verp("Ex1mPl4in_7"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "k.weber@example.de", MessageID: "rapport.1237.56.p2v6@example.com", Tag: "Ex1mPl4in_7"}},
		{file: "gmail_dsn_failure.eml", rcpt: verp("Gm41l-Xk2w"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "no.such.user@gmail.com", MessageID: "rapport.1238.56.h5t1@example.com", Tag: "Gm41l-Xk2w"}},
		{file: "gmail_legacy_plain.eml", rcpt: verp("GmL3g_9aQ"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "old.account@gmail.com", MessageID: "rapport.1239.56.w3e8@example.com", Tag: "GmL3g_9aQ"}},
		{file: "office365_recipient_not_found.eml", rcpt: verp("O365_rnF-1"), status: "5.1.10",
			want: feedback.Report{Kind: "hard_bounce", Email: "jane.doe@contoso.com", MessageID: "rapport.1240.56.r9n2@example.com", Tag: "O365_rnF-1"}},
		{file: "exchange_onprem_mailbox_full.eml", rcpt: verp("ExCh-Mbx22"), status: "5.2.2",
			want: feedback.Report{Kind: "hard_bounce", Email: "john.smith@contoso.com", MessageID: "rapport.1241.56.c5d7@example.com", Tag: "ExCh-Mbx22"}},
		{file: "qmail_failure_notice.eml", rcpt: verp("Qm41l-fN"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "t.nguyen@example.com.au", MessageID: "rapport.1250.59.q1m4@example.com", Tag: "Qm41l-fN"}},
		// Four recipients (relayed, delayed, failed, failed): the report is
		// about the first hard bounce.
		{file: "sendmail_multi_recipient.eml", rcpt: verp("MuLt1-rcpt"), status: "5.1.1",
			want: feedback.Report{Kind: "hard_bounce", Email: "c.bianchi@example.net", MessageID: "rapport.1248.59.m4r2@example.com", Tag: "MuLt1-rcpt"}},
		{file: "encoded_base64_dsn.eml", rcpt: verp("Enc64_B-x"), status: "4.2.2",
			want: feedback.Report{Kind: "soft_bounce", Email: "m.mueller@example.de", MessageID: "rapport.1249.59.b6e3@example.com", Tag: "Enc64_B-x"}},
		{file: "yahoo_arf.eml", rcpt: "fbl@bounces.example.com",
			want: feedback.Report{Kind: "complaint", Email: "jane.doe@yahoo.com", MessageID: "rapport.1243.57.y2k5@example.com", Tag: "Yh00-ArF_3"}},
		{file: "outlook_jmrp.eml", rcpt: "fbl@bounces.example.com",
			want: feedback.Report{Kind: "complaint", Email: "alex.jones@hotmail.com", MessageID: "rapport.1244.57.j6m8@example.com", Tag: "JmRp_n0Arf"}},
		{file: "outlook_jmrp_arf.eml", rcpt: "fbl@bounces.example.com",
			want: feedback.Report{Kind: "complaint", Email: "sam.taylor@outlook.com", MessageID: "rapport.1245.57.t3q9@example.com", Tag: "JmRp-ArF5"}},
		// Auto-replies are passed on as such, never as a bounce.
		{file: "autoreply_out_of_office.eml", rcpt: verp("Ooo_En1"),
			want: feedback.Report{Kind: "auto_reply", Email: "priya.natarajan@contoso.com", MessageID: "rapport.1246.58.o0o1@example.com", Tag: "Ooo_En1"}},
		{file: "autoreply_abwesenheitsnotiz.eml", rcpt: verp("Abw3s-De"),
			want: feedback.Report{Kind: "auto_reply", Email: "joerg.mueller@example.de", MessageID: "rapport.1247.58.d4e5@example.com", Tag: "Abw3s-De"}},
		{file: "truncated_mime.eml", rcpt: verp("Trunc8"), code: 554},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			err := send(t, start(t, rec), tt.rcpt, sample(t, tt.file))
			if tt.code != 0 {
				if code(err) != tt.code || rec.count() != 0 {
					t.Fatalf("got %v and %d reports; want %d and none", err, rec.count(), tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if rec.count() != 1 {
				t.Fatalf("%d reports; want 1", rec.count())
			}
			got := rec.last()
			if got.Source != "dsn" || len(got.EventID) != 64 || got.Authenticated {
				t.Errorf("source %q, event id %q, authenticated %v", got.Source, got.EventID, got.Authenticated)
			}
			if got.Kind != tt.want.Kind || got.Email != tt.want.Email || got.MessageID != tt.want.MessageID || got.Tag != tt.want.Tag {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if !strings.HasPrefix(got.Detail, tt.status) || (tt.status == "") != (got.Detail == "") {
				t.Errorf("Detail = %q; want it to start with %q", got.Detail, tt.status)
			}
		})
	}
}

// fakeStore is a feedback.Store holding one delivery.
type fakeStore struct {
	mu       sync.Mutex
	delivery postgres.DeliveryRecipient
	recorded []postgres.Feedback
}

func (s *fakeStore) DeliveryRecipient(_ context.Context, id int64) (postgres.DeliveryRecipient, error) {
	if id != s.delivery.DeliveryID {
		return postgres.DeliveryRecipient{}, outreach.Errorf(outreach.ENOTFOUND, "delivery: not found")
	}
	return s.delivery, nil
}

func (s *fakeStore) RecordFeedback(_ context.Context, f postgres.Feedback, _ int, _ time.Duration) (postgres.FeedbackResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded = append(s.recorded, f)
	return postgres.FeedbackResult{}, nil
}

func (s *fakeStore) all() []postgres.Feedback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]postgres.Feedback(nil), s.recorded...)
}

// TestListenerThroughFeedback runs the listener over the real
// feedback.Service: a bounce to a signed VERP address is recorded against
// its delivery; an auto-reply to it, or a bounce to a forged one, records
// nothing.
func TestListenerThroughFeedback(t *testing.T) {
	t.Parallel()
	signer, err := token.New([]string{strings.Repeat("k", 32)})
	if err != nil {
		t.Fatal(err)
	}
	st := &fakeStore{delivery: postgres.DeliveryRecipient{DeliveryID: 77, Email: "jane.doe@example.org"}}
	addr := start(t, &feedback.Service{Store: st, Signer: signer, Installation: "other-installation"})
	rcpt := verp(signer.BounceTag(77))

	for _, file := range []string{"autoreply_out_of_office.eml", "autoreply_abwesenheitsnotiz.eml"} {
		if err := send(t, addr, rcpt, sample(t, file)); err != nil {
			t.Fatalf("%s refused: %v", file, err)
		}
	}
	if err := send(t, addr, verp("16-aaaaaaaaaaaaaaaa"), sample(t, "exim_dsn.eml")); err != nil {
		t.Fatalf("bounce with a forged tag refused: %v", err)
	}
	if got := st.all(); len(got) != 0 {
		t.Fatalf("recorded %+v; want nothing", got)
	}
	if err := send(t, addr, rcpt, sample(t, "postfix_hard_user_unknown.eml")); err != nil {
		t.Fatalf("bounce refused: %v", err)
	}
	got := st.all()
	if len(got) != 1 || got[0].DeliveryID != 77 || got[0].Email != "jane.doe@example.org" || got[0].Kind != "hard_bounce" ||
		got[0].Source != "dsn" {
		t.Fatalf("recorded %+v; want one hard bounce of delivery 77", got)
	}
}

// TestListenerRelaying: the listener accepts mail for the bounce domain
// only, refusing any other at RCPT.
func TestListenerRelaying(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	addr := start(t, rec)
	for _, rcpt := range []string{"someone@example.org", "bounces+Hb4kP2-xQ9@example.com", "bounces+Hb4kP2-xQ9@bounces.example.com.evil.example",
		"bounces+Hb4kP2-xQ9@sub.bounces.example.com", "postmaster"} {
		if err := send(t, addr, rcpt, sample(t, "postfix_hard_user_unknown.eml")); code(err) != 550 {
			t.Errorf("RCPT %s: %v; want 550", rcpt, err)
		}
	}
	if rec.count() != 0 {
		t.Errorf("mail for another domain reached the applier")
	}
	if err := send(t, addr, "bounces+Hb4kP2-xQ9@BOUNCES.Example.COM", sample(t, "postfix_hard_user_unknown.eml")); err != nil {
		t.Errorf("the bounce domain in capitals: %v", err)
	}
}

// filler is n bytes of 78-byte lines.
func filler(n int) []byte { return []byte(strings.Repeat(strings.Repeat("x", 76)+"\r\n", n/78+1)) }

// TestListenerOversized: a message over MaxBytes is refused with a 552,
// whether the parser or the SMTP server notices first, and the listener
// keeps serving.
func TestListenerOversized(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	addr := start(t, rec) // MaxBytes 256 KiB
	for _, size := range []int{256<<10 + 1, 256<<10 + 32<<10, 256<<10 + 64<<10 + 1, 2 << 20} {
		msg := append(sample(t, "postfix_hard_user_unknown.eml"), filler(size)...)
		if err := send(t, addr, verp("Hb4kP2-xQ9"), msg); code(err) != 552 {
			t.Errorf("%d bytes: %v; want 552", len(msg), err)
		}
		if err := send(t, addr, verp("Ex1mDsN-42"), sample(t, "exim_dsn.eml")); err != nil {
			t.Fatalf("after %d bytes: %v", len(msg), err)
		}
	}
	if n := rec.count(); n != 4 {
		t.Errorf("%d reports; want only the 4 messages under the limit", n)
	}
	// Just under the limit is accepted.
	msg := sample(t, "postfix_hard_user_unknown.eml")
	msg = append(msg, filler(256<<10-len(msg)-200)...)
	if err := send(t, addr, verp("Hb4kP2-xQ9"), msg); err != nil {
		t.Errorf("%d bytes: %v", len(msg), err)
	}
}

// TestListenerMalformed sends what no MTA should: each is accepted (as
// nothing to act on) or refused with a 5xx, never with the 421 a panic
// gives, and the listener keeps serving.
func TestListenerMalformed(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	addr := start(t, rec)
	deep := "From: a@example.org\r\nMIME-Version: 1.0\r\n"
	for i := range 40 {
		deep += "Content-Type: multipart/mixed; boundary=\"b" + strings.Repeat("x", i) + "\"\r\n\r\n--b" + strings.Repeat("x", i) + "\r\n"
	}
	wide := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=P\r\n\r\n" +
		strings.Repeat("--P\r\nContent-Type: text/plain\r\n\r\nx\r\n", 500) + "--P--\r\n"
	for name, msg := range map[string]string{
		"empty":          "",
		"blank lines":    "\r\n\r\n",
		"no header":      "hello, this is not a message\r\n",
		"binary":         "\x00\x01\xff\xfe\x80 \x00\r\n\x1b[2J\r\n",
		"header only":    "From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail",
		"broken header":  "From MAILER-DAEMON\r\n: no name\r\n\r\nbody\r\n",
		"long line":      "From: a@example.org\r\n\r\n" + strings.Repeat("y", 5000) + "\r\n",
		"deep nesting":   deep,
		"many parts":     wide,
		"no boundary":    "From: a@example.org\r\nContent-Type: multipart/report; report-type=delivery-status\r\n\r\nStatus: 5.1.1\r\n",
		"bad base64":     "From: a@example.org\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--x--\r\n",
		"bad charset":    "From: a@example.org\r\nContent-Type: text/plain; charset=x-no-such\r\nSubject: =?x-no-such?B?////?=\r\n\r\n550 5.1.1 user unknown\r\n",
		"dsn no headers": "\r\nReporting-MTA: dns; x\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n",
	} {
		err := send(t, addr, verp("Trunc8"), []byte(msg))
		if c := code(err); err != nil && (c < 500 || c > 599) {
			t.Errorf("%s: %v; want acceptance or a 5xx", name, err)
		}
		if err := send(t, addr, verp("Ex1mDsN-42"), sample(t, "exim_dsn.eml")); err != nil || rec.last().Kind != "hard_bounce" {
			t.Fatalf("after %s: %v", name, err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.reports {
		if r.Kind != "hard_bounce" && r.Kind != "unknown" {
			t.Errorf("malformed mail became %+v", r)
		}
	}
}

// TestListenerBrokenSessions: protocol misuse and dropped connections
// leave the listener serving.
func TestListenerBrokenSessions(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	addr := start(t, rec)
	for name, script := range map[string]string{
		"data without rcpt":  "EHLO x\r\nMAIL FROM:<>\r\nDATA\r\n",
		"garbage commands":   "\x00\xff\r\nHELLO?\r\nRCPT\r\nMAIL\r\n\r\n",
		"long command":       "EHLO " + strings.Repeat("a", 5000) + "\r\n",
		"dropped in data":    "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<" + verp("Hb4kP2-xQ9") + ">\r\nDATA\r\nFrom: MAILER-DAEMON@example.org\r\n\r\nhalf a mess",
		"dropped after rcpt": "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<" + verp("Hb4kP2-xQ9") + ">\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(script)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_ = c.Close()
		if err := send(t, addr, verp("Ex1mDsN-42"), sample(t, "exim_dsn.eml")); err != nil {
			t.Fatalf("after %s: %v", name, err)
		}
	}
	if n := rec.count(); n != 5 {
		t.Errorf("%d reports; want only the 5 complete messages", n)
	}
}

// TestListenerSecondMessageOnConnection: every message of a connection is
// read with its own envelope recipient (senders' servers reuse
// connections), so a bounce never lands on another message's delivery.
func TestListenerSecondMessageOnConnection(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c, err := smtp.Dial(start(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []struct{ rcpt, file string }{
		{verp("first-tag"), "postfix_hard_user_unknown.eml"},
		{verp("second-tag"), "exim_dsn.eml"},
	} {
		if err := c.Mail(""); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(m.rcpt); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(sample(t, m.file)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.last(); got.Tag != "second-tag" {
		t.Errorf("second bounce on the connection has tag %q; want %q", got.Tag, "second-tag")
	}
}

// TestListenerRsetForgetsRecipients: RSET drops the recipients given
// before it.
func TestListenerRsetForgetsRecipients(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c, err := smtp.Dial(start(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(""); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(verp("abandoned")); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(""); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(verp("real-tag")); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(sample(t, "exim_dsn.eml")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(); got.Tag != "real-tag" {
		t.Errorf("after RSET the bounce has tag %q; want %q", got.Tag, "real-tag")
	}
}
