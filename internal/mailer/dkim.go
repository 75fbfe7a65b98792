package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SignedHeaders are the headers every DKIM signature covers: what the
// reader sees (From, To, Subject, Date), what RFC 8058 requires signed
// (List-Unsubscribe, List-Unsubscribe-Post), what Gmail asks bulk senders
// to sign (List-Id, Feedback-ID), and the MIME structure. A header a
// message lacks is signed as absent, so nobody can add it on the way.
var SignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Id", "Feedback-ID", "MIME-Version", "Content-Type"}

// DKIMSigner signs messages (relaxed/relaxed, RSA or Ed25519 with
// SHA-256). go-mail's own signer hard-wraps the h= tag inside header names
// once the list is longer than a line, which makes signatures covering
// List-Id and Feedback-ID unverifiable; this one folds only between tags.
type DKIMSigner struct {
	key  crypto.Signer
	hash crypto.Hash // what key.Sign is told the digest is
	// What every signature shares, worked out once: the tags before t=,
	// and the h= list with the lower-cased names it signs.
	prefix, h string
	keys      []string
}

// NewDKIM returns a signer for the PEM key (RSA or Ed25519).
func NewDKIM(domain, selector string, keyPEM []byte) (*DKIMSigner, error) {
	key, err := gomail.PrivKeyFromPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	if domain == "" || selector == "" {
		return nil, fmt.Errorf("dkim: domain and selector are required")
	}
	algo, hash := "rsa-sha256", crypto.SHA256
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		algo, hash = "ed25519-sha256", crypto.Hash(0) // RFC 8463: Ed25519 over the SHA-256 hash
	}
	keys := make([]string, len(SignedHeaders))
	for i, k := range SignedHeaders {
		keys[i] = strings.ToLower(k)
	}
	return &DKIMSigner{key: key, hash: hash, keys: keys,
		prefix: "v=1; a=" + algo + "; c=relaxed/relaxed; d=" + domain + "; s=" + selector + "; t=",
		h:      ";\r\n h=" + strings.Join(keys, ":") + ";\r\n bh="}, nil
}

// signature returns the DKIM-Signature field's value for a whole message
// (CRLF line endings, as Compose writes it): relaxed/relaxed, SHA-256, the
// body hashed whole (no l=), SignedHeaders in h=, t= at. It is computed
// here, in one pass on the caller's goroutine, rather than by go-msgauth's
// signer, which runs a goroutine and a pipe per message and canonicalizes
// byte by byte: about 100 µs a message besides the signature itself.
// The tests verify what it signs with go-msgauth's verifier.
func (s *DKIMSigner) signature(msg []byte, at time.Time) (string, error) {
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		return "", errors.New("message has no body")
	}
	h := sha256.New()
	relaxedBody(h, body)
	bh := base64.StdEncoding.EncodeToString(h.Sum(nil))

	value := s.prefix + strconv.FormatInt(at.Unix(), 10) + s.h + bh + ";\r\n b="

	h.Reset()
	fields := headerFields(head)
	for _, k := range s.keys {
		// The last instance not yet signed, as RFC 6376 (5.4.2) picks
		// them; a header the message lacks is signed as absent.
		if f := fields[k]; len(f) > 0 {
			io.WriteString(h, relaxedHeader(f[len(f)-1]))
			fields[k] = f[:len(f)-1]
		}
	}
	io.WriteString(h, strings.TrimSuffix(relaxedHeader("DKIM-Signature: "+value), "\r\n"))
	sig, err := s.key.Sign(rand.Reader, h.Sum(nil), s.hash)
	if err != nil {
		return "", err
	}
	b := base64.StdEncoding.EncodeToString(sig)
	var out strings.Builder
	out.WriteString(value)
	for len(b) > 72 { // folded: white space in b= is not part of it
		out.WriteString(b[:72])
		out.WriteString("\r\n ")
		b = b[72:]
	}
	out.WriteString(b)
	return out.String(), nil
}

// headerFields maps each header field name (lower case) to its fields in
// order, each whole: "Name: value", folded lines included.
func headerFields(head []byte) map[string][]string {
	out := map[string][]string{}
	lines := strings.Split(string(head), "\r\n")
	for i := 0; i < len(lines); i++ {
		f := lines[i]
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			i++
			f += "\r\n" + lines[i]
		}
		if name, _, ok := strings.Cut(f, ":"); ok {
			k := strings.ToLower(strings.TrimSpace(name))
			out[k] = append(out[k], f)
		}
	}
	return out
}

// relaxedHeader is a field in relaxed canonical form (RFC 6376, 3.4.2):
// name lower-cased, value unfolded, white space runs made one space and
// trimmed, CRLF at the end.
func relaxedHeader(f string) string {
	name, value, _ := strings.Cut(f, ":")
	return strings.ToLower(strings.TrimSpace(name)) + ":" +
		strings.Join(strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }), " ") + "\r\n"
}

// relaxedBody writes body (CRLF line endings) in relaxed canonical form
// (RFC 6376, 3.4.4) to w: white space runs made one space, white space
// ending a line dropped, empty lines ending the body dropped, and a
// non-empty body ending with CRLF.
func relaxedBody(w io.Writer, body []byte) {
	var line []byte
	empty := 0 // empty lines held back: dropped if nothing follows
	for len(body) > 0 {
		var l []byte
		if i := bytes.Index(body, []byte("\r\n")); i >= 0 {
			l, body = body[:i], body[i+2:]
		} else {
			l, body = body, nil
		}
		line = line[:0]
		wsp := false
		for _, c := range l {
			if c == ' ' || c == '\t' {
				wsp = true
				continue
			}
			if wsp {
				line = append(line, ' ')
				wsp = false
			}
			line = append(line, c)
		}
		if len(line) == 0 {
			empty++
			continue
		}
		for ; empty > 0; empty-- {
			_, _ = w.Write([]byte("\r\n"))
		}
		line = append(line, '\r', '\n')
		_, _ = w.Write(line)
	}
}
