// Package endpoints registers the company's webhook endpoints, the
// receivers (a CRM, a data warehouse) of rapport's events: it checks the
// URL and the event types, makes the signing secret and keeps it sealed.
// The API and the console both register endpoints through it; delivering
// to them is jobs.WebhookDispatchWorker's work.
package endpoints

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/webhook"
)

// Store keeps endpoints (postgres.Store).
type Store interface {
	CreateWebhookEndpoint(ctx context.Context, actor string, e postgres.WebhookEndpoint) (postgres.WebhookEndpoint, error)
	UpdateWebhookEndpoint(ctx context.Context, actor string, id int64, change func(*postgres.WebhookEndpoint) error) (postgres.WebhookEndpoint, error)
}

// Sealer encrypts a secret for storage (token.Signer).
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
}

// Service registers and changes endpoints.
type Service struct {
	store        Store
	sealer       Sealer
	clock        outreach.Clock
	allowPrivate bool
}

// New returns the service. allowPrivate accepts http URLs and private
// addresses (WEBHOOK_ALLOW_PRIVATE, for development and tests only).
func New(store Store, sealer Sealer, clock outreach.Clock, allowPrivate bool) *Service {
	if clock == nil {
		clock = outreach.SystemClock{}
	}
	return &Service{store: store, sealer: sealer, clock: clock, allowPrivate: allowPrivate}
}

// Draft is what a caller sets on an endpoint.
type Draft struct {
	URL         string
	Events      []string
	Description string
}

// maxDescription bounds an endpoint's description.
const maxDescription = 500

// check validates a draft, every problem named by its field.
func (s *Service) check(d *Draft) error {
	var fields []outreach.FieldError
	d.URL = strings.TrimSpace(d.URL)
	if err := webhook.ValidateURL(d.URL, s.allowPrivate); err != nil {
		msg := err.Error()
		if !errors.Is(err, webhook.ErrInvalidURL) {
			msg = "is not a URL rapport can deliver to: " + msg
		}
		fields = append(fields, outreach.FieldError{Field: "url", Message: msg})
	}
	if err := checkEvents(d.Events); err != nil {
		fields = append(fields, outreach.FieldError{Field: "events", Message: err.Error()})
	}
	if len(d.Description) > maxDescription || !outreach.PrintableText(d.Description) {
		fields = append(fields, outreach.FieldError{Field: "description", Message: "must be printable text of at most 500 bytes"})
	}
	if len(fields) > 0 {
		return &outreach.Error{Code: outreach.EINVALID, Message: "the endpoint is not valid", Fields: fields}
	}
	d.Events = slices.Compact(slices.Sorted(slices.Values(d.Events)))
	return nil
}

func checkEvents(events []string) error {
	if len(events) == 0 {
		return errors.New("must name at least one event type: " + strings.Join(postgres.WebhookEventTypes, ", "))
	}
	for _, e := range events {
		if !slices.Contains(postgres.WebhookEventTypes, e) {
			return errors.New("has an unknown event type " + quote(e) + "; known: " + strings.Join(postgres.WebhookEventTypes, ", "))
		}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "\uFFFD") + `"`
}

// Create registers an endpoint and returns it with its signing secret,
// which is shown this once: only its sealed form is kept.
func (s *Service) Create(ctx context.Context, actor string, d Draft) (postgres.WebhookEndpoint, string, error) {
	if err := s.check(&d); err != nil {
		return postgres.WebhookEndpoint{}, "", err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return postgres.WebhookEndpoint{}, "", err
	}
	sealed, err := s.sealer.Seal([]byte(secret))
	if err != nil {
		return postgres.WebhookEndpoint{}, "", err
	}
	e, err := s.store.CreateWebhookEndpoint(ctx, actor, postgres.WebhookEndpoint{URL: d.URL, Events: d.Events,
		SecretSealed: sealed, Description: d.Description})
	return e, secret, err
}

// Change is a partial update; nil fields stay as they are.
type Change struct {
	URL         *string
	Events      []string // nil: unchanged
	Description *string
	// Enabled re-enables a disabled endpoint (its pending messages are
	// delivered again, in order) or disables one by hand.
	Enabled *bool
}

// Update applies a change.
func (s *Service) Update(ctx context.Context, actor string, id int64, c Change) (postgres.WebhookEndpoint, error) {
	return s.store.UpdateWebhookEndpoint(ctx, actor, id, func(e *postgres.WebhookEndpoint) error {
		d := Draft{URL: e.URL, Events: e.Events, Description: e.Description}
		if c.URL != nil {
			d.URL = *c.URL
		}
		if c.Events != nil {
			d.Events = c.Events
		}
		if c.Description != nil {
			d.Description = *c.Description
		}
		if err := s.check(&d); err != nil {
			return err
		}
		e.URL, e.Events, e.Description = d.URL, d.Events, d.Description
		if c.Enabled != nil {
			switch {
			case *c.Enabled:
				e.DisabledAt = nil
			case e.DisabledAt == nil:
				now := s.clock.Now()
				e.DisabledAt, e.DisabledReason = &now, "disabled by "+actor
			}
		}
		return nil
	})
}

// Status names an endpoint's state for display.
func Status(e postgres.WebhookEndpoint, now time.Time) string {
	switch {
	case e.DisabledAt != nil:
		return "disabled"
	case e.FailingSince != nil:
		return "failing"
	}
	return "active"
}
