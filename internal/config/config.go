// Package config reads rapport's settings from environment variables and
// validates them at start, naming the variable and what is wrong with it.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// DefaultClaimChunk and MaxClaimChunk are SEND_CLAIM_CHUNK's default and
// bound, jobs.DefaultClaimChunk and jobs.MaxClaimChunk (which this package
// does not import: it stays below the workers).
const (
	DefaultClaimChunk = 10
	MaxClaimChunk     = 100
)

// Config is everything rapport reads from its environment.
type Config struct {
	DatabaseURL       string
	HTTPAddr          string
	PublicURL         *url.URL
	SecretKeys        []string // first signs; all verify (rotation)
	SMTP              *SMTP    // nil: write .eml files to OutboxDir
	From              *mail.Address
	OutboxDir         string
	DefaultTimezone   *time.Location
	CompanyName       string
	CompanyAddress    string
	EventsSecret      string
	TrustedProxies    []*net.IPNet
	BodyLimit         string
	LogLevel          string
	SendWorkers       int
	SMTPPoolSize      int
	SendBatch         int // deliveries per send job
	ClaimChunk        int // deliveries claimed per commit: the most a kill leaves unknown per worker
	DKIM              *DKIM
	TierJitter        time.Duration
	ShutdownTimeout   time.Duration
	RescueAfter       time.Duration // River rescues a job stuck 'running' after this
	SoftBounceLimit   int           // soft bounces within 30 days that suppress an address
	ImportBodyLimit   int64         // largest CSV import, in bytes
	ReadHeaderTimeout time.Duration
	// OpsAddr is where /healthz, /readyz and /metrics are served, in every
	// role; "" when OPS_ADDR=off.
	OpsAddr string
	// LogFormat is "text" or "json"; "" picks text on a terminal, JSON
	// otherwise.
	LogFormat string
	Feedback  Feedback
	// WebhookAllowPrivate lets outbound webhook endpoints be on loopback
	// and private networks (tests; never in production).
	WebhookAllowPrivate bool
	Console             Console
	// TemplateMaxBytes bounds each rendered part of a message (subject,
	// text, HTML); TemplateTimeout bounds rendering one message.
	TemplateMaxBytes int
	TemplateTimeout  time.Duration
	Retention        Retention
	// RiverPollOnly makes River poll for jobs and leadership instead of
	// LISTENing (RIVER_POLL_ONLY): for PgBouncer in transaction mode, where
	// a LISTEN is lost with its transaction.
	RiverPollOnly bool
}

// Retention is how long finished work is kept.
type Retention struct {
	// Deliveries is how long final deliveries are kept
	// (DELIVERY_RETENTION): the prune_history job deletes older ones once
	// the insight rollup has covered them. No tier's cap window, min gap
	// or target interval may be longer (checked at start and when a tier
	// is saved).
	Deliveries time.Duration
	// River's Completed/Cancelled/DiscardedJobRetentionPeriod: how long
	// finished jobs stay in river_job; -1 keeps them for ever.
	RiverCompleted, RiverCancelled, RiverDiscarded time.Duration
}

// Feedback is where bounces and complaints come in, and the headers that
// help mailbox providers send them.
type Feedback struct {
	// BounceDomain makes every message's envelope sender
	// bounces+<signed delivery tag>@BounceDomain (VERP); "" keeps FROM.
	BounceDomain string
	// BounceSMTPAddr is where the bounce domain's mail server listens
	// (point its MX here); "" runs none.
	BounceSMTPAddr string
	// ListIDDomain names the lists in List-Id; FeedbackSender is the last
	// field of Feedback-ID.
	ListIDDomain, FeedbackSender string
	// Provider webhooks; each is off unless configured.
	SESTopicARNs      []string
	SNSCertHosts      []string // extra hosts allowed to serve SNS signing certificates
	SendGridKey       string   // the Event Webhook's ECDSA public key (base64 DER or PEM)
	PostmarkUser      string
	PostmarkPassword  string
	PostmarkToken     string // sent as the X-Postmark-Token header
	MailgunSigningKey string
}

// Console holds the web console's settings.
type Console struct {
	// IdleTimeout ends a session nobody has used for this long
	// (CONSOLE_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// Lifetime ends every session this long after its sign-in, however
	// busy (CONSOLE_SESSION_LIFETIME).
	Lifetime time.Duration
	// AdminEmail is the first admin user's address, created with a
	// one-time password on a fresh database (CONSOLE_ADMIN_EMAIL).
	AdminEmail string
}

// SMTP is the parsed SMTP_URL.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      string // "starttls" (default on 587), "tls" (implicit; default on 465), "none"
	Timeout  time.Duration
}

// DKIM holds the signing settings (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_KEY_FILE).
type DKIM struct {
	Domain   string
	Selector string
	KeyPEM   []byte
}

// String never shows the password, so a Config can be logged safely.
func (s SMTP) String() string {
	return fmt.Sprintf("smtp://%s:%d?tls=%s", s.Host, s.Port, s.TLS)
}

// Load reads the configuration through getenv and returns every problem at
// once. Secrets never appear in the messages.
func Load(getenv func(string) string) (*Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		DatabaseURL:       get("DATABASE_URL", ""),
		HTTPAddr:          get("HTTP_ADDR", "localhost:8080"),
		OutboxDir:         get("OUTBOX_DIR", "outbox"),
		CompanyName:       get("COMPANY_NAME", "Rapport Demo Inc."),
		CompanyAddress:    get("COMPANY_ADDRESS", "1 Example Street, 10115 Berlin, Germany"),
		EventsSecret:      getenv("EVENTS_SECRET"),
		BodyLimit:         get("BODY_LIMIT", "1M"),
		LogLevel:          get("LOG_LEVEL", "info"),
		ShutdownTimeout:   30 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL", "is required, e.g. postgres://user@localhost:5432/rapport")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "must be host:port such as localhost:8080 (%v)", err)
	}
	pub := get("PUBLIC_URL", "http://localhost:8080")
	if u, err := url.Parse(pub); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("PUBLIC_URL", "must be an absolute http(s) URL such as https://mail.example.com")
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		c.PublicURL = u
	}
	for _, k := range strings.Split(getenv("SECRET_KEY"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.SecretKeys = append(c.SecretKeys, k)
		}
	}
	switch {
	case len(c.SecretKeys) == 0:
		bad("SECRET_KEY", "is required: at least 32 random characters (several, comma-separated, to rotate; the first signs)")
	default:
		for i, k := range c.SecretKeys {
			if len(k) < 32 {
				bad("SECRET_KEY", "key %d is %d characters long; at least 32 are required", i+1, len(k))
			}
		}
	}
	if s := get("SMTP_URL", ""); s != "" {
		smtp, err := parseSMTP(s)
		if err != nil {
			bad("SMTP_URL", "%v", err)
		}
		c.SMTP = smtp
	}
	from := get("FROM", "Rapport <hello@example.com>")
	if a, err := mail.ParseAddress(from); err != nil {
		bad("FROM", "must be an address such as \"Rapport <hello@example.com>\" (%v)", err)
	} else {
		c.From = a
	}
	tz := get("DEFAULT_TIMEZONE", "UTC")
	if loc, ok := outreach.LoadZone(tz); ok {
		c.DefaultTimezone = loc
	} else if tz == "UTC" {
		c.DefaultTimezone = time.UTC
	} else {
		bad("DEFAULT_TIMEZONE", "unknown time zone %q: use an IANA name such as Europe/Berlin", tz)
	}
	c.SendWorkers = intVar(get, bad, "SEND_WORKERS", 16, 1, 512)
	// Every send worker holds one SMTP connection for its batch; fewer
	// connections than workers would leave claimed batches waiting.
	c.SMTPPoolSize = intVar(get, bad, "SMTP_POOL_SIZE", c.SendWorkers, 1, 512)
	c.SendBatch = intVar(get, bad, "SEND_BATCH", 200, 1, 1000)
	c.ClaimChunk = intVar(get, bad, "SEND_CLAIM_CHUNK", DefaultClaimChunk, 1, MaxClaimChunk)
	c.SoftBounceLimit = intVar(get, bad, "SOFT_BOUNCE_LIMIT", 3, 1, 100)
	if n, err := ParseSize(get("IMPORT_BODY_LIMIT", "1G")); err != nil || n < 1<<10 {
		bad("IMPORT_BODY_LIMIT", "must be a size such as 500M or 2G (at least 1K)")
	} else {
		c.ImportBodyLimit = n
	}
	if n, err := ParseSize(get("TEMPLATE_MAX_BYTES", "512K")); err != nil || n < 1<<10 || n > 64<<20 {
		bad("TEMPLATE_MAX_BYTES", "must be a size from 1K to 64M, such as 512K")
	} else {
		c.TemplateMaxBytes = int(n)
	}
	c.TemplateTimeout = 2 * time.Second
	if s := get("TEMPLATE_TIMEOUT", ""); s != "" {
		d, err := outreach.ParseDuration(s)
		if err != nil || d < 10*time.Millisecond || d > time.Minute {
			bad("TEMPLATE_TIMEOUT", "must be a duration from 10ms to 1m, such as 2s")
		} else {
			c.TemplateTimeout = d
		}
	}
	if _, err := ParseSize(c.BodyLimit); err != nil {
		bad("BODY_LIMIT", "must be a size such as 1M or 512K")
	}
	if c.EventsSecret != "" && len(c.EventsSecret) < 32 {
		// Like SECRET_KEY: the webhook's secret is all that stands between
		// anyone and the power to suppress every address.
		bad("EVENTS_SECRET", "must be at least 32 characters")
	}
	if j := get("DEFER_JITTER", "30m"); j != "" {
		d, err := outreach.ParseDuration(j)
		if err != nil || d < 0 {
			bad("DEFER_JITTER", "must be a duration such as 30m")
		}
		c.TierJitter = d
	}
	for _, cidr := range strings.Split(getenv("TRUSTED_PROXIES"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			bad("TRUSTED_PROXIES", "%q is not a CIDR such as 10.0.0.0/8", cidr)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	c.RescueAfter = 15 * time.Minute
	switch c.LogFormat = strings.ToLower(get("LOG_FORMAT", "")); c.LogFormat {
	case "", "text", "json":
	default:
		bad("LOG_FORMAT", "must be text or json")
	}
	c.Feedback = Feedback{BounceDomain: strings.ToLower(get("BOUNCE_DOMAIN", "")), BounceSMTPAddr: get("BOUNCE_SMTP_ADDR", ""),
		ListIDDomain: strings.ToLower(get("LIST_ID_DOMAIN", "")), FeedbackSender: get("FEEDBACK_ID_SENDER", "rapport"),
		SESTopicARNs: list(getenv("SES_TOPIC_ARNS")), SNSCertHosts: list(getenv("SNS_CERT_HOSTS")),
		SendGridKey: strings.TrimSpace(getenv("SENDGRID_WEBHOOK_KEY")), PostmarkUser: getenv("POSTMARK_WEBHOOK_USER"),
		PostmarkPassword: getenv("POSTMARK_WEBHOOK_PASSWORD"), PostmarkToken: getenv("POSTMARK_WEBHOOK_TOKEN"),
		MailgunSigningKey: getenv("MAILGUN_SIGNING_KEY")}
	if d := c.Feedback.BounceDomain; d != "" && (strings.ContainsAny(d, " @/:") || !strings.Contains(d, ".")) {
		bad("BOUNCE_DOMAIN", "must be a domain name such as bounces.example.com")
	}
	if a := c.Feedback.BounceSMTPAddr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("BOUNCE_SMTP_ADDR", "must be host:port such as :25 (%v)", err)
		}
		if c.Feedback.BounceDomain == "" {
			bad("BOUNCE_SMTP_ADDR", "needs BOUNCE_DOMAIN: the listener accepts mail for that domain only")
		}
	}
	if (c.Feedback.PostmarkUser == "") != (c.Feedback.PostmarkPassword == "") {
		bad("POSTMARK_WEBHOOK_USER", "and POSTMARK_WEBHOOK_PASSWORD go together")
	}
	if k := c.Feedback.MailgunSigningKey; k != "" && len(k) < 16 {
		bad("MAILGUN_SIGNING_KEY", "looks too short to be Mailgun's webhook signing key")
	}
	c.WebhookAllowPrivate = strings.EqualFold(get("WEBHOOK_ALLOW_PRIVATE", "false"), "true")
	switch v := strings.ToLower(get("RIVER_POLL_ONLY", "false")); v {
	case "true", "false":
		c.RiverPollOnly = v == "true"
	default:
		bad("RIVER_POLL_ONLY", "must be true or false")
	}
	if s := get("SHUTDOWN_TIMEOUT", ""); s != "" {
		d, err := outreach.ParseDuration(s)
		if err != nil || d < time.Second || d > time.Hour {
			bad("SHUTDOWN_TIMEOUT", "must be a duration from 1s to 1h, such as 30s")
		} else {
			c.ShutdownTimeout = d
		}
	}
	switch ops := get("OPS_ADDR", "localhost:9090"); {
	case strings.EqualFold(ops, "off"):
	default:
		if _, _, err := net.SplitHostPort(ops); err != nil {
			bad("OPS_ADDR", "must be host:port such as 127.0.0.1:9090, or off (%v)", err)
		}
		c.OpsAddr = ops
	}
	if s := get("RESCUE_AFTER", ""); s != "" {
		d, err := outreach.ParseDuration(s)
		if err != nil || d < time.Minute {
			bad("RESCUE_AFTER", "must be a duration of at least 1m, such as 15m")
		} else {
			c.RescueAfter = d
		}
	}
	if dk := loadDKIM(get, bad); dk != nil {
		c.DKIM = dk
	}
	if c.Feedback.ListIDDomain == "" && c.From != nil {
		c.Feedback.ListIDDomain = outreach.EmailDomain(c.From.Address)
	}
	c.Console = loadConsole(get, bad)
	c.Retention = loadRetention(get, bad)
	return c, errors.Join(errs...)
}

// loadConsole reads the console's settings. A session may idle at most as
// long as it may live; the bounds keep a typo (12s for 12h) from locking
// everyone out or leaving sessions open for ever.
func loadConsole(get func(string, string) string, bad func(string, string, ...any)) Console {
	c := Console{IdleTimeout: 30 * time.Minute, Lifetime: 12 * time.Hour, AdminEmail: get("CONSOLE_ADMIN_EMAIL", "admin@localhost")}
	dur := func(name string, def, lo, hi time.Duration) time.Duration {
		s := get(name, "")
		if s == "" {
			return def
		}
		d, err := outreach.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			bad(name, "must be a duration from %s to %s, such as %s", outreach.FormatDuration(lo), outreach.FormatDuration(hi), outreach.FormatDuration(def))
			return def
		}
		return d
	}
	c.IdleTimeout = dur("CONSOLE_IDLE_TIMEOUT", c.IdleTimeout, time.Minute, 24*time.Hour)
	c.Lifetime = dur("CONSOLE_SESSION_LIFETIME", c.Lifetime, 5*time.Minute, 30*24*time.Hour)
	if c.IdleTimeout > c.Lifetime {
		bad("CONSOLE_IDLE_TIMEOUT", "must not be longer than CONSOLE_SESSION_LIFETIME (%s)", outreach.FormatDuration(c.Lifetime))
	}
	if a, err := mail.ParseAddress(c.AdminEmail); err != nil || a.Address != c.AdminEmail {
		bad("CONSOLE_ADMIN_EMAIL", "must be a bare email address such as admin@example.com")
	}
	return c
}

// loadRetention reads how long deliveries and River's finished jobs are
// kept. River's defaults are written out so the figures are visible here
// and in the README, not only in River's source.
func loadRetention(get func(string, string) string, bad func(string, string, ...any)) Retention {
	day := 24 * time.Hour
	r := Retention{Deliveries: 400 * day, RiverCompleted: day, RiverCancelled: day, RiverDiscarded: 7 * day}
	dur := func(name string, def, lo, hi time.Duration, off bool) time.Duration {
		s := get(name, "")
		if s == "" {
			return def
		}
		if off && strings.EqualFold(s, "forever") {
			return -1
		}
		d, err := outreach.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			also := ""
			if off {
				also = ", or forever"
			}
			bad(name, "must be a duration from %s to %s, such as %s%s", outreach.FormatDuration(lo), outreach.FormatDuration(hi),
				outreach.FormatDuration(def), also)
			return def
		}
		return d
	}
	r.Deliveries = dur("DELIVERY_RETENTION", r.Deliveries, day, 100*366*day, false)
	r.RiverCompleted = dur("RIVER_COMPLETED_RETENTION", r.RiverCompleted, time.Minute, 366*day, true)
	r.RiverCancelled = dur("RIVER_CANCELLED_RETENTION", r.RiverCancelled, time.Minute, 366*day, true)
	r.RiverDiscarded = dur("RIVER_DISCARDED_RETENTION", r.RiverDiscarded, time.Minute, 366*day, true)
	return r
}

func intVar(get func(string, string) string, bad func(string, string, ...any), name string, def, lo, hi int) int {
	s := get(name, strconv.Itoa(def))
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		bad(name, "must be a whole number from %d to %d", lo, hi)
		return def
	}
	return n
}

func loadDKIM(get func(string, string) string, bad func(string, string, ...any)) *DKIM {
	file := get("DKIM_KEY_FILE", "")
	if file == "" {
		return nil
	}
	d := &DKIM{Domain: get("DKIM_DOMAIN", ""), Selector: get("DKIM_SELECTOR", "")}
	if d.Domain == "" || d.Selector == "" {
		bad("DKIM_DOMAIN/DKIM_SELECTOR", "are required when DKIM_KEY_FILE is set")
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		bad("DKIM_KEY_FILE", "cannot be read: %v", err)
		return nil
	}
	d.KeyPEM = pem
	return d
}

// parseSMTP reads smtp://user:pass@host:port?tls=starttls|tls|none&timeout=30s.
func parseSMTP(s string) (*SMTP, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("is not a URL such as smtp://user:pass@host:587?tls=starttls")
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, fmt.Errorf("scheme must be smtp or smtps, not %q", u.Scheme)
	}
	out := &SMTP{Host: u.Hostname(), TLS: "starttls", Timeout: 30 * time.Second}
	if out.Host == "" {
		return nil, errors.New("has no host")
	}
	if u.Scheme == "smtps" {
		out.TLS = "tls"
	}
	if t := u.Query().Get("tls"); t != "" {
		switch t {
		case "starttls", "tls", "none":
			out.TLS = t
		default:
			return nil, fmt.Errorf("tls must be starttls, tls or none, not %q", t)
		}
	}
	out.Port = 587
	if out.TLS == "tls" {
		out.Port = 465
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %q is not a port number", p)
		}
		out.Port = n
	}
	if t := u.Query().Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("timeout %q is not a duration such as 30s", t)
		}
		out.Timeout = d
	}
	if u.User != nil {
		out.Username = u.User.Username()
		out.Password, _ = u.User.Password()
	}
	return out, nil
}

// ParseSize reads "512K", "1M", "2G" or a plain number of bytes.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// list splits a comma-separated value, dropping empty items.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
