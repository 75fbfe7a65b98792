package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/render"
)

// loadContent reads the realistic campaign the send benchmark sends from
// testdata: a 2.7 KB HTML and a 1.5 KB text body, personalised with the
// contact's name and email and the preference and unsubscribe links, about
// 7 KB on the wire in rapport's layout. A short message flatters the rate
// by about a third (docs in /work/shared/MEASUREMENTS.md), so the figures
// are for what users send.
func loadContent(tb testing.TB) outreach.Content {
	tb.Helper()
	read := func(name string) string {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	return outreach.Content{Subject: strings.TrimSpace(read("realistic.subject.txt")),
		Text: read("realistic.txt.tmpl"), HTML: read("realistic.html.tmpl")}
}

// benchDKIM is the DKIM signing BENCH_DKIM asks for: "" (none), "rsa"
// (RSA-2048) or "ed25519" (RFC 8463). The key is made afresh for the run.
type benchDKIM struct {
	kind string
	key  crypto.Signer
	pem  []byte
}

func newBenchDKIM(tb testing.TB) *benchDKIM {
	kind := os.Getenv("BENCH_DKIM")
	var key crypto.Signer
	switch kind {
	case "":
		return nil
	case "rsa", "rsa2048":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		kind, key = "rsa2048", k
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		key = k
	default:
		tb.Fatalf("BENCH_DKIM=%q: want rsa or ed25519", kind)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return &benchDKIM{kind: kind, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
}

// signer is rapport's signer for the key (nil when not signing).
func (d *benchDKIM) signer(tb testing.TB) *mailer.DKIMSigner {
	if d == nil {
		return nil
	}
	s, err := mailer.NewDKIM("example.com", "bench", d.pem)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (d *benchDKIM) name() string {
	if d == nil {
		return "none"
	}
	return d.kind
}

// sendRaw is the ceiling: the same message, personalised per recipient the
// way rapport's is (To, Message-ID), built and sent with go-mail alone, as
// its documentation shows, over conns reused connections to the same sink
// from one goroutine each: no River, no database, no checks. With DKIM it
// signs as go-mail users do, rendering the message, signing it with
// go-msgauth and adding the field. It prints its CPU as phase and returns
// the elapsed time and the sender's CPU per message in µs.
func sendRaw(b *testing.B, phase string, s *sink, n, conns int, msg render.Message, unsub string, dk *benchDKIM) (time.Duration, float64) {
	ctx := context.Background()
	c, err := gomail.NewClient(s.host, gomail.WithPort(s.port), gomail.WithTLSPolicy(gomail.NoTLS),
		gomail.WithoutNoop(), gomail.WithoutRset())
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	goBefore, sinkBefore := selfCPU(), procCPU(s.cmd.Process.Pid)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc, err := c.DialToSMTPClientWithContext(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			defer func() { _ = c.CloseWithSMTPClient(sc) }()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
				if err := m.FromFormat("Bench Co", "news@example.com"); err != nil {
					b.Error(err)
					return
				}
				if err := m.AddToFormat("Contact "+strconv.Itoa(i), "raw"+strconv.Itoa(i)+"@example.com"); err != nil {
					b.Error(err)
					return
				}
				m.Subject(msg.Subject)
				m.SetMessageIDWithValue("raw." + strconv.Itoa(i) + "@example.com")
				m.SetDate()
				m.SetGenHeader("List-Unsubscribe", "<"+unsub+">")
				m.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
				m.SetGenHeader("Precedence", "bulk")
				m.SetBodyString(gomail.TypeTextPlain, msg.Text)
				m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
				if dk != nil {
					if err := rawSign(m, dk.key); err != nil {
						b.Error(err)
						return
					}
				}
				if err := c.SendWithSMTPClient(sc, m); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Errorf("raw blast: %d messages failed", f)
	}
	cpu := printCPU(phase, elapsed, n, selfCPU()-goBefore, 0, procCPU(s.cmd.Process.Pid)-sinkBefore)
	return elapsed, cpu
}

// rawSign signs a go-mail message as a go-mail user would: render it,
// sign the rendering with go-msgauth, add the field.
func rawSign(m *gomail.Msg, key crypto.Signer) error {
	var sb strings.Builder
	if _, err := m.WriteTo(&sb); err != nil {
		return err
	}
	ds, err := dkim.NewSigner(&dkim.SignOptions{Domain: "example.com", Selector: "bench", Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: mailer.SignedHeaders})
	if err != nil {
		return err
	}
	if _, err := ds.Write([]byte(sb.String())); err != nil {
		ds.Close()
		return err
	}
	if err := ds.Close(); err != nil {
		return err
	}
	m.SetGenHeaderPreformatted("DKIM-Signature", strings.TrimPrefix(strings.TrimSuffix(ds.Signature(), "\r\n"), "DKIM-Signature: "))
	return nil
}

// wireSize is the size of one message as rapport sends it, for the
// figures' header line.
func wireSize(b *testing.B, msg render.Message, unsub string, dk *mailer.DKIMSigner) int {
	env := &mailer.Envelope{From: benchFrom, To: "c0000001@example.com", ToName: "Contact 1",
		Subject: msg.Subject, Text: []byte(msg.Text), HTML: []byte(msg.HTML), MessageID: "rapport.1.1.bench@example.com", Date: time.Now(),
		Headers: map[string]string{"List-Unsubscribe": "<" + unsub + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Precedence": "bulk"}}
	var buf bytes.Buffer
	if err := mailer.Compose(&buf, env, dk); err != nil {
		b.Fatal(err)
	}
	return buf.Len()
}

// printRatio prints a/b as a ratio line, or nothing when b was not run.
func printRatio(name string, a, b float64) {
	if a > 0 && b > 0 {
		fmt.Printf("%s: %.2f ratio\n", name, a/b)
	}
}
