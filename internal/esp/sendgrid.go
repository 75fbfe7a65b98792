package esp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// SendGrid's signed Event Webhook headers.
const (
	// SendGridSignatureHeader carries the base64 ASN.1 ECDSA signature.
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	// SendGridTimestampHeader carries the Unix time that was signed along
	// with the body.
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// DefaultSendGridWindow is how far a SendGrid signature timestamp may be
// from now when SendGrid.Window is zero.
const DefaultSendGridWindow = 10 * time.Minute

// SendGrid authenticates SendGrid's signed Event Webhook and reads its
// events. SendGrid signs the timestamp header followed by the raw body with
// ECDSA P-256 over SHA-256, so the body must reach Receive byte for byte as
// it was sent. A SendGrid holds no state and is safe for concurrent use.
type SendGrid struct {
	// PublicKey is the webhook's verification key (see
	// ParseSendGridKey). Without one every request fails with
	// ErrUnauthenticated.
	PublicKey *ecdsa.PublicKey
	// Window is how far the signed timestamp may be from now, either way;
	// zero means DefaultSendGridWindow. The signature covers the timestamp,
	// so the window is what stops a captured request from being replayed
	// later.
	Window time.Duration
}

// ParseSendGridKey parses the verification key shown in SendGrid's Mail
// Settings: the base64 of a DER (PKIX) ECDSA P-256 public key. A PEM block
// is accepted too. Other curves and key types are refused because SendGrid
// signs with P-256 only and a different key could only be a mistake.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("esp: SendGrid verification key is not base64")
		}
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("esp: SendGrid verification key: %v", err)
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("esp: SendGrid verification key is not an ECDSA P-256 key")
	}
	return pub, nil
}

// Receive authenticates a SendGrid Event Webhook request from its headers
// and raw body and returns one Event per element of the JSON array. now is
// the current time.
func (s *SendGrid) Receive(h http.Header, body []byte, now time.Time) ([]Event, error) {
	if s.PublicKey == nil {
		return nil, fmt.Errorf("%w: no SendGrid verification key configured", ErrUnauthenticated)
	}
	sigHeader, tsHeader := h.Get(SendGridSignatureHeader), h.Get(SendGridTimestampHeader)
	if sigHeader == "" || tsHeader == "" {
		return nil, fmt.Errorf("%w: missing %s or %s", ErrUnauthenticated, SendGridSignatureHeader, SendGridTimestampHeader)
	}
	ts, ok := parseUnixSeconds(tsHeader)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a Unix time", ErrUnauthenticated, SendGridTimestampHeader)
	}
	window := s.Window
	if window <= 0 {
		window = DefaultSendGridWindow
	}
	if !withinWindow(ts, now, window) {
		return nil, fmt.Errorf("%w: SendGrid timestamp %s is outside the accepted window", ErrUnauthenticated, ts.Format(time.RFC3339))
	}
	sig, err := base64.StdEncoding.DecodeString(sigHeader)
	if err != nil {
		return nil, fmt.Errorf("%w: SendGrid signature is not base64", ErrUnauthenticated)
	}
	digest := sha256.New()
	digest.Write([]byte(tsHeader))
	digest.Write(body)
	if !ecdsa.VerifyASN1(s.PublicKey, digest.Sum(nil), sig) {
		return nil, fmt.Errorf("%w: SendGrid signature does not match", ErrUnauthenticated)
	}
	return parseSendGrid(body, ts)
}

// sendGridEvent is one element of the Event Webhook's array. Fields are text
// so that an unexpected type in one field of one event leaves the rest
// readable.
type sendGridEvent struct {
	Email                text `json:"email"`
	Timestamp            text `json:"timestamp"`
	Event                text `json:"event"`
	Type                 text `json:"type"`
	Reason               text `json:"reason"`
	Status               text `json:"status"`
	Response             text `json:"response"`
	BounceClassification text `json:"bounce_classification"`
	SGEventID            text `json:"sg_event_id"`
	SGMessageID          text `json:"sg_message_id"`
	SMTPID               text `json:"smtp-id"`
}

// parseSendGrid reads the Event Webhook's JSON array. sent is the signed
// request time, used for events without a timestamp. An element that is not
// an event object becomes an ignored event, because SendGrid batches many
// events per request and refusing the batch would make it retry the good
// ones too.
func parseSendGrid(body []byte, sent time.Time) ([]Event, error) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, fmt.Errorf("%w: SendGrid body is not a JSON array", ErrMalformed)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: SendGrid body: %v", ErrMalformed, err)
	}
	events := make([]Event, 0, len(raw))
	for _, r := range raw {
		var sg sendGridEvent
		if err := json.Unmarshal(r, &sg); err != nil {
			events = append(events, Event{Provider: ProviderSendGrid, Kind: Ignored, At: sent,
				Detail: "SendGrid event is not an object"})
			continue
		}
		events = append(events, sendGridToEvent(&sg, sent))
	}
	return events, nil
}

func sendGridToEvent(sg *sendGridEvent, sent time.Time) Event {
	name := clip(oneLine(string(sg.Event)), 64)
	sub := clip(oneLine(string(sg.Type)), 64)
	e := Event{
		Provider:          ProviderSendGrid,
		Kind:              Ignored,
		MessageID:         messageID(string(sg.SMTPID)),
		ProviderMessageID: id(string(sg.SGMessageID)),
		ProviderID:        id(string(sg.SGEventID)),
		Type:              name,
		At:                firstTime(unixTime(string(sg.Timestamp)), sent),
	}
	if sub != "" && sub != name {
		e.Type = name + "/" + sub
	}
	switch name {
	case "bounce":
		// type "bounce" is a rejection of the address; "blocked" is a
		// rejection of the message (reputation, content, a full mailbox),
		// which SendGrid itself counts as a soft bounce.
		e.Kind = HardBounce
		if sub == "blocked" {
			e.Kind = SoftBounce
		}
		e.Detail = detail(string(sg.Status), string(sg.Reason), string(sg.BounceClassification))
	case "spamreport":
		e.Kind = Complaint
	case "dropped":
		// SendGrid dropped the message without sending it, mostly because
		// the address is already on its bounce or spam report list; that is
		// the consequence of an event rapport has already had.
		e.Detail = detail(string(sg.Reason))
	case "deferred":
		// A deferral is a delay SendGrid keeps retrying, not a bounce.
		e.Detail = detail(string(sg.Response))
	case "":
		e.Type = "unknown"
	}
	return recipient(e, string(sg.Email))
}
