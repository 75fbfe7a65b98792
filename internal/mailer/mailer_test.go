package mailer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/mailer/smtptest"
)

func envelope(to string) *Envelope {
	return &Envelope{
		From: &mail.Address{Name: "Rapport", Address: "news@example.com"}, To: to, ToName: "Ada",
		Subject: "Hello Ada", Text: []byte("Hello\n"), HTML: []byte("<p>Hello</p>"), MessageID: "rapport.1.2@example.com",
		Headers: map[string]string{"List-Unsubscribe": "<https://mail.example.com/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Id": "offers <offers.example.com>", "Feedback-ID": "7:offers:rapport"},
		Date: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
}

// TestDKIMVerifiesIndependently signs and verifies with emersion/go-msgauth's
// verifier, over what the outbox writes and what an SMTP server receives,
// with RSA and Ed25519 keys, and checks the signature covers the headers
// RFC 8058 and Gmail need signed.
func TestDKIMVerifiesIndependently(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	require.NoError(t, err)
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	for _, k := range []struct {
		name, record string
		pem          []byte
	}{
		{"rsa", "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub),
			pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		{"ed25519", "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})},
	} {
		t.Run(k.name, func(t *testing.T) {
			signer, err := NewDKIM("example.com", "rapport", k.pem)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, Compose(&buf, envelope("ada@example.org"), signer))
			verifyDKIM(t, buf.Bytes(), k.record)
			require.Contains(t, buf.String(), "; t="+strconv.FormatInt(envelope("").Date.Unix(), 10)+";",
				"t= is the message's Date, from the injected clock")

			// Through a real SMTP server: the message is rendered again
			// on the wire, and must still verify.
			srv := smtptest.Start(t)
			p := NewPool(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: "none", PoolSize: 1, Timeout: 5 * time.Second}, signer)
			defer p.Close()
			s, err := p.Session(context.Background())
			require.NoError(t, err)
			r := s.Send(context.Background(), envelope("ada@example.org"))
			s.Close()
			require.Equal(t, Accepted, r.Outcome, r.Detail)
			got := srv.Wait(1, 5*time.Second)
			require.Len(t, got, 1)
			verifyDKIM(t, got[0].Raw, k.record)

			for _, change := range [][2]string{{"/u/tok", "/u/evil"}, {"offers.example.com", "other.example.com"},
				{"7:offers:rapport", "8:offers:rapport"}} {
				tampered := bytes.Replace(buf.Bytes(), []byte(change[0]), []byte(change[1]), 1)
				require.NotEqual(t, buf.Bytes(), tampered)
				verifs, err := dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{
					LookupTXT: func(string) ([]string, error) { return []string{k.record}, nil },
				})
				require.NoError(t, err)
				require.Error(t, verifs[0].Err, "changing %q breaks the signature", change[0])
			}
		})
	}
}

func verifyDKIM(t *testing.T, msg []byte, record string) {
	t.Helper()
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "rapport._domainkey.example.com" {
				return nil, errors.New("no such record")
			}
			return []string{record}, nil
		},
	})
	require.NoError(t, err)
	require.Len(t, verifs, 1)
	require.NoError(t, verifs[0].Err)
	require.Equal(t, "example.com", verifs[0].Domain)
	signed := map[string]bool{}
	for _, h := range verifs[0].HeaderKeys {
		signed[strings.ToLower(h)] = true
	}
	for _, h := range []string{"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post",
		"list-id", "feedback-id"} {
		require.True(t, signed[h], "DKIM signature must cover %s; covers %v", h, verifs[0].HeaderKeys)
	}
}

func TestPoolSendsAndClassifies(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.SetRcpt(func(to string) error {
		switch {
		case strings.HasPrefix(to, "gone@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(to, "later@"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "rate limited, slow down"}
		}
		return nil
	})
	p := NewPool(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: "none", PoolSize: 2, Timeout: 5 * time.Second}, nil)
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	ok := s.Send(context.Background(), envelope("ok@example.org"))
	require.Equal(t, Accepted, ok.Outcome, ok.Detail)
	gone := s.Send(context.Background(), envelope("gone@example.org"))
	require.Equal(t, PermFail, gone.Outcome)
	require.Equal(t, 550, gone.Code)
	later := s.Send(context.Background(), envelope("later@example.org"))
	require.Equal(t, TempFail, later.Outcome)
	require.True(t, later.SlowDown())
	again := s.Send(context.Background(), envelope("ok2@example.org"))
	require.Equal(t, Accepted, again.Outcome, "the connection survives refused recipients")
	s.Close()
	require.Len(t, srv.Messages(), 2)
	msg := srv.Messages()[0].Parsed(t)
	require.Equal(t, "<rapport.1.2@example.com>", msg.Header.Get("Message-Id"))

	// A server that is gone is a temporary failure, not a lost message.
	bad := NewPool(SMTPConfig{Host: "127.0.0.1", Port: 1, TLS: "none", PoolSize: 1, Timeout: time.Second}, nil)
	_, err = bad.Session(context.Background())
	require.Error(t, err)
}

func TestOutboxWritesEML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := NewOutbox(dir, nil)
	require.NoError(t, err)
	s, _ := o.Session(context.Background())
	res := s.Send(context.Background(), envelope("ada@example.org"))
	require.Equal(t, Accepted, res.Outcome)
	raw, err := os.ReadFile(filepath.Join(dir, "rapport.1.2@example.com.eml"))
	require.NoError(t, err)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, "Hello Ada", msg.Header.Get("Subject"))
	require.Equal(t, "List-Unsubscribe=One-Click", msg.Header.Get("List-Unsubscribe-Post"))
	require.Contains(t, msg.Header.Get("Content-Type"), "multipart/alternative")
}

// TestUnbuildableMessageIsLocalFailure: a message that cannot be built (a
// line break in the recipient's name) is a failure of ours, never a 5xx
// that would suppress the address; nothing reaches the server, and the
// connection goes on with the next message.
func TestUnbuildableMessageIsLocalFailure(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	p := NewPool(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: "none", PoolSize: 1, Timeout: 5 * time.Second}, nil)
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	bad := envelope("ada@example.org")
	bad.ToName = "Ada\r\nBcc: evil@example.org"
	res := s.Send(context.Background(), bad)
	require.Equal(t, LocalFail, res.Outcome, res.Detail)
	require.False(t, res.Unsent, "not a connection fault: retrying would fail the same way")
	require.Zero(t, res.Code)
	ok := s.Send(context.Background(), envelope("bob@example.org"))
	require.Equal(t, Accepted, ok.Outcome, ok.Detail)
	s.Close()
	require.Len(t, srv.Messages(), 1)

	o, err := NewOutbox(t.TempDir(), nil)
	require.NoError(t, err)
	os, _ := o.Session(context.Background())
	require.Equal(t, LocalFail, os.Send(context.Background(), bad).Outcome)
}

// TestDKIMVerifiesAwkwardMessages: the signer's own canonicalization
// agrees with go-msgauth's verifier where relaxed canonicalization does
// work: runs of spaces and tabs, blank lines ending a part, long and
// folded headers, non-ASCII subjects and names.
func TestDKIMVerifiesAwkwardMessages(t *testing.T) {
	t.Parallel()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	require.NoError(t, err)
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edKey.Public().(ed25519.PublicKey))
	signer, err := NewDKIM("example.com", "rapport", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}))
	require.NoError(t, err)
	for _, change := range []func(e *Envelope){
		func(e *Envelope) {},
		func(e *Envelope) { e.Text = []byte("a  b\t\tc \t d\n\n\n\n"); e.HTML = []byte("<p>x    y</p>\n\n\n") },
		func(e *Envelope) { e.Text = []byte("\n\n"); e.HTML = []byte(" ") },
		func(e *Envelope) {
			e.Subject = "Grüße für Ada — " + strings.Repeat("ein langer Betreff ", 12)
			e.ToName = "Ådá   Lövelace"
		},
		func(e *Envelope) {
			e.Headers["List-Id"] = strings.Repeat("long list name ", 10) + "<offers.example.com>"
		},
	} {
		e := envelope("ada@example.org")
		change(e)
		var buf bytes.Buffer
		require.NoError(t, Compose(&buf, e, signer))
		verifyDKIM(t, buf.Bytes(), record)
	}
}
