package mailer

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Messages are written here, not by go-mail's Msg: every campaign message
// has the same shape (a few headers, a text and an HTML part, both
// quoted-printable), and go-mail's general writer (a buffer per part,
// mime/quotedprintable byte by byte, a lock and the dot-stuffing writer
// per small write) was a third of the send path's CPU. This writes the
// whole message in one pass into a reused buffer; go-mail's SMTP client
// still carries it.

// Compose writes e as an RFC 5322 message into buf: the headers, then a
// multipart/alternative body of a text and an HTML part, quoted-printable,
// CRLF line endings throughout, lines within 76 characters. With dkim, the
// DKIM-Signature field comes first, computed over exactly these bytes. A
// message that cannot be written (a line break in a header, an address
// that does not parse) is an error, and buf is left in an unknown state.
func Compose(buf *bytes.Buffer, e *Envelope, dkim *DKIMSigner) error {
	buf.Reset()
	if err := writeHeaders(buf, e); err != nil {
		return err
	}
	boundary := newBoundary()
	buf.WriteString("Content-Type: multipart/alternative;\r\n boundary=\"")
	buf.WriteString(boundary)
	buf.WriteString("\"\r\n\r\n")
	for _, p := range [...]struct {
		typ  string
		body []byte
	}{{"text/plain", e.Text}, {"text/html", e.HTML}} {
		buf.WriteString("--")
		buf.WriteString(boundary)
		buf.WriteString("\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: ")
		buf.WriteString(p.typ)
		buf.WriteString("; charset=UTF-8\r\n\r\n")
		writeQP(buf, p.body)
	}
	buf.WriteString("--")
	buf.WriteString(boundary)
	buf.WriteString("--\r\n")
	if dkim == nil {
		return nil
	}
	// t= is the message's Date (the injected clock's), so a signature is
	// as reproducible as the message it signs.
	at := e.Date
	if at.IsZero() {
		at = time.Now()
	}
	sig, err := dkim.signature(buf.Bytes(), at)
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	// The field goes in front: a copy of the message, once per message,
	// costs far less than the signature itself.
	msg := slices.Clone(buf.Bytes())
	buf.Reset()
	buf.WriteString("DKIM-Signature: ")
	buf.WriteString(sig)
	buf.WriteString("\r\n")
	buf.Write(msg)
	return nil
}

// errHeaderLine is a header value holding a line break or another control
// character: written as it is it would add headers of its own.
var errHeaderLine = errors.New("a header may not hold line breaks or control characters")

func writeHeaders(buf *bytes.Buffer, e *Envelope) error {
	if e.From == nil {
		return errors.New("sender: no from address")
	}
	from, err := addressField(e.From.Name, e.From.Address)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	to, err := addressField(e.ToName, e.To)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if e.Sender != "" && !plainAddress(e.Sender) { // a plain address always parses
		if _, err := mail.ParseAddress(e.Sender); err != nil {
			return fmt.Errorf("envelope sender: %w", err)
		}
	}
	date := e.Date
	if date.IsZero() {
		date = time.Now()
	}
	buf.WriteString("Date: ")
	buf.Write(date.AppendFormat(buf.AvailableBuffer(), time.RFC1123Z))
	buf.WriteString("\r\nFrom: ")
	buf.WriteString(from)
	buf.WriteString("\r\nTo: ")
	buf.WriteString(to)
	buf.WriteString("\r\n")
	if err := writeField(buf, "Subject", e.Subject); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	if e.MessageID != "" {
		if badHeader(e.MessageID) {
			return fmt.Errorf("message-id: %w", errHeaderLine)
		}
		buf.WriteString("Message-ID: <")
		buf.WriteString(e.MessageID)
		buf.WriteString(">\r\n")
	}
	buf.WriteString("MIME-Version: 1.0\r\n")
	if len(e.Headers) > 0 {
		var few [8]string // a campaign message has four or five
		names := few[:0]
		for k := range e.Headers {
			names = append(names, k)
		}
		slices.Sort(names) // the same bytes for the same envelope
		for _, k := range names {
			if badHeader(k) || strings.ContainsAny(k, ": ") || k == "" {
				return fmt.Errorf("header name %q: not a field name", k)
			}
			if err := writeField(buf, k, e.Headers[k]); err != nil {
				return fmt.Errorf("header %s: %w", k, err)
			}
		}
	}
	return nil
}

// addressField is a From or To field's value: the name quoted or
// RFC 2047-encoded as needed (net/mail), the address checked.
func addressField(name, addr string) (string, error) {
	if badHeader(name) || badHeader(addr) {
		return "", errHeaderLine
	}
	if !plainAddress(addr) {
		a, err := mail.ParseAddress(addr)
		if err != nil {
			return "", err
		}
		if a.Name != "" {
			return "", fmt.Errorf("%q: a bare address is expected", addr)
		}
	}
	return (&mail.Address{Name: name, Address: addr}).String(), nil
}

// plainAddress reports whether addr is local@domain of letters, digits
// and . _ + - alone, no dot leading, trailing or doubled in either half:
// nearly every address, valid without net/mail's full parser.
func plainAddress(addr string) bool {
	local, domain, ok := strings.Cut(addr, "@")
	return ok && plainDotAtom(local) && plainDotAtom(domain) && strings.IndexByte(domain, '.') > 0
}

func plainDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// badHeader reports whether s holds a control character other than tab.
func badHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// writeField writes an unstructured header field: RFC 2047 Q-encoded when
// it holds anything but ASCII, folded at spaces to keep lines near 78
// characters (a URL longer than a line stays whole, well within 998).
func writeField(buf *bytes.Buffer, name, value string) error {
	if badHeader(value) {
		return errHeaderLine
	}
	if !isASCII(value) {
		if !utf8.ValidString(value) {
			value = strings.ToValidUTF8(value, "\uFFFD")
		}
		// One encoded word per line: mime's encoder splits long text
		// into words of at most 75 characters, separated by a space.
		value = strings.ReplaceAll(mime.QEncoding.Encode("UTF-8", value), "?= =?", "?=\r\n =?")
		buf.WriteString(name)
		buf.WriteString(": ")
		buf.WriteString(value)
		buf.WriteString("\r\n")
		return nil
	}
	line := len(name) + 2
	buf.WriteString(name)
	buf.WriteString(": ")
	for first := true; value != ""; first = false {
		word, rest, found := strings.Cut(value, " ")
		if !first {
			if line+1+len(word) > 78 {
				buf.WriteString("\r\n")
				line = 0
			}
			buf.WriteByte(' ')
			line++
		}
		buf.WriteString(word)
		line += len(word)
		if !found {
			break
		}
		value = rest
	}
	buf.WriteString("\r\n")
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// newBoundary is a random multipart boundary: 128 bits, so no part's text
// holds it by chance (a quoted-printable body could only by containing it
// literally).
func newBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "rapport-" + hex.EncodeToString(b[:])
}

const hexUpper = "0123456789ABCDEF"

// writeQP writes s quoted-printable (RFC 2045, 6.7) with CRLF line breaks:
// each text line break (LF or CRLF) becomes CRLF, printable ASCII stays as
// it is, everything else (bytes of UTF-8 sequences, a lone CR, '=', white
// space ending a line) is =XX, and soft breaks keep every line within 76
// characters. The result always ends with CRLF.
func writeQP(buf *bytes.Buffer, s []byte) {
	buf.Grow(len(s) + len(s)/8)
	for len(s) > 0 {
		line := s
		i := bytes.IndexByte(s, '\n')
		if i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		writeQPLine(buf, line)
		buf.WriteString("\r\n")
	}
}

// qpLiteral marks the bytes quoted-printable writes as they are: printable
// ASCII but '=', and space and tab (except at the end of a line).
var qpLiteral = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = c != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()

// literalRun is how many bytes at the start of b quoted-printable writes
// as they are (qpLiteral), eight at a time while it can: a message's text
// and markup are long runs of them, and a byte at a time through the table
// was most of the encoding's time.
func literalRun(b []byte) int {
	n := 0
	for {
		for len(b)-n >= 8 && literal8(binary.LittleEndian.Uint64(b[n:])) {
			n += 8
		}
		if n < len(b) && qpLiteral[b[n]] {
			n++ // a tab, or a literal before the byte that ended the eight
			continue
		}
		return n
	}
}

// literal8 reports whether the eight bytes of x are all printable ASCII
// but '=' (space included; tab is left to the table), with the word-wise
// tests of "Bit Twiddling Hacks": no byte below 0x20, none above 0x7e,
// none equal to '='. Each test is exact as to whether some byte matches.
func literal8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - 0x20*ones) & ^x & highs
	above := ((x + ones) | x) & highs // a byte over 0x7e, or with its high bit set
	eq := x ^ '='*ones
	equals := (eq - ones) & ^eq & highs
	return below|above|equals == 0
}

func writeQPLine(buf *bytes.Buffer, line []byte) {
	n := 0 // characters on the current output line
	for i := 0; i < len(line); {
		// A run of literal bytes is copied whole, up to what the line
		// has room for; most text is nothing else.
		j := i + literalRun(line[i:])
		if j == len(line) && j > i && (line[j-1] == ' ' || line[j-1] == '\t') {
			j-- // white space ending a line is encoded
		}
		for i < j {
			room := 75 - n // a soft break's "=" makes 76
			if j == len(line) && len(line)-i <= room+1 {
				room++ // the line's last characters need no soft break after them
			}
			if room <= 0 {
				buf.WriteString("=\r\n")
				n = 0
				continue
			}
			k := min(j, i+room)
			buf.Write(line[i:k])
			n += k - i
			i = k
		}
		if i == len(line) {
			break
		}
		// One encoded byte, =XX.
		if n+3 > 75 && !(i == len(line)-1 && n+3 <= 76) {
			buf.WriteString("=\r\n")
			n = 0
		}
		c := line[i]
		buf.WriteByte('=')
		buf.WriteByte(hexUpper[c>>4])
		buf.WriteByte(hexUpper[c&0x0f])
		n += 3
		i++
	}
}

// writeDotted writes a message (CRLF line endings, ending with CRLF) as
// SMTP DATA content: a dot starting a line doubled (RFC 5321, 4.5.2), and
// the final "." line. It copies whole runs between such dots, where
// textproto's dot writer goes byte by byte.
//
// A message with no line to stuff (nearly all: Compose's lines start with
// a header name, a boundary or quoted-printable text) goes with its final
// line in one write, and so one system call, where writing it and then
// flushing the terminator took two: the terminator is appended after the
// message, in msg's spare capacity when it has some (Compose's pooled
// buffers do), which is why msg's bytes past its length may change.
func writeDotted(w *bufio.Writer, msg []byte) error {
	if bytes.HasSuffix(msg, []byte("\r\n")) && msg[0] != '.' && !bytes.Contains(msg, []byte("\n.")) {
		_, _ = w.Write(append(msg[:len(msg):cap(msg)], ".\r\n"...))
		return w.Flush()
	}
	if len(msg) > 0 && msg[0] == '.' {
		_ = w.WriteByte('.')
	}
	for {
		i := bytes.Index(msg, []byte("\n."))
		if i < 0 {
			break
		}
		_, _ = w.Write(msg[:i+2])
		_ = w.WriteByte('.')
		msg = msg[i+2:]
	}
	_, _ = w.Write(msg)
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString(".\r\n")
	return w.Flush()
}

// buffers keeps message buffers between messages: a message is about 7 KB
// and a worker sends thousands.
var buffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 16<<10)) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 { // a huge message's buffer is not kept
		buffers.Put(b)
	}
}
