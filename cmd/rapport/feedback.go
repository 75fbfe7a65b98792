package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rapport-dev/rapport/internal/api"
	"github.com/rapport-dev/rapport/internal/config"
	"github.com/rapport-dev/rapport/internal/esp"
	"github.com/rapport-dev/rapport/internal/inbound"
)

// providers builds the provider webhooks the configuration turns on.
func providers(cfg *config.Config, apply api.FeedbackApplier) (api.Providers, error) {
	f := cfg.Feedback
	p := api.Providers{Feedback: apply}
	if len(f.SESTopicARNs) > 0 {
		p.SNS = &esp.SNS{TopicARNs: f.SESTopicARNs, CertHosts: f.SNSCertHosts}
		p.SNSDoer = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if f.SendGridKey != "" {
		k, err := esp.ParseSendGridKey(f.SendGridKey)
		if err != nil {
			return p, fmt.Errorf("SENDGRID_WEBHOOK_KEY: %w", err)
		}
		p.SendGrid = &esp.SendGrid{PublicKey: k}
	}
	if f.PostmarkUser != "" || f.PostmarkToken != "" {
		p.Postmark = &esp.Postmark{Username: f.PostmarkUser, Password: f.PostmarkPassword}
		if f.PostmarkToken != "" {
			p.Postmark.HeaderName, p.Postmark.HeaderValue = "X-Postmark-Token", f.PostmarkToken
		}
	}
	if f.MailgunSigningKey != "" {
		p.Mailgun = &esp.Mailgun{SigningKey: f.MailgunSigningKey}
	}
	return p, nil
}

// serveBounces runs the bounce domain's SMTP listener until ctx ends, when
// BOUNCE_SMTP_ADDR is set; it returns once the listener is up.
func (a *app) serveBounces(ctx context.Context) error {
	f := a.cfg.Feedback
	if f.BounceSMTPAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", f.BounceSMTPAddr)
	if err != nil {
		return fmt.Errorf("BOUNCE_SMTP_ADDR: listen on %s: %w", f.BounceSMTPAddr, err)
	}
	srv := inbound.New(inbound.Config{Domain: f.BounceDomain, Hostname: f.BounceDomain, Log: a.log}, a.feedback)
	a.log.Info("bounce listener", "addr", ln.Addr().String(), "domain", f.BounceDomain)
	go func() {
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			a.log.Error("bounce listener stopped", "error", err.Error())
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}
