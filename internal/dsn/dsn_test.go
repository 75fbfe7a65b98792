package dsn

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func env(tag string) string { return "bounces+" + tag + "@bounces.example.com" }

// TestParseSamples classifies every stored sample, each as stored (LF) and
// with CRLF line endings, as an SMTP listener receives it.
func TestParseSamples(t *testing.T) {
	tests := []struct {
		file     string
		envelope string
		want     Report
		diag     string // substring of Diagnostic
		wantErr  error
	}{
		{file: "postfix_hard_user_unknown.eml", envelope: env("Hb4kP2-xQ9"), diag: "User unknown in virtual mailbox table",
			want: Report{Kind: HardBounce, Recipient: "jane.doe@example.org", Status: "5.1.1", RemoteMTA: "mx1.example.org", MessageID: "rapport.1234.56.k3x9@example.com", Tag: "Hb4kP2-xQ9"}},
		// Not VERP-addressed: the tag comes from the report itself.
		{file: "postfix_hard_user_unknown.eml", envelope: "postmaster@bounces.example.com",
			want: Report{Kind: HardBounce, Recipient: "jane.doe@example.org", Status: "5.1.1", RemoteMTA: "mx1.example.org", MessageID: "rapport.1234.56.k3x9@example.com", Tag: "Hb4kP2-xQ9"}},
		{file: "postfix_delayed.eml", envelope: env("Dl7mN3_aR1"), diag: "Connection timed out",
			want: Report{Kind: SoftBounce, Recipient: "john.smith@example.net", Status: "4.4.1", MessageID: "rapport.1235.56.q7m2@example.com", Tag: "Dl7mN3_aR1"}},
		// Exim reports Status 5.0.0; the remote server's 5.1.1 is in the diagnostic.
		{file: "exim_dsn.eml", envelope: env("Ex1mDsN-42"), diag: "550 5.1.1 <m.rossi@example.it>",
			want: Report{Kind: HardBounce, Recipient: "m.rossi@example.it", Status: "5.1.1", RemoteMTA: "mx.example.it", MessageID: "rapport.1236.56.z8w4@example.com", Tag: "Ex1mDsN-42"}},
		{file: "exim_plain_mail_delivery_failed.eml", envelope: env("Ex1mPl4in_7"), diag: "550 5.1.1 <k.weber@example.de>... User unknown",
			want: Report{Kind: HardBounce, Recipient: "k.weber@example.de", Status: "5.1.1", MessageID: "rapport.1237.56.p2v6@example.com", Tag: "Ex1mPl4in_7"}},
		{file: "gmail_dsn_failure.eml", envelope: env("Gm41l-Xk2w"), diag: "550-5.1.1 The email account that you tried to reach does not exist",
			want: Report{Kind: HardBounce, Recipient: "no.such.user@gmail.com", Status: "5.1.1", RemoteMTA: "gmail-smtp-in.l.google.com", MessageID: "rapport.1238.56.h5t1@example.com", Tag: "Gm41l-Xk2w"}},
		{file: "gmail_legacy_plain.eml", envelope: env("GmL3g_9aQ"), diag: "unnecessary spaces. Learn more at 550 5.1.1 http://support.google.com",
			want: Report{Kind: HardBounce, Recipient: "old.account@gmail.com", Status: "5.1.1", MessageID: "rapport.1239.56.w3e8@example.com", Tag: "GmL3g_9aQ"}},
		{file: "office365_recipient_not_found.eml", envelope: env("O365_rnF-1"), diag: "RESOLVER.ADR.RecipientNotFound",
			want: Report{Kind: HardBounce, Recipient: "jane.doe@contoso.com", Status: "5.1.10", MessageID: "rapport.1240.56.r9n2@example.com", Tag: "O365_rnF-1"}},
		// 5.2.2 (mailbox full) is permanent by its class, whatever it means.
		{file: "exchange_onprem_mailbox_full.eml", envelope: env("ExCh-Mbx22"), diag: "554 5.2.2 mailbox full",
			want: Report{Kind: HardBounce, Recipient: "john.smith@contoso.com", Status: "5.2.2", MessageID: "rapport.1241.56.c5d7@example.com", Tag: "ExCh-Mbx22"}},
		// Feedback loops send to a fixed address: the tag is in Original-Mail-From.
		{file: "yahoo_arf.eml", envelope: "fbl@bounces.example.com",
			want: Report{Kind: Complaint, Recipient: "jane.doe@yahoo.com", FeedbackType: "abuse", MessageID: "rapport.1243.57.y2k5@example.com", Tag: "Yh00-ArF_3"}},
		// JMRP without a feedback-report part: the tag is in the attached message's Return-Path.
		{file: "outlook_jmrp.eml", envelope: "fbl@bounces.example.com",
			want: Report{Kind: Complaint, Recipient: "alex.jones@hotmail.com", FeedbackType: "abuse", MessageID: "rapport.1244.57.j6m8@example.com", Tag: "JmRp_n0Arf"}},
		{file: "outlook_jmrp_arf.eml", envelope: "fbl@bounces.example.com",
			want: Report{Kind: Complaint, Recipient: "sam.taylor@outlook.com", FeedbackType: "abuse", MessageID: "rapport.1245.57.t3q9@example.com", Tag: "JmRp-ArF5"}},
		{file: "autoreply_out_of_office.eml", envelope: env("Ooo_En1"),
			want: Report{Kind: AutoReply, Recipient: "priya.natarajan@contoso.com", MessageID: "rapport.1246.58.o0o1@example.com", Tag: "Ooo_En1"}},
		{file: "autoreply_abwesenheitsnotiz.eml", envelope: env("Abw3s-De"),
			want: Report{Kind: AutoReply, Recipient: "joerg.mueller@example.de", MessageID: "rapport.1247.58.d4e5@example.com", Tag: "Abw3s-De"}},
		{file: "sendmail_multi_recipient.eml", envelope: env("MuLt1-rcpt"), diag: "User unknown",
			want: Report{Kind: HardBounce, Recipient: "c.bianchi@example.net", Status: "5.1.1", RemoteMTA: "mx.example.net", MessageID: "rapport.1248.59.m4r2@example.com", Tag: "MuLt1-rcpt"}},
		// Action: failed with a class 4 status (given up on a full mailbox) is soft.
		{file: "encoded_base64_dsn.eml", envelope: env("Enc64_B-x"), diag: "Postfach voll / mailbox full",
			want: Report{Kind: SoftBounce, Recipient: "m.mueller@example.de", Status: "4.2.2", RemoteMTA: "mailstore.example.de", MessageID: "rapport.1249.59.b6e3@example.com", Tag: "Enc64_B-x"}},
		{file: "qmail_failure_notice.eml", envelope: env("Qm41l-fN"), diag: "Recipient address rejected: User unknown in relay recipient table",
			want: Report{Kind: HardBounce, Recipient: "t.nguyen@example.com.au", Status: "5.1.1", MessageID: "rapport.1250.59.q1m4@example.com", Tag: "Qm41l-fN"}},
		{file: "truncated_mime.eml", envelope: env("Trunc8"), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		variants := map[string][]byte{"lf": raw, "crlf": bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))}
		for name, b := range variants {
			t.Run(tt.file+"/"+tt.envelope+"/"+name, func(t *testing.T) {
				got, err := Parse(bytes.NewReader(b), tt.envelope, Options{})
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				checkReport(t, got)
				if got.Kind != tt.want.Kind || got.Recipient != tt.want.Recipient || got.Status != tt.want.Status ||
					got.MessageID != tt.want.MessageID || got.FeedbackType != tt.want.FeedbackType || got.Tag != tt.want.Tag {
					t.Errorf("got  %+v\nwant %+v", brief(got), brief(tt.want))
				}
				if tt.want.RemoteMTA != "" && got.RemoteMTA != tt.want.RemoteMTA {
					t.Errorf("RemoteMTA = %q, want %q", got.RemoteMTA, tt.want.RemoteMTA)
				}
				if !strings.Contains(got.Diagnostic, tt.diag) {
					t.Errorf("Diagnostic = %q, want it to contain %q", got.Diagnostic, tt.diag)
				}
			})
		}
	}
}

// brief is r without Recipients and Diagnostic, for readable failures.
func brief(r Report) Report {
	r.Recipients, r.Diagnostic = nil, ""
	return r
}

func TestParseSeveralRecipients(t *testing.T) {
	rep := parseFile(t, "sendmail_multi_recipient.eml")
	want := []RecipientStatus{
		{Kind: Unknown, Recipient: "a.romano@example.net", Action: "relayed", Status: "2.0.0"},
		{Kind: SoftBounce, Recipient: "b.conti@example.net", Action: "delayed", Status: "4.2.2"},
		{Kind: HardBounce, Recipient: "c.bianchi@example.net", Action: "failed", Status: "5.1.1"},
		{Kind: HardBounce, Recipient: "d.ferrari@example.net", Action: "failed", Status: "5.2.1"},
	}
	if len(rep.Recipients) != len(want) {
		t.Fatalf("got %d recipients, want %d: %+v", len(rep.Recipients), len(want), rep.Recipients)
	}
	for i, w := range want {
		g := rep.Recipients[i]
		if g.Kind != w.Kind || g.Recipient != w.Recipient || g.Action != w.Action || g.Status != w.Status || g.RemoteMTA != "mx.example.net" {
			t.Errorf("recipient %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestParseTagSources finds the VERP tag in what a report quotes when the
// envelope recipient carries none.
func TestParseTagSources(t *testing.T) {
	raw := readFile(t, "postfix_hard_user_unknown.eml")
	noTo := strings.Replace(raw, "To: bounces+Hb4kP2-xQ9@bounces.example.com\n", "To: postmaster@bounces.example.com\n", 1)
	tests := map[string]string{
		"To header":        raw,
		"X-Postfix-Sender": noTo,
		"X-Original-To":    "X-Original-To: bounces+XoT-1@bounces.example.com\n" + noTo,
		"Delivered-To":     "Delivered-To: Bounces+DlT_2@bounces.example.com\n" + noTo,
	}
	want := map[string]string{"To header": "Hb4kP2-xQ9", "X-Postfix-Sender": "Hb4kP2-xQ9", "X-Original-To": "XoT-1", "Delivered-To": "DlT_2"}
	for name, msg := range tests {
		rep, err := Parse(strings.NewReader(msg), "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tag != want[name] {
			t.Errorf("%s: Tag = %q, want %q", name, rep.Tag, want[name])
		}
	}
	// A different prefix finds nothing.
	if rep, _ := Parse(strings.NewReader(raw), env("Hb4kP2-xQ9"), Options{VERPPrefix: "returns"}); rep.Tag != "" {
		t.Errorf("Tag with prefix returns = %q, want none", rep.Tag)
	}
}

// TestParseEvidence covers messages that look like bounces or complaints
// but carry no evidence, and bounces that look like auto-replies.
func TestParseEvidence(t *testing.T) {
	const dsnHead = "From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n" +
		"--B\nContent-Type: text/plain\n\nThe mail system\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.example.com\n\n"
	tests := []struct {
		name string
		msg  string
		want Report
	}{
		{"delivered", dsnHead + "Final-Recipient: rfc822; a@example.org\nAction: delivered\nStatus: 2.0.0\n\n--B--\n",
			Report{Kind: Unknown, Recipient: "a@example.org", Status: "2.0.0"}},
		{"relayed with 5xx diagnostic", dsnHead + "Final-Recipient: rfc822; a@example.org\nAction: relayed\nStatus: 5.1.1\n\n--B--\n",
			Report{Kind: Unknown, Recipient: "a@example.org", Status: "5.1.1"}},
		{"failed without any code", dsnHead + "Final-Recipient: rfc822; a@example.org\nAction: failed\nDiagnostic-Code: X-Local; it did not work\n\n--B--\n",
			Report{Kind: Unknown, Recipient: "a@example.org"}},
		{"failed, code only in diagnostic", dsnHead + "Final-Recipient: rfc822; a@example.org\nAction: failed\nDiagnostic-Code: smtp; 550 no such user\n\n--B--\n",
			Report{Kind: HardBounce, Recipient: "a@example.org", Status: "5.0.0"}},
		{"original-recipient preferred", dsnHead + "Original-Recipient: rfc822;Sales@Example.org\nFinal-Recipient: rfc822; s.lee@mail.example.org\nAction: failed\nStatus: 5.2.1\n\n--B--\n",
			Report{Kind: HardBounce, Recipient: "sales@example.org", Status: "5.2.1"}},
		{"no blank line between recipients", dsnHead + "Final-Recipient: rfc822; a@example.org\nAction: delivered\nStatus: 2.0.0\nFinal-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.1.1\n\n--B--\n",
			Report{Kind: HardBounce, Recipient: "b@example.org", Status: "5.1.1"}},
		{"DSN labelled text/plain", "From: MAILER-DAEMON@mail.example.com\nSubject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nSorry.\n\n--B\nContent-Type: text/plain\n\n" +
			"Reporting-MTA: dns; mail.example.com\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n--B--\n",
			Report{Kind: HardBounce, Recipient: "a@example.org", Status: "5.1.1"}},
		{"DSN with auto-reply headers and subject", strings.Replace(dsnHead, "Subject: Undelivered Mail Returned to Sender", "Subject: Automatic reply: Out of Office\nX-Autoreply: yes\nPrecedence: auto_reply", 1) +
			"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n--B--\n",
			Report{Kind: HardBounce, Recipient: "a@example.org", Status: "5.1.1"}},
		{"daemon bounce without a code", "From: Mail Delivery System <MAILER-DAEMON@mail.example.com>\nSubject: Mail delivery failed: returning message to sender\nAuto-Submitted: auto-replied\n\n" +
			"A message that you sent could not be delivered to one or more of its\nrecipients. The following address(es) failed:\n\n  a@example.org\n    retry timeout exceeded\n",
			Report{Kind: Unknown, Recipient: "a@example.org"}},
		{"code only in the returned copy", "From: Mail Delivery System <MAILER-DAEMON@mail.example.com>\nSubject: Mail delivery failed: returning message to sender\n\n" +
			"The following address(es) failed:\n\n  a@example.org\n    retry timeout exceeded\n\n" +
			"------ This is a copy of the message, including all the headers. ------\n\nSubject: Our 4.2.1 release\n\nSee the 550 5.1.1 changelog.\n",
			Report{Kind: Unknown, Recipient: "a@example.org"}},
		{"plain soft bounce", "From: postmaster@mail.example.com\nSubject: Warning: could not send message for past 4 hours\n\n" +
			"<a@example.org>: host mx.example.org[192.0.2.1] said: 451 4.7.1 Greylisted, try\n    again later (in reply to RCPT TO command)\n",
			Report{Kind: SoftBounce, Recipient: "a@example.org", Status: "4.7.1"}},
		{"bare reply code", "From: MAILER-DAEMON@mail.example.com\nSubject: failure notice\n\n<a@example.org>:\nRemote host said: 554 delivery error: dd This user doesn't have an account\n",
			Report{Kind: HardBounce, Recipient: "a@example.org", Status: "5.0.0"}},
		{"IP address is not a code", "From: MAILER-DAEMON@mail.example.com\nSubject: failure notice\n\n<a@example.org>:\nConnected to 5.1.1.2 but sender was rejected.\n",
			Report{Kind: Unknown, Recipient: "a@example.org"}},
		{"forwarded bounce is not evidence", "From: Jane <jane@example.org>\nSubject: Fwd: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=\"F\"\n\n--F\nContent-Type: text/plain\n\nWhy did I get this?\n\n--F\nContent-Type: message/rfc822\n\n" +
			"From: MAILER-DAEMON@mail.example.com\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.1.1\n\n--B--\n\n--F--\n",
			Report{Kind: Unknown}},
		{"human reply", "From: Jane <jane@example.org>\nSubject: Re: Spring sale\nIn-Reply-To: <rapport.9.1.aa@example.com>\n\nPlease call me about order 550.\n",
			Report{Kind: Unknown, MessageID: "rapport.9.1.aa@example.com"}},
		{"auto-reply by header", "From: Jane <Jane@Example.org>\nSubject: Re: Spring sale\nAuto-Submitted: auto-replied (vacation)\nReferences: <a@x> <rapport.9.1.bb@example.com>\n\nAway.\n",
			Report{Kind: AutoReply, Recipient: "jane@example.org", MessageID: "rapport.9.1.bb@example.com"}},
		{"Auto-Submitted: no", "From: jane@example.org\nSubject: Re: Spring sale\nAuto-Submitted: no\n\nHi.\n",
			Report{Kind: Unknown}},
		{"X-Autorespond", "From: jane@example.org\nSubject: Re: Spring sale\nX-Autorespond: Thanks\n\nHi.\n",
			Report{Kind: AutoReply, Recipient: "jane@example.org"}},
		{"ARF not-spam", "From: fbl@isp.example\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\n\n" +
			"--A\nContent-Type: message/feedback-report\n\nFeedback-Type: not-spam\nOriginal-Rcpt-To: <A@Example.org>\n\n--A--\n",
			Report{Kind: Unknown, Recipient: "a@example.org", FeedbackType: "not-spam"}},
		{"ARF relabelled text/plain", "From: fbl@isp.example\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\n\n" +
			"--A\nContent-Type: text/plain\n\nA report.\n\n--A\nContent-Type: text/plain\n\nFeedback-Type: fraud\nVersion: 1\nOriginal-Rcpt-To: a@example.org\n\n--A--\n",
			Report{Kind: Complaint, Recipient: "a@example.org", FeedbackType: "fraud"}},
		{"JMRP subject without the message", "From: staff@hotmail.com\nSubject: complaint about message from 198.51.100.10\n\nNothing attached.\n",
			Report{Kind: Unknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.msg), "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, got)
			if got.Kind != tt.want.Kind || got.Recipient != tt.want.Recipient || got.Status != tt.want.Status ||
				got.MessageID != tt.want.MessageID || got.FeedbackType != tt.want.FeedbackType {
				t.Errorf("got  %+v\nwant %+v", brief(got), brief(tt.want))
			}
		})
	}
}

// nested is a message of levels nested multiparts around one text part.
func nested(levels int) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\nMIME-Version: 1.0\n")
	for i := range levels {
		b.WriteString("Content-Type: multipart/mixed; boundary=\"b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\"\n\n")
		b.WriteString("--b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "\n")
	}
	b.WriteString("Content-Type: text/plain\n\nhi\n")
	for i := levels - 1; i >= 0; i-- {
		b.WriteString("--b" + string(rune('a'+i%26)) + strings.Repeat("x", i) + "--\n")
	}
	return b.String()
}

// manyParts is a multipart/mixed message with n text parts.
func manyParts(n int) string {
	var b strings.Builder
	b.WriteString("From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"P\"\n\n")
	for range n {
		b.WriteString("--P\nContent-Type: text/plain\n\nx\n")
	}
	b.WriteString("--P--\n")
	return b.String()
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		opts Options
		want error
	}{
		{"empty", "", Options{}, ErrMalformed},
		{"blank lines", "\r\n\r\n\n", Options{}, ErrMalformed},
		{"no header", "hello world, this is not a message\n", Options{}, ErrMalformed},
		{"body without header", "\nhello\n", Options{}, ErrMalformed},
		{"continuation first", " folded: value\n\nbody\n", Options{}, ErrMalformed},
		{"binary garbage", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe", Options{}, ErrMalformed},
		{"NUL in header", "From: a@example.org\nSubject: a\x00b\n\nbody\n", Options{}, ErrMalformed},
		{"multipart without boundary", "From: a@example.org\nContent-Type: multipart/report; report-type=delivery-status\n\nbody\n", Options{}, ErrMalformed},
		{"boundary never appears", "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--Y\nContent-Type: text/plain\n\nhi\n--Y--\n", Options{}, ErrMalformed},
		{"no closing boundary", "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--X\nContent-Type: text/plain\n\nhi\n", Options{}, ErrMalformed},
		{"broken nested boundary", "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--X\nContent-Type: multipart/alternative; boundary=\"Y\"\n\n--Y\n\nhi\n--X--\n", Options{}, ErrMalformed},
		{"unparsable multipart type", "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"X\n\n--X--\n", Options{}, ErrMalformed},
		{"too many parts", manyParts(DefaultMaxParts), Options{}, ErrTooComplex},
		{"too many parts, own limit", manyParts(5), Options{MaxParts: 5}, ErrTooComplex},
		{"too deep", nested(DefaultMaxDepth + 1), Options{}, ErrTooComplex},
		{"much too deep", nested(500), Options{MaxParts: 10000}, ErrTooComplex},
		{"too deep, own limit", nested(4), Options{MaxDepth: 3}, ErrTooComplex},
		{"too large", "From: a@example.org\n\n" + strings.Repeat("x", 100), Options{MaxBytes: 100}, ErrTooLarge},
		{"huge malformed line", strings.Repeat("0", 1<<20), Options{}, ErrMalformed},
		{"huge malformed part header", "From: a@example.org\nContent-Type: multipart/mixed; boundary=\"X\"\n\n--X\n" + strings.Repeat("0", 1<<20) + "\n\nhi\n--X--\n", Options{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tt.msg), "", tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error message is %d bytes long: %.100q...", len(err.Error()), err)
			}
			if rep.Kind != Unknown || rep.Recipient != "" || rep.Recipients != nil {
				t.Errorf("report on error = %+v, want zero", rep)
			}
		})
	}
}

// TestParseWithinLimits is the other side of TestParseErrors: exactly at
// each limit is fine.
func TestParseWithinLimits(t *testing.T) {
	msg := "From: a@example.org\n\n" + strings.Repeat("x", 79)
	tests := []struct {
		name string
		msg  string
		opts Options
	}{
		{"MaxBytes", msg, Options{MaxBytes: int64(len(msg))}},
		{"MaxParts", manyParts(DefaultMaxParts - 1), Options{}},
		{"MaxDepth", nested(DefaultMaxDepth), Options{}},
		{"own MaxDepth", nested(3), Options{MaxDepth: 3}},
		{"mbox From line", "From a@example.org Tue Mar  3 10:11:13 2026\n" + msg, Options{}},
		{"header only", "From: a@example.org\nSubject: hi", Options{}},
		{"missing Content-Type params", "From: a@example.org\nContent-Type: text/plain; charset\n\nhi\n", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tt.msg), "", tt.opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// endless is an endless message: a header, then body bytes forever. It
// counts what is read from it.
type endless struct {
	header string
	n      int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		if int(e.n)+i < len(e.header) {
			p[i] = e.header[int(e.n)+i]
		} else {
			p[i] = 'A'
		}
	}
	e.n += int64(len(p))
	return len(p), nil
}

// TestParseHugeMessage feeds an endless message: Parse must stop reading at
// MaxBytes+1 and say so, not buffer everything first.
func TestParseHugeMessage(t *testing.T) {
	for _, max := range []int64{0, 1 << 20} {
		r := &endless{header: "From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\n"}
		_, err := Parse(r, "", Options{MaxBytes: max})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("MaxBytes %d: err = %v, want ErrTooLarge", max, err)
		}
		limit := max
		if limit == 0 {
			limit = DefaultMaxBytes
		}
		if r.n > limit+1 {
			t.Errorf("MaxBytes %d: read %d bytes, want at most %d", max, r.n, limit+1)
		}
	}
}

type failingReader struct{}

var errDisk = errors.New("disk on fire")

func (failingReader) Read([]byte) (int, error) { return 0, errDisk }

func TestParseReadError(t *testing.T) {
	_, err := Parse(failingReader{}, "", Options{})
	if !errors.Is(err, errDisk) || errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want the reader's error, not a sentinel", err)
	}
}

// TestParseEncodings: invalid UTF-8, raw 8-bit headers, Latin-1 and
// Windows-1252 bodies all come out as valid UTF-8, and long diagnostics are
// cut on a rune boundary.
func TestParseEncodings(t *testing.T) {
	long := strings.Repeat("Größe überschritten ", 60)
	msg := "From: =?windows-1252?Q?Mail_Syst=E8me?= <MAILER-DAEMON@mail.example.com>\n" +
		"Subject: Unzustellbar: Gr\xf6\xdfe \xff\xfe\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n" +
		"--B\nContent-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n=93Nicht zustellbar=94 =80 \xc3\x28\n\n" +
		"--B\nContent-Type: message/delivery-status\n\n" +
		"Final-Recipient: rfc822; \xe4rger@example.org\nAction: failed\nStatus: 5.2.3\nRemote-MTA: dns; mx.\xff.example\n" +
		"Diagnostic-Code: smtp; 552 5.2.3 " + long + "\xe2\x82\n\n--B--\n"
	rep, err := Parse(strings.NewReader(msg), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep)
	if rep.Kind != HardBounce || rep.Status != "5.2.3" {
		t.Errorf("got %+v, want a 5.2.3 hard bounce", brief(rep))
	}
	if len(rep.Diagnostic) > 500 || len(rep.Diagnostic) < 450 || !strings.HasPrefix(rep.Diagnostic, "smtp; 552 5.2.3 Größe") {
		t.Errorf("Diagnostic (%d bytes) = %q", len(rep.Diagnostic), rep.Diagnostic)
	}

	if got := decodeCharset([]byte("\x93x\x94 \x80 \xe9"), "windows-1252"); got != "“x” € é" {
		t.Errorf("windows-1252: %q", got)
	}
	if got := decodeCharset([]byte("\xa4 \xe9"), "ISO-8859-15"); got != "€ é" {
		t.Errorf("iso-8859-15: %q", got)
	}
	if got := decodeHeader("=?koi8-r?B?8NLJ18XU?= =?utf-8?Q?caf=C3=A9?="); !utf8.ValidString(got) || !strings.HasSuffix(got, "café") {
		t.Errorf("unknown charset word: %q", got)
	}
}

// TestParseConcurrent parses every sample at once, for the race detector:
// Parse shares only immutable package state.
func TestParseConcurrent(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Report{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		want[f], _ = Parse(bytes.NewReader(b), "", Options{})
	}
	errs := make(chan string, 4*len(files))
	var wg sync.WaitGroup
	for range 4 {
		for _, f := range files {
			wg.Go(func() {
				b, _ := os.ReadFile(f)
				if got, _ := Parse(bytes.NewReader(b), "", Options{}); !reflect.DeepEqual(got, want[f]) {
					errs <- f
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for f := range errs {
		t.Errorf("%s: concurrent parse differs", f)
	}
}

func TestVERPTag(t *testing.T) {
	tests := []struct {
		addr, prefix, tag string
		ok                bool
	}{
		{"bounces+abc@b.example.com", "bounces", "abc", true},
		{"<bounces+AbC-_09@b.example.com>", "bounces", "AbC-_09", true},
		{" Bounces+Tag@B.example.com ", "bounces", "Tag", true},
		{"bounces+abc@b.example.com", "BOUNCES", "abc", true},
		{"returns+abc@b.example.com", "returns", "abc", true},
		{"bounces+a+b@b.example.com", "bounces", "", false},
		{"bounces+jane=example.org@b.example.com", "bounces", "", false},
		{"bounces+a.b@b.example.com", "bounces", "", false},
		{"bounces+@b.example.com", "bounces", "", false},
		{"bounces@b.example.com", "bounces", "", false},
		{"bouncesx+abc@b.example.com", "bounces", "", false},
		{"xbounces+abc@b.example.com", "bounces", "", false},
		{"bounces+abc@", "bounces", "", false},
		{"bounces+abc", "bounces", "", false},
		{"+abc@b.example.com", "", "", false},
		{"bounces+abc@b.example.com", "", "", false},
		{"bounces+" + strings.Repeat("a", 65) + "@b.example.com", "bounces", "", false},
		{"bounces+abc@b@example.com", "bounces", "", false},
		{"", "bounces", "", false},
	}
	for _, tt := range tests {
		tag, ok := VERPTag(tt.addr, tt.prefix)
		if tag != tt.tag || ok != tt.ok {
			t.Errorf("VERPTag(%q, %q) = %q, %v; want %q, %v", tt.addr, tt.prefix, tag, ok, tt.tag, tt.ok)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, s := range map[Kind]string{Unknown: "unknown", HardBounce: "hard_bounce", SoftBounce: "soft_bounce", Complaint: "complaint", AutoReply: "auto_reply", Kind(42): "unknown"} {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), s)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseFile(t *testing.T, name string) Report {
	t.Helper()
	rep, err := Parse(strings.NewReader(readFile(t, name)), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkReport asserts what every Report promises, whatever the input: the
// fuzz test relies on it.
func checkReport(t *testing.T, r Report) {
	t.Helper()
	if r.Kind < Unknown || r.Kind > AutoReply {
		t.Errorf("Kind %d out of range", r.Kind)
	}
	strs := map[string]string{"Recipient": r.Recipient, "Status": r.Status, "Diagnostic": r.Diagnostic, "RemoteMTA": r.RemoteMTA,
		"MessageID": r.MessageID, "FeedbackType": r.FeedbackType, "Tag": r.Tag}
	for i, rs := range r.Recipients {
		for k, v := range map[string]string{"Recipient": rs.Recipient, "Action": rs.Action, "Status": rs.Status, "Diagnostic": rs.Diagnostic, "RemoteMTA": rs.RemoteMTA} {
			strs["Recipients["+string(rune('0'+i%10))+"]."+k] = v
		}
		checkKindStatus(t, rs.Kind, rs.Status)
	}
	for name, s := range strs {
		if !utf8.ValidString(s) {
			t.Errorf("%s %q is not valid UTF-8", name, s)
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			t.Errorf("%s %q has control characters", name, s)
		}
		if len(s) > 500 {
			t.Errorf("%s is %d bytes long", name, len(s))
		}
	}
	if r.Recipient != strings.ToLower(r.Recipient) {
		t.Errorf("Recipient %q is not lower-case", r.Recipient)
	}
	if r.Tag != "" {
		if _, ok := VERPTag("x+"+r.Tag+"@example.com", "x"); !ok {
			t.Errorf("Tag %q is not a VERP tag", r.Tag)
		}
	}
	checkKindStatus(t, r.Kind, r.Status)
}

// checkKindStatus: a bounce always has the evidence of a 4 or 5 status.
func checkKindStatus(t *testing.T, k Kind, status string) {
	t.Helper()
	if status != "" && statusCode(status) != status {
		t.Errorf("Status %q is not an RFC 3463 code", status)
	}
	switch {
	case k == HardBounce && !strings.HasPrefix(status, "5."):
		t.Errorf("hard bounce with status %q", status)
	case k == SoftBounce && !strings.HasPrefix(status, "4.") && !strings.HasPrefix(status, "5."):
		t.Errorf("soft bounce with status %q", status)
	}
}
