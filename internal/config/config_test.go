package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/jobs"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func valid() map[string]string {
	return map[string]string{
		"DATABASE_URL": "postgres://u@localhost:5432/rapport",
		"SECRET_KEY":   "0123456789abcdef0123456789abcdef",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(valid()))
	require.NoError(t, err)
	require.Nil(t, c.SMTP, "no SMTP_URL: outbox")
	require.Equal(t, "localhost:8080", c.HTTPAddr)
	require.Equal(t, "http://localhost:8080", c.PublicURL.String())
	require.Equal(t, 16, c.SendWorkers)
	require.Equal(t, jobs.DefaultClaimChunk, c.ClaimChunk)
}

// TestClaimChunk: SEND_CLAIM_CHUNK is read within the workers' own bounds.
func TestClaimChunk(t *testing.T) {
	require.Equal(t, jobs.MaxClaimChunk, MaxClaimChunk)
	for v, want := range map[string]int{"1": 1, "40": 40, "100": 100} {
		e := valid()
		e["SEND_CLAIM_CHUNK"] = v
		c, err := Load(env(e))
		require.NoError(t, err)
		require.Equal(t, want, c.ClaimChunk)
	}
	for _, v := range []string{"0", "101", "-3", "ten", "4.5"} {
		e := valid()
		e["SEND_CLAIM_CHUNK"] = v
		_, err := Load(env(e))
		require.ErrorContains(t, err, "SEND_CLAIM_CHUNK", v)
	}
}

func TestLoadSMTPURL(t *testing.T) {
	m := valid()
	m["SMTP_URL"] = "smtp://user:s3cr3t@mail.example.com:587?tls=starttls&timeout=10s"
	c, err := Load(env(m))
	require.NoError(t, err)
	require.Equal(t, "mail.example.com", c.SMTP.Host)
	require.Equal(t, 587, c.SMTP.Port)
	require.Equal(t, "user", c.SMTP.Username)
	require.Equal(t, "s3cr3t", c.SMTP.Password)
	require.NotContains(t, c.SMTP.String(), "s3cr3t", "the password never prints")
	m["SMTP_URL"] = "smtps://mail.example.com"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.Equal(t, 465, c.SMTP.Port)
	require.Equal(t, "tls", c.SMTP.TLS)
}

// TestLoadErrorsNameTheVariable checks that every bad value is reported at
// once, naming its variable, and that no secret appears in the message.
func TestLoadErrorsNameTheVariable(t *testing.T) {
	cases := map[string]string{
		"DATABASE_URL":          "mysql://nope",
		"SECRET_KEY":            "short-secret-value",
		"HTTP_ADDR":             "8080",
		"PUBLIC_URL":            "mail.example.com",
		"SMTP_URL":              "smtp://user:hunter2hunter2@host:99999",
		"FROM":                  "not an address",
		"DEFAULT_TIMEZONE":      "Mars/Olympus",
		"SEND_WORKERS":          "0",
		"TRUSTED_PROXIES":       "10.0.0.0/99",
		"LOG_LEVEL":             "loud",
		"RESCUE_AFTER":          "10s",
		"EVENTS_SECRET":         "tiny",
		"IMPORT_BODY_LIMIT":     "lots",
		"BODY_LIMIT":            "1 megabyte",
		"SHUTDOWN_TIMEOUT":      "forever",
		"OPS_ADDR":              "9090",
		"LOG_FORMAT":            "xml",
		"BOUNCE_DOMAIN":         "bounces@example",
		"BOUNCE_SMTP_ADDR":      "25",
		"POSTMARK_WEBHOOK_USER": "pm",
		"MAILGUN_SIGNING_KEY":   "key-short",

		"CONSOLE_IDLE_TIMEOUT":     "5s",
		"CONSOLE_SESSION_LIFETIME": "90d",
		"CONSOLE_ADMIN_EMAIL":      "Admin <admin@example.com>",
	}
	cases["TEMPLATE_MAX_BYTES"], cases["TEMPLATE_TIMEOUT"] = "100", "forever"
	_, err := Load(env(cases))
	require.Error(t, err)
	msg := err.Error()
	for name := range cases {
		require.Contains(t, msg, name+":", "the error names %s", name)
	}
	require.NotContains(t, msg, "short-secret-value")
	require.NotContains(t, msg, "hunter2")
	require.NotContains(t, msg, "tiny")
	_, err = Load(env(map[string]string{}))
	require.True(t, strings.Contains(err.Error(), "DATABASE_URL: is required"))
}

// TestOpsAndShutdown: the operations listener has a default and can be
// turned off; the shutdown timeout is configurable.
func TestOpsAndShutdown(t *testing.T) {
	m := map[string]string{"DATABASE_URL": "postgres://localhost/rapport", "SECRET_KEY": strings.Repeat("k", 32)}
	c, err := Load(env(m))
	require.NoError(t, err)
	require.Equal(t, "localhost:9090", c.OpsAddr)
	require.Equal(t, 30*time.Second, c.ShutdownTimeout)
	m["OPS_ADDR"], m["SHUTDOWN_TIMEOUT"] = "off", "2m"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.Empty(t, c.OpsAddr)
	require.Equal(t, 2*time.Minute, c.ShutdownTimeout)
}

// TestLoadFeedback: the bounce domain, its listener and the provider
// webhooks are off unless set; List-Id takes FROM's domain by default.
func TestLoadFeedback(t *testing.T) {
	m := valid()
	m["FROM"] = "News <news@shop.example.com>"
	c, err := Load(env(m))
	require.NoError(t, err)
	require.Equal(t, Feedback{ListIDDomain: "shop.example.com", FeedbackSender: "rapport"}, c.Feedback)
	require.False(t, c.WebhookAllowPrivate)

	m["BOUNCE_DOMAIN"] = "Bounces.Example.com"
	m["BOUNCE_SMTP_ADDR"] = ":2525"
	m["SES_TOPIC_ARNS"] = "arn:aws:sns:eu-west-1:1:a, arn:aws:sns:eu-west-1:1:b,"
	m["LOG_FORMAT"] = "JSON"
	m["WEBHOOK_ALLOW_PRIVATE"] = "true"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.Equal(t, "bounces.example.com", c.Feedback.BounceDomain)
	require.Equal(t, []string{"arn:aws:sns:eu-west-1:1:a", "arn:aws:sns:eu-west-1:1:b"}, c.Feedback.SESTopicARNs)
	require.Equal(t, "json", c.LogFormat)
	require.True(t, c.WebhookAllowPrivate)

	delete(m, "BOUNCE_DOMAIN")
	_, err = Load(env(m))
	require.ErrorContains(t, err, "BOUNCE_SMTP_ADDR: needs BOUNCE_DOMAIN")
}

func TestLoadConsole(t *testing.T) {
	c, err := Load(env(valid()))
	require.NoError(t, err)
	require.Equal(t, Console{IdleTimeout: 30 * time.Minute, Lifetime: 12 * time.Hour, AdminEmail: "admin@localhost"}, c.Console)

	m := valid()
	m["CONSOLE_IDLE_TIMEOUT"], m["CONSOLE_SESSION_LIFETIME"], m["CONSOLE_ADMIN_EMAIL"] = "10m", "1d", "ops@example.com"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.Equal(t, Console{IdleTimeout: 10 * time.Minute, Lifetime: 24 * time.Hour, AdminEmail: "ops@example.com"}, c.Console)

	m["CONSOLE_IDLE_TIMEOUT"], m["CONSOLE_SESSION_LIFETIME"] = "2h", "1h"
	_, err = Load(env(m))
	require.ErrorContains(t, err, "CONSOLE_IDLE_TIMEOUT: must not be longer than CONSOLE_SESSION_LIFETIME (1h)")
}

// TestTemplateLimits: every render is bounded by default, configurably.
func TestTemplateLimits(t *testing.T) {
	c, err := Load(env(valid()))
	require.NoError(t, err)
	require.Equal(t, 512<<10, c.TemplateMaxBytes)
	require.Equal(t, 2*time.Second, c.TemplateTimeout)
	m := valid()
	m["TEMPLATE_MAX_BYTES"], m["TEMPLATE_TIMEOUT"] = "2M", "500ms"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.Equal(t, 2<<20, c.TemplateMaxBytes)
	require.Equal(t, 500*time.Millisecond, c.TemplateTimeout)
}

// TestEventsSecretLength: the webhook's secret is as long as SECRET_KEY
// must be.
func TestEventsSecretLength(t *testing.T) {
	m := valid()
	m["EVENTS_SECRET"] = "0123456789abcdef0123456789abcde" // 31
	_, err := Load(env(m))
	require.ErrorContains(t, err, "EVENTS_SECRET: must be at least 32 characters")
	m["EVENTS_SECRET"] += "f"
	c, err := Load(env(m))
	require.NoError(t, err)
	require.Len(t, c.EventsSecret, 32)
}

func TestLoadRetention(t *testing.T) {
	day := 24 * time.Hour
	c, err := Load(env(valid()))
	require.NoError(t, err)
	require.Equal(t, Retention{Deliveries: 400 * day, RiverCompleted: day, RiverCancelled: day, RiverDiscarded: 7 * day}, c.Retention)

	m := valid()
	m["DELIVERY_RETENTION"], m["RIVER_COMPLETED_RETENTION"], m["RIVER_CANCELLED_RETENTION"], m["RIVER_DISCARDED_RETENTION"] = "730d", "1h", "forever", "30d"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.Equal(t, Retention{Deliveries: 730 * day, RiverCompleted: time.Hour, RiverCancelled: -1, RiverDiscarded: 30 * day}, c.Retention)

	m["DELIVERY_RETENTION"], m["RIVER_DISCARDED_RETENTION"] = "forever", "0s"
	_, err = Load(env(m))
	require.ErrorContains(t, err, "DELIVERY_RETENTION: must be a duration from 1d")
	require.ErrorContains(t, err, "RIVER_DISCARDED_RETENTION: must be a duration from 1m")
}

func TestLoadRiverPollOnly(t *testing.T) {
	c, err := Load(env(valid()))
	require.NoError(t, err)
	require.False(t, c.RiverPollOnly, "LISTEN/NOTIFY unless asked")
	m := valid()
	m["RIVER_POLL_ONLY"] = "TRUE"
	c, err = Load(env(m))
	require.NoError(t, err)
	require.True(t, c.RiverPollOnly)
	m["RIVER_POLL_ONLY"] = "yes please"
	_, err = Load(env(m))
	require.ErrorContains(t, err, "RIVER_POLL_ONLY: must be true or false")
}
