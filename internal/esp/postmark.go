package esp

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
)

// Postmark authenticates Postmark's bounce and spam complaint webhooks and
// reads them. Postmark does not sign its webhooks; instead its webhook
// settings can put HTTP basic auth credentials in the webhook URL
// (https://user:password@host/path) and add custom headers. Configure
// either or both: every configured credential must be present and match.
// With none configured every request fails, so that forgetting the
// configuration never opens the endpoint.
//
// A Postmark holds no state and is safe for concurrent use.
type Postmark struct {
	// Username and Password are the basic auth credentials of the webhook
	// URL. Setting one without the other refuses every request.
	Username, Password string
	// HeaderName and HeaderValue are a custom header the webhook sends,
	// such as "X-Rapport-Token" and a long random value. Setting one without
	// the other refuses every request.
	HeaderName, HeaderValue string
}

// Receive checks a Postmark webhook request's credentials and reads its
// body, a single JSON record. Credentials are compared in constant time so
// that response timing does not reveal how much of a guess was right.
func (p *Postmark) Receive(h http.Header, body []byte) ([]Event, error) {
	if err := p.authenticate(h); err != nil {
		return nil, err
	}
	return parsePostmark(body)
}

func (p *Postmark) authenticate(h http.Header) error {
	basic := p.Username != "" || p.Password != ""
	header := p.HeaderName != "" || p.HeaderValue != ""
	switch {
	case !basic && !header:
		return fmt.Errorf("%w: no Postmark credentials configured", ErrUnauthenticated)
	case basic && (p.Username == "" || p.Password == ""):
		return fmt.Errorf("%w: Postmark basic auth needs both a username and a password", ErrUnauthenticated)
	case header && (p.HeaderName == "" || p.HeaderValue == ""):
		return fmt.Errorf("%w: Postmark header auth needs both a name and a value", ErrUnauthenticated)
	}
	ok := 1
	if basic {
		user, pass, found := (&http.Request{Header: h}).BasicAuth()
		ok &= boolInt(found) & secretEqual(user, p.Username) & secretEqual(pass, p.Password)
	}
	if header {
		values := h.Values(p.HeaderName)
		ok &= boolInt(len(values) == 1)
		if len(values) == 1 {
			ok &= secretEqual(values[0], p.HeaderValue)
		}
	}
	if ok != 1 {
		return fmt.Errorf("%w: Postmark credentials missing or wrong", ErrUnauthenticated)
	}
	return nil
}

// secretEqual compares SHA-256 digests in constant time, which hides the
// secret's length as well as its content; it returns 1 when equal.
func secretEqual(got, want string) int {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// postmarkRecord is a Postmark webhook record. Bounce and SpamComplaint
// records share the bounce fields; Delivery, Open, Click and
// SubscriptionChange records name the address Recipient instead of Email.
type postmarkRecord struct {
	RecordType  text `json:"RecordType"`
	ID          text `json:"ID"`
	Type        text `json:"Type"`
	MessageID   text `json:"MessageID"`
	Email       text `json:"Email"`
	Recipient   text `json:"Recipient"`
	BouncedAt   text `json:"BouncedAt"`
	DeliveredAt text `json:"DeliveredAt"`
	ReceivedAt  text `json:"ReceivedAt"`
	ChangedAt   text `json:"ChangedAt"`
	Details     text `json:"Details"`
	Description text `json:"Description"`
}

// postmarkKinds maps Postmark's bounce types to kinds. Types not listed are
// ignored: AutoResponder, SpamNotification (a filter's verdict, not the
// recipient's), Blocked and DMARCPolicy (rapport's reputation or setup, not
// the address), Unsubscribe, Subscribe, AddressChange, ChallengeVerification,
// VirusNotification, OpenRelayTest, Unknown, Unconfirmed, SMTPApiError,
// InboundError and TemplateRenderingFailed.
var postmarkKinds = map[string]Kind{
	"HardBounce":          HardBounce,
	"BadEmailAddress":     HardBounce,
	"ManuallyDeactivated": HardBounce,
	"SoftBounce":          SoftBounce,
	"Transient":           SoftBounce,
	"DnsError":            SoftBounce,
	"SpamComplaint":       Complaint,
}

// parsePostmark reads one Postmark webhook record.
func parsePostmark(body []byte) ([]Event, error) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: Postmark body is not a JSON object", ErrMalformed)
	}
	var r postmarkRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: Postmark body: %v", ErrMalformed, err)
	}
	record := clip(oneLine(string(r.RecordType)), 64)
	typ := clip(oneLine(string(r.Type)), 64)
	if record == "" && typ != "" {
		record = "Bounce" // bounce webhooks predating RecordType
	}
	e := Event{
		Provider:          ProviderPostmark,
		Kind:              Ignored,
		ProviderMessageID: id(string(r.MessageID)),
		ProviderID:        id(string(r.ID)),
		Type:              firstString(typ, record, "unknown"),
		Detail:            detail(firstString(string(r.Details), string(r.Description))),
		At: firstTime(isoTime(string(r.BouncedAt)), isoTime(string(r.DeliveredAt)),
			isoTime(string(r.ReceivedAt)), isoTime(string(r.ChangedAt))),
	}
	switch record {
	case "Bounce":
		e.Kind = postmarkKinds[typ]
		if e.Kind == "" {
			e.Kind = Ignored
		}
	case "SpamComplaint":
		e.Kind = Complaint
	default:
		e.Type = record
		e.Detail = ""
	}
	return []Event{recipient(e, firstString(string(r.Email), string(r.Recipient)))}, nil
}
