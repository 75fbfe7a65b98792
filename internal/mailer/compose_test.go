package mailer

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestComposeRoundTrips: what Compose writes reads back, with the standard
// library's own parsers, as the envelope it was written from, for bodies
// with what quoted-printable must take care of (long lines, '=', trailing
// white space, lines starting with a dot, CRLF and LF, UTF-8, a lone CR).
func TestComposeRoundTrips(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("0123456789 ", 30)
	for _, body := range []string{
		"Hello\n",
		"no final line break",
		long + "\n" + strings.Repeat("x", 200) + "\n",
		"a=b ==\n trailing space \ntrailing tab\t\n.\n..dots\n.\r\nend",
		"Grüße, Ådá — “quoted” 😀\r\nzweite Zeile\r\n",
		"lone\rcarriage return\n",
		strings.Repeat("é", 100),
	} {
		e := envelope("ada@example.org")
		e.Text, e.HTML = []byte(body), []byte("<p>"+body+"</p>")
		e.Subject = "Grüße für Ada, " + long
		e.ToName = "Ådá Lövelace"
		var buf bytes.Buffer
		require.NoError(t, Compose(&buf, e, nil))
		raw := buf.Bytes()
		for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
			require.LessOrEqual(t, len(line), 998, "no line over RFC 5322's limit")
			require.NotContains(t, line, "\r", "CRLF only")
			require.NotContains(t, line, "\n", "CRLF only")
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		require.NoError(t, err)
		dec := new(mime.WordDecoder)
		subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		require.NoError(t, err)
		require.Equal(t, e.Subject, subj)
		to, err := mail.ParseAddress(msg.Header.Get("To"))
		require.NoError(t, err)
		require.Equal(t, mail.Address{Name: e.ToName, Address: e.To}, *to)
		require.Equal(t, "<"+e.MessageID+">", msg.Header.Get("Message-Id"))
		require.Equal(t, e.Headers["List-Unsubscribe"], msg.Header.Get("List-Unsubscribe"))
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "multipart/alternative", mt)
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for _, want := range []struct{ typ, body string }{{"text/plain", string(e.Text)}, {"text/html", string(e.HTML)}} {
			p, err := mr.NextRawPart()
			require.NoError(t, err)
			require.Equal(t, want.typ+"; charset=UTF-8", p.Header.Get("Content-Type"))
			require.Equal(t, "quoted-printable", p.Header.Get("Content-Transfer-Encoding"))
			encoded, err := io.ReadAll(p)
			require.NoError(t, err)
			for _, line := range strings.Split(string(encoded), "\r\n") {
				require.LessOrEqual(t, len(line), 76, "quoted-printable lines: %q", line)
			}
			got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(encoded)))
			require.NoError(t, err)
			// Line breaks are CRLF in the message; the last one before
			// the boundary belongs to the boundary (RFC 2046, 5.1.1).
			norm := strings.ReplaceAll(strings.ReplaceAll(want.body, "\r\n", "\n"), "\n", "\r\n")
			require.Equal(t, strings.TrimSuffix(norm, "\r\n"), string(got))
		}
		_, err = mr.NextRawPart()
		require.ErrorIs(t, err, io.EOF)

		// On the wire: dot-stuffed, and read back by textproto's dot
		// reader as the same bytes.
		var wire bytes.Buffer
		w := bufio.NewWriter(&wire)
		require.NoError(t, writeDotted(w, raw))
		back, err := io.ReadAll(textproto.NewReader(bufio.NewReader(&wire)).DotReader())
		require.NoError(t, err)
		require.Equal(t, strings.ReplaceAll(string(raw), "\r\n", "\n"), string(back))
	}
}

// TestComposeRefusesHeaderInjection: a line break in any header value is an
// error, never a header of its own.
func TestComposeRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	for _, change := range []func(e *Envelope){
		func(e *Envelope) { e.ToName = "Ada\r\nBcc: evil@example.org" },
		func(e *Envelope) { e.Subject = "Hi\nBcc: evil@example.org" },
		func(e *Envelope) { e.To = "ada@example.org\r\nBcc: evil@example.org" },
		func(e *Envelope) { e.Headers["List-Id"] = "x\r\nBcc: evil@example.org" },
		func(e *Envelope) { e.From = &mail.Address{Name: "R\napport", Address: "news@example.com"} },
		func(e *Envelope) { e.Sender = "not an address" },
		func(e *Envelope) { e.To = "not an address" },
	} {
		e := envelope("ada@example.org")
		change(e)
		require.Error(t, Compose(new(bytes.Buffer), e, nil))
	}
}

// TestQuotedPrintableProperty: for random lines of literal, encoded and
// white-space bytes around the 76-character limit, every encoded line
// keeps to it and decodes to the input.
func TestQuotedPrintableProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("abc =.\t\xc3\xa9\r~")
	for range 5000 {
		b := make([]byte, rng.IntN(240))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		var buf bytes.Buffer
		writeQP(&buf, b)
		for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\r\n"), "\r\n") {
			require.LessOrEqual(t, len(line), 76, "%q", b)
			require.False(t, strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t"), "white space ending a line: %q", b)
		}
		got, err := io.ReadAll(quotedprintable.NewReader(&buf))
		require.NoError(t, err)
		want := strings.TrimSuffix(string(b), "\r") + "\r\n"
		if len(b) == 0 {
			want = ""
		}
		require.Equal(t, want, string(got), "%q", b)
	}
}

// TestPlainAddressAgreesWithNetMail: every address the fast path takes,
// net/mail takes as the same bare address.
func TestPlainAddressAgreesWithNetMail(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"ada@example.org", "a.b+c_d-e@mail.example.co.uk", "x@y.z", "A1@B2.C3",
		"a..b@example.org", ".a@example.org", "a.@example.org", "a@example", "a@.example.org", "@example.org", "a@",
		"a b@example.org", "ådá@example.org", "a@b@example.org", "a@example..org"} {
		if plainAddress(a) {
			got, err := mail.ParseAddress(a)
			require.NoError(t, err, a)
			require.Equal(t, a, got.Address)
			require.Empty(t, got.Name)
		}
	}
	require.True(t, plainAddress("c0000001@example.com"))
}

// countingWriter counts the writes reaching it: each is a system call on a
// connection.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

// TestWriteDottedOneWrite: a message with nothing to stuff goes with its
// final line in one write, whether or not its buffer has room past its
// end; one with lines to stuff still gets them stuffed.
func TestWriteDottedOneWrite(t *testing.T) {
	for _, tc := range []struct {
		name, msg, wire string
		oneWrite        bool
	}{
		{"plain", "Subject: x\r\n\r\nhello\r\n", "Subject: x\r\n\r\nhello\r\n.\r\n", true},
		{"dot line", "Subject: x\r\n\r\n.hello\r\n..\r\n", "Subject: x\r\n\r\n..hello\r\n...\r\n.\r\n", false},
		{"leading dot", ".x\r\n", "..x\r\n.\r\n", false},
		{"no final break", "Subject: x\r\n\r\nhello", "Subject: x\r\n\r\nhello\r\n.\r\n", false},
	} {
		for _, spare := range []int{0, 3, 64} {
			msg := make([]byte, len(tc.msg), len(tc.msg)+spare)
			copy(msg, tc.msg)
			var cw countingWriter
			// Smaller than a real message: a big one skips the buffer.
			w := bufio.NewWriterSize(&cw, 16)
			require.NoError(t, writeDotted(w, msg), tc.name)
			require.Equal(t, tc.wire, cw.String(), "%s, %d spare", tc.name, spare)
			require.Equal(t, tc.msg, string(msg), "%s: the message itself is unchanged", tc.name)
			if tc.oneWrite {
				require.Equal(t, 1, cw.writes, "%s, %d spare: one write", tc.name, spare)
			}
		}
	}
}

// TestLiteralRun: the eight-at-a-time scan finds the run the table finds,
// for random lines of every kind of byte.
func TestLiteralRun(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("aZ09 =\t~!<>\"'\x00\x1f\x7f\x80\xc3\xa9\xff\r\n")
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		want := 0
		for want < len(b) && qpLiteral[b[want]] {
			want++
		}
		require.Equal(t, want, literalRun(b), "%q", b)
	}
	for lane := range 8 {
		for c := range 256 {
			x := uint64(c) << (8 * lane) // one byte among literal ones
			for i := range 8 {
				if i != lane {
					x |= uint64('a') << (8 * i)
				}
			}
			require.Equal(t, qpLiteral[c] && c != '\t', literal8(x), "byte %#x in lane %d", c, lane)
		}
	}
}
