package esp

import (
	"context"
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // SignatureVersion 1 is SHA1withRSA: AWS's choice, not ours; version 2 is SHA-256.
	_ "crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// SNS message types, as they appear in SNSMessage.Type.
const (
	// SNSNotification carries a message published to the topic: for
	// rapport, an SES notification.
	SNSNotification = "Notification"
	// SNSSubscriptionConfirmation asks the endpoint to confirm a new
	// subscription; SNS sends nothing else until it is confirmed.
	SNSSubscriptionConfirmation = "SubscriptionConfirmation"
	// SNSUnsubscribeConfirmation reports that the subscription was deleted.
	SNSUnsubscribeConfirmation = "UnsubscribeConfirmation"
)

// DefaultSNSMaxAge is how old an SNS message may be when SNS.MaxAge is zero.
// SNS stops retrying an HTTP/S delivery after at most 3,600 seconds (a hard
// limit of its delivery policies), so anything older is a replay; the extra
// five minutes absorb clock skew and slow requests.
const DefaultSNSMaxAge = time.Hour + 5*time.Minute

// snsHost matches the hosts SNS serves signing certificates and
// subscription URLs from, in every region including China's.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// maxCachedCerts bounds the certificate cache. SNS signs with one
// certificate per region at a time, and only certificates that were fetched
// from an allowed host and parsed are cached, so a handful is plenty.
const maxCachedCerts = 16

// SNS authenticates Amazon SNS HTTP/S deliveries and reads the Amazon SES
// bounce, complaint and delivery notifications they carry.
//
// Any AWS account can create a topic, subscribe rapport's endpoint and
// publish correctly signed messages, so a valid signature only proves that
// the message came through SNS, not that it came from rapport's SES account.
// That is why TopicARNs is required: messages, and subscription
// confirmations above all, from other topics are refused.
//
// An SNS caches signing certificates and is safe for concurrent use; use it
// through a pointer and do not copy it after first use.
type SNS struct {
	// TopicARNs lists the topics rapport's SES account publishes to. A
	// message from any other topic fails with ErrUnauthenticated; with an
	// empty list every message does.
	TopicARNs []string
	// CertHosts lists extra host names (compared without the port,
	// ignoring case) that certificate and subscription URLs may use besides
	// sns.<region>.amazonaws.com[.cn], such as a local test server.
	CertHosts []string
	// Fetcher fetches signing certificates; nil means an HTTPCertFetcher
	// with its defaults.
	Fetcher CertFetcher
	// MaxAge is how old a message's Timestamp may be; zero or less means
	// DefaultSNSMaxAge. Timestamps more than five minutes ahead of now are
	// refused too.
	MaxAge time.Duration

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// SNSMessage is an authenticated SNS message.
type SNSMessage struct {
	// Type is SNSNotification, SNSSubscriptionConfirmation or
	// SNSUnsubscribeConfirmation.
	Type string
	// MessageID is SNS's MessageId, the same on every retry.
	MessageID string
	// TopicARN is the topic the message was published to.
	TopicARN string
	// SubscribeURL is set for a SubscriptionConfirmation: the caller
	// confirms the subscription by passing it to SNS.Confirm. It is also set
	// for an UnsubscribeConfirmation, where visiting it would subscribe
	// again, which is why Receive never does so on its own.
	SubscribeURL string
	// Events are the SES events of a Notification.
	Events []Event
}

// CertFetcher fetches an SNS signing certificate (PEM) by URL. SNS calls it
// only with https URLs whose host it has already checked, so that a forged
// message cannot make rapport fetch from, or trust a key served by, a host
// of the forger's choosing.
type CertFetcher interface {
	// Fetch returns the document at url, or an error when it cannot.
	Fetch(ctx context.Context, url string) ([]byte, error)
}

// HTTPDoer sends an HTTP request; *http.Client is one. SNS.Confirm uses it so
// that the caller chooses the client, its timeouts and its proxy.
type HTTPDoer interface {
	// Do sends req and returns the response, as http.Client.Do does.
	Do(req *http.Request) (*http.Response, error)
}

// snsEnvelope is the JSON document SNS POSTs. Subject is a pointer because
// the string to sign includes it only when the message has one.
type snsEnvelope struct {
	Type             string  `json:"Type"`
	MessageID        string  `json:"MessageId"`
	Token            string  `json:"Token"`
	TopicARN         string  `json:"TopicArn"`
	Subject          *string `json:"Subject"`
	Message          string  `json:"Message"`
	SubscribeURL     string  `json:"SubscribeURL"`
	Timestamp        string  `json:"Timestamp"`
	SignatureVersion string  `json:"SignatureVersion"`
	Signature        string  `json:"Signature"`
	SigningCertURL   string  `json:"SigningCertURL"`
}

// Receive authenticates the body of an SNS HTTP/S delivery and, for a
// Notification, reads the SES events in it. now is the current time.
//
// The checks run cheapest first and all of them before any network access:
// the topic, the certificate URL's scheme and host, and the timestamp; then
// the certificate is fetched (or taken from the cache) and the signature
// verified over the string SNS documents for the message type. A
// certificate that cannot be fetched is returned as a plain error (answer
// 5xx so that SNS retries); everything the sender got wrong is
// ErrUnauthenticated or ErrMalformed.
func (s *SNS) Receive(ctx context.Context, body []byte, now time.Time) (*SNSMessage, error) {
	var env snsEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: SNS message is not JSON: %v", ErrMalformed, err)
	}
	switch env.Type {
	case SNSNotification:
	case SNSSubscriptionConfirmation, SNSUnsubscribeConfirmation:
		if env.SubscribeURL == "" || env.Token == "" {
			return nil, fmt.Errorf("%w: %s without SubscribeURL or Token", ErrMalformed, env.Type)
		}
	default:
		return nil, fmt.Errorf("%w: unknown SNS message type %q", ErrMalformed, clip(env.Type, 64))
	}
	if env.MessageID == "" || env.TopicARN == "" || env.Timestamp == "" {
		return nil, fmt.Errorf("%w: SNS message without MessageId, TopicArn or Timestamp", ErrMalformed)
	}
	if env.Signature == "" || env.SigningCertURL == "" {
		return nil, fmt.Errorf("%w: SNS message is not signed", ErrUnauthenticated)
	}
	var hash crypto.Hash
	switch env.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return nil, fmt.Errorf("%w: unsupported SNS SignatureVersion %q", ErrUnauthenticated, clip(env.SignatureVersion, 16))
	}
	if !s.topicAllowed(env.TopicARN) {
		return nil, fmt.Errorf("%w: SNS topic %q is not configured", ErrUnauthenticated, clip(env.TopicARN, 256))
	}
	certURL, err := s.checkURL(env.SigningCertURL)
	if err != nil {
		return nil, fmt.Errorf("%w: SigningCertURL: %v", ErrUnauthenticated, err)
	}
	if !strings.HasSuffix(certURL.Path, ".pem") {
		return nil, fmt.Errorf("%w: SigningCertURL is not a .pem file", ErrUnauthenticated)
	}
	sent, ok := parseISO(env.Timestamp)
	if !ok {
		return nil, fmt.Errorf("%w: SNS Timestamp %q", ErrMalformed, clip(env.Timestamp, 64))
	}
	if age := now.Sub(sent); age > s.maxAge() || age < -5*time.Minute {
		return nil, fmt.Errorf("%w: SNS message sent at %s is outside the accepted window", ErrUnauthenticated, sent.Format(time.RFC3339))
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: SNS Signature is not base64", ErrUnauthenticated)
	}
	cert, err := s.cert(ctx, certURL.String(), now)
	if err != nil {
		return nil, err
	}
	h := hash.New()
	h.Write([]byte(stringToSign(&env)))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), hash, h.Sum(nil), sig); err != nil {
		return nil, fmt.Errorf("%w: SNS signature does not match", ErrUnauthenticated)
	}

	msg := &SNSMessage{Type: env.Type, MessageID: id(env.MessageID), TopicARN: env.TopicARN}
	if env.Type != SNSNotification {
		// The URL is signed, but it is checked like the certificate URL all
		// the same: confirming is a request rapport makes on SNS's word.
		if _, err := s.checkSubscribeURL(env.SubscribeURL, env.TopicARN); err != nil {
			return nil, fmt.Errorf("%w: SubscribeURL: %v", ErrUnauthenticated, err)
		}
		msg.SubscribeURL = env.SubscribeURL
		return msg, nil
	}
	msg.Events = parseSES(env.Message, id(env.MessageID), sent)
	return msg, nil
}

// Confirm confirms an SNS subscription by GETting subscribeURL, the
// SubscribeURL of a SubscriptionConfirmation that Receive returned, through
// doer. It checks the URL again (https, an allowed host,
// Action=ConfirmSubscription, a configured topic) so that whatever stored
// the URL in between cannot turn the call into a request elsewhere.
func (s *SNS) Confirm(ctx context.Context, doer HTTPDoer, subscribeURL string) error {
	if doer == nil {
		return errors.New("esp: SNS.Confirm needs an HTTPDoer")
	}
	u, err := s.checkSubscribeURL(subscribeURL, "")
	if err != nil {
		return fmt.Errorf("esp: refusing to confirm SNS subscription: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("esp: confirming SNS subscription: %v", err)
	}
	resp, err := doer.Do(req)
	if err != nil {
		return fmt.Errorf("esp: confirming SNS subscription: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("esp: confirming SNS subscription: HTTP %d", resp.StatusCode)
	}
	return nil
}

// stringToSign builds the string SNS signs: name and value lines, in byte
// order of the names, of the fields its documentation lists per message type.
// Subject takes part only when the message has one; confirmations have none.
func stringToSign(env *snsEnvelope) string {
	var b strings.Builder
	add := func(name, value string) {
		b.WriteString(name)
		b.WriteByte('\n')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	add("Message", env.Message)
	add("MessageId", env.MessageID)
	if env.Type == SNSNotification {
		if env.Subject != nil {
			add("Subject", *env.Subject)
		}
	} else {
		add("SubscribeURL", env.SubscribeURL)
	}
	add("Timestamp", env.Timestamp)
	if env.Type != SNSNotification {
		add("Token", env.Token)
	}
	add("TopicArn", env.TopicARN)
	add("Type", env.Type)
	return b.String()
}

func (s *SNS) topicAllowed(arn string) bool {
	return arn != "" && slices.Contains(s.TopicARNs, arn)
}

func (s *SNS) maxAge() time.Duration {
	if s.MaxAge > 0 {
		return s.MaxAge
	}
	return DefaultSNSMaxAge
}

// checkURL parses raw and accepts it only when it is https, has no user
// information and its host is SNS's or listed in CertHosts. SNS's hosts are
// accepted only on the default port.
func (s *SNS) checkURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, errors.New("URL too long")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a plain https URL", clip(raw, 256))
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range s.CertHosts {
		if strings.EqualFold(h, host) {
			return u, nil
		}
	}
	if snsHost.MatchString(host) && (u.Port() == "" || u.Port() == "443") {
		return u, nil
	}
	return nil, fmt.Errorf("host %q is not an SNS host", clip(u.Host, 256))
}

// checkSubscribeURL checks a SubscribeURL like a certificate URL and also
// that it confirms a subscription to a configured topic (the topic of the
// message carrying it, when topic is set), so that visiting it cannot call
// some other SNS action.
func (s *SNS) checkSubscribeURL(raw, topic string) (*url.URL, error) {
	u, err := s.checkURL(raw)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if q.Get("Action") != "ConfirmSubscription" {
		return nil, errors.New("not a ConfirmSubscription URL")
	}
	arn := q.Get("TopicArn")
	if !s.topicAllowed(arn) || (topic != "" && arn != topic) {
		return nil, fmt.Errorf("topic %q is not configured", clip(arn, 256))
	}
	return u, nil
}

// cert returns the signing certificate at url, from the cache or fetched.
// Fetch failures are plain errors (rapport's problem, worth a retry by SNS);
// a document that is not a usable RSA certificate is ErrUnauthenticated.
func (s *SNS) cert(ctx context.Context, url string, now time.Time) (*x509.Certificate, error) {
	s.mu.Lock()
	c := s.certs[url]
	s.mu.Unlock()
	if c != nil && !now.After(c.NotAfter) && !now.Before(c.NotBefore) {
		return c, nil
	}
	fetcher := s.Fetcher
	if fetcher == nil {
		fetcher = defaultCertFetcher
	}
	data, err := fetcher.Fetch(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("esp: fetching SNS signing certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: SigningCertURL does not serve a PEM certificate", ErrUnauthenticated)
	}
	c, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: SNS signing certificate: %v", ErrUnauthenticated, err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: SNS signing certificate has no RSA key", ErrUnauthenticated)
	}
	if now.After(c.NotAfter) || now.Before(c.NotBefore) {
		return nil, fmt.Errorf("%w: SNS signing certificate is not valid now", ErrUnauthenticated)
	}
	s.mu.Lock()
	if s.certs == nil {
		s.certs = make(map[string]*x509.Certificate)
	}
	if _, ok := s.certs[url]; !ok && len(s.certs) >= maxCachedCerts {
		for k := range s.certs { // evict any one; they are cheap to refetch
			delete(s.certs, k)
			break
		}
	}
	s.certs[url] = c
	s.mu.Unlock()
	return c, nil
}

// defaultCertFetcher serves SNS values whose Fetcher is nil.
var defaultCertFetcher = &HTTPCertFetcher{}

// HTTPCertFetcher is the CertFetcher that uses net/http. It refuses
// anything but https, follows no redirects (a redirect would lead away from
// the host SNS checked), stops after Timeout and reads at most MaxBytes.
type HTTPCertFetcher struct {
	// Client sends the request; nil means a client with
	// http.DefaultTransport. Its redirect policy is replaced.
	Client *http.Client
	// Timeout bounds the whole fetch; zero means 10 seconds.
	Timeout time.Duration
	// MaxBytes bounds the certificate's size; zero means 64 KiB, several
	// times a real SNS certificate.
	MaxBytes int64
}

// Fetch implements CertFetcher.
func (f *HTTPCertFetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	if !strings.HasPrefix(rawURL, "https://") {
		return nil, fmt.Errorf("refusing to fetch %q: not https", clip(rawURL, 256))
	}
	var client http.Client
	if f.Client != nil {
		client = *f.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	timeout, limit := f.Timeout, f.MaxBytes
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if limit <= 0 {
		limit = 64 << 10
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", rawURL, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: certificate larger than %d bytes", rawURL, limit)
	}
	return data, nil
}
