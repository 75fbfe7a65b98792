package dsn

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
)

// Bounds on what the walker keeps, below Options.MaxBytes: the fields and
// text a report's evidence is in are near its start, and keeping less keeps
// a many-part message cheap.
const (
	maxLeafBytes = 1 << 20 // bytes kept of one leaf part
	maxTexts     = 8       // text parts kept
	maxReports   = 8       // delivery-status parts kept
)

// message is what the walker collects from one inbound message.
type message struct {
	header     textproto.MIMEHeader // top-level header
	reportType string               // report-type of the first multipart/report, lower-cased
	dsn        [][]byte             // message/delivery-status bodies
	arf        []byte               // the first message/feedback-report body
	hasARF     bool
	orig       fields   // header of the returned or complained-about message
	hasOrig    bool     // orig was found
	hasOrigMsg bool     // a whole message/rfc822 was attached, not just headers
	senders    []string // envelope senders the report quotes: Original-Mail-From, X-Postfix-Sender
	texts      []string
	htmls      []string
}

// walker walks a MIME tree, counting parts against the limits. It does not
// descend into message/rfc822 parts: those are returned or forwarded
// messages, and their content is not evidence about this one.
type walker struct {
	opts  Options
	parts int
	m     *message
}

func (w *walker) part(h textproto.MIMEHeader, body io.Reader, depth int) error {
	w.parts++
	if w.parts > w.opts.MaxParts {
		return fmt.Errorf("%w: more than %d MIME parts", ErrTooComplex, w.opts.MaxParts)
	}
	if depth > w.opts.MaxDepth {
		return fmt.Errorf("%w: multiparts nested more than %d deep", ErrTooComplex, w.opts.MaxDepth)
	}
	mt, params, err := contentType(h.Get("Content-Type"))
	if err != nil {
		return err
	}
	body = decodeTransfer(body, h.Get("Content-Transfer-Encoding"))
	if !strings.HasPrefix(mt, "multipart/") {
		return w.leaf(mt, params, body)
	}
	m := w.m
	boundary := params["boundary"]
	if boundary == "" {
		return fmt.Errorf("%w: %s without boundary", ErrMalformed, mt)
	}
	if mt == "multipart/report" && m.reportType == "" {
		m.reportType = strings.ToLower(strings.TrimSpace(params["report-type"]))
	}
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextRawPart()
		// Only a bare io.EOF is the closing boundary: NextRawPart wraps the
		// EOF of a message that ends before it, so errors.Is would accept
		// truncated input.
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %s", ErrMalformed, mt, errDetail(err))
		}
		if err := w.part(p.Header, p, depth+1); err != nil {
			return err
		}
	}
}

// leaf keeps what classification needs of a non-multipart part. Read errors
// are ignored here: a broken transfer encoding still leaves usable text, and
// broken MIME structure (a missing boundary) surfaces again, as an error,
// when the enclosing multipart looks for the next part.
func (w *walker) leaf(mt string, params map[string]string, body io.Reader) error {
	m := w.m
	read := func() []byte {
		b, _ := io.ReadAll(io.LimitReader(body, maxLeafBytes))
		return b
	}
	switch mt {
	case "message/delivery-status", "message/global-delivery-status":
		if len(m.dsn) < maxReports {
			m.dsn = append(m.dsn, read())
		}
	case "message/feedback-report":
		if !m.hasARF {
			m.arf, m.hasARF = read(), true
		}
	case "message/rfc822", "message/global":
		m.hasOrigMsg = true
		fallthrough
	case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		if !m.hasOrig {
			m.orig, m.hasOrig = parseHeaderBlock(read()), true
		}
	case "text/plain":
		if len(m.texts) < maxTexts {
			m.texts = append(m.texts, decodeCharset(read(), params["charset"]))
		}
	case "text/html":
		if len(m.htmls) < maxTexts {
			m.htmls = append(m.htmls, htmlText(decodeCharset(read(), params["charset"])))
		}
	}
	return nil
}

// contentType parses a Content-Type value, lower-cased, defaulting to
// text/plain as RFC 2045 says for a missing or unreadable one; only an
// unreadable multipart type is an error, since its parts cannot be found.
func contentType(v string) (string, map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil, nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "multipart/") {
			return "", nil, fmt.Errorf("%w: Content-Type %q: %s", ErrMalformed, clip(v, 100), errDetail(err))
		}
		return "text/plain", nil, nil
	}
	if strings.HasPrefix(mt, "multipart/") && err != nil && params["boundary"] == "" {
		return "", nil, fmt.Errorf("%w: Content-Type %q: %s", ErrMalformed, clip(v, 100), errDetail(err))
	}
	return mt, params, nil
}

// decodeTransfer undoes a Content-Transfer-Encoding. Unknown encodings are
// read as they are, which for 7bit, 8bit and binary is right.
func decodeTransfer(r io.Reader, cte string) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Filter{r: bufio.NewReader(r)})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// base64Filter drops everything that is not base64 alphabet or padding, as
// RFC 2045 tells decoders to: MTAs wrap lines with CRLF and some add spaces.
type base64Filter struct {
	r *bufio.Reader
}

func (f *base64Filter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := f.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			p[n] = c
			n++
		}
	}
	return n, nil
}

// wordDecoder decodes RFC 2047 encoded words in header values. It accepts
// any charset (see decodeCharset), so one unknown charset does not leave a
// whole header undecoded.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxLeafBytes))
	if err != nil {
		return nil, err
	}
	return strings.NewReader(decodeCharset(b, charset)), nil
}}

// decodeHeader decodes RFC 2047 encoded words, keeping the raw value when it
// cannot.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// htmlText is the text of an HTML body, for NDRs that only have one: tags
// become spaces, or line breaks for block elements, since the text
// heuristics work on lines.
func htmlText(s string) string {
	var b strings.Builder
	skip := "" // closing tag of a script or style element being skipped
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			if skip == "" {
				b.WriteString(s)
			}
			break
		}
		if skip == "" {
			b.WriteString(s[:lt])
		}
		s = s[lt:]
		gt := strings.IndexByte(s, '>')
		if gt < 0 {
			break
		}
		tag := strings.ToLower(s[1:gt])
		s = s[gt+1:]
		name := strings.TrimPrefix(tag, "/")
		if i := strings.IndexAny(name, " \t\r\n/"); i >= 0 {
			name = name[:i]
		}
		if skip != "" {
			if tag == skip {
				skip = ""
			}
			continue
		}
		switch name {
		case "script", "style":
			if !strings.HasPrefix(tag, "/") {
				skip = "/" + name
			}
		case "br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote":
			b.WriteByte('\n')
		default:
			b.WriteByte(' ')
		}
	}
	return html.UnescapeString(b.String())
}
