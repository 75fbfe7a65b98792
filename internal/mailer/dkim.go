package mailer

import (
	"crypto"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"
)

// SignedHeaders are the headers every DKIM signature covers: what the
// reader sees (From, To, Subject, Date), what RFC 8058 requires signed
// (List-Unsubscribe, List-Unsubscribe-Post), what Gmail asks bulk senders
// to sign (List-Id, Feedback-ID), and the MIME structure. A header a
// message lacks is signed as absent, so nobody can add it on the way.
var SignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Id", "Feedback-ID", "MIME-Version", "Content-Type"}

// DKIMSigner signs messages with go-msgauth (relaxed/relaxed). go-mail's
// own signer hard-wraps the h= tag inside header names once the list is
// longer than a line, which makes signatures covering List-Id and
// Feedback-ID unverifiable; go-msgauth folds only between tags.
type DKIMSigner struct {
	domain, selector string
	key              crypto.Signer
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
	return &DKIMSigner{domain: domain, selector: selector, key: key}, nil
}

// signature returns the DKIM-Signature field's value for a whole message.
func (s *DKIMSigner) signature(msg []byte) (string, error) {
	ds, err := dkim.NewSigner(&dkim.SignOptions{Domain: s.domain, Selector: s.selector, Signer: s.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: SignedHeaders})
	if err != nil {
		return "", err
	}
	if _, err := ds.Write(msg); err != nil {
		ds.Close()
		return "", err
	}
	if err := ds.Close(); err != nil {
		return "", err
	}
	field := strings.TrimSuffix(ds.Signature(), "\r\n")
	return strings.TrimPrefix(field, "DKIM-Signature: "), nil
}
