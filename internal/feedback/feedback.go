// Package feedback applies bounce and complaint reports, whatever their
// source — a bounce message to a VERP address (internal/inbound), a
// provider's webhook (internal/esp, through the API), the generic events
// webhook — through the store's one feedback path, tied to the delivery
// they are about whenever the report allows.
package feedback

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/token"
)

// Store is where reports are applied (postgres.Store).
type Store interface {
	DeliveryRecipient(ctx context.Context, id int64) (postgres.DeliveryRecipient, error)
	RecordFeedback(ctx context.Context, f postgres.Feedback, softLimit int, window time.Duration) (postgres.FeedbackResult, error)
}

// Counter counts reports by source and outcome (metrics.Registry); nil:
// none.
type Counter interface {
	Feedback(source, outcome string)
}

// Service applies reports.
type Service struct {
	Store  Store
	Signer *token.Signer // verifies VERP tags
	// Installation is this installation's id: only its Message-IDs are
	// mapped back to deliveries.
	Installation string
	SoftLimit    int           // soft bounces within Window that suppress; 0 means 3
	Window       time.Duration // 0 means 30 days
	Log          *slog.Logger
	Counter      Counter
}

// Report is one bounce or complaint report.
type Report struct {
	Source string // "dsn", "ses", "sendgrid", "postmark", "mailgun", "webhook"
	// EventID is the source's id for the report, so a retry changes
	// nothing; empty: none.
	EventID string
	// Kind is hard_bounce, soft_bounce or complaint; anything else is
	// ignored (an auto-reply, a delivery notice).
	Kind string
	// Email is the address the report names; MessageID the original
	// message's Message-ID and Tag its VERP tag, when the report has them.
	Email, MessageID, Tag string
	Detail                string
	// Authenticated: the source proved who it is (a provider's signature),
	// so a report naming only an address is believed. A bounce message is
	// not authenticated: it must carry a valid VERP tag, or one of our
	// Message-IDs whose recipient is the address it names.
	Authenticated bool
}

// Outcome is what became of a report.
type Outcome string

// Outcomes.
const (
	Applied   Outcome = "applied"
	Duplicate Outcome = "duplicate" // seen before (a provider's retry)
	Ignored   Outcome = "ignored"   // not a bounce or complaint
	Unmatched Outcome = "unmatched" // names no delivery or contact it may act on
)

// Apply applies one report.
func (s *Service) Apply(ctx context.Context, r Report) (Outcome, error) {
	out, err := s.apply(ctx, r)
	if s.Counter != nil {
		o := string(out)
		if err != nil {
			o = "error"
		}
		s.Counter.Feedback(r.Source, o)
	}
	return out, err
}

func (s *Service) apply(ctx context.Context, r Report) (Outcome, error) {
	switch r.Kind {
	case postgres.FeedbackHardBounce, postgres.FeedbackSoftBounce, postgres.FeedbackComplaint:
	default:
		return Ignored, nil
	}
	f := postgres.Feedback{Kind: r.Kind, Source: r.Source, EventID: r.EventID, Detail: r.Detail}
	rcpt, found, err := s.delivery(ctx, r)
	if err != nil {
		return "", err
	}
	switch {
	case found:
		f.DeliveryID, f.Email = rcpt.DeliveryID, rcpt.Email
	case r.Authenticated:
		f.Email = r.Email
	default:
		s.log().Info("bounce report matches no delivery; ignored", "source", r.Source, "kind", r.Kind)
		return Unmatched, nil
	}
	if _, ok := outreach.NormalizeEmail(f.Email); !ok {
		return Unmatched, nil
	}
	res, err := s.Store.RecordFeedback(ctx, f, s.softLimit(), s.window())
	if err != nil {
		return "", err
	}
	if res.Duplicate {
		return Duplicate, nil
	}
	return Applied, nil
}

// delivery finds the delivery a report is about: by its VERP tag (signed:
// a forged one names nothing), else by our Message-ID — for a report that
// is not authenticated, only when the recipient it names is the
// delivery's.
func (s *Service) delivery(ctx context.Context, r Report) (postgres.DeliveryRecipient, bool, error) {
	var id int64
	if r.Tag != "" && s.Signer != nil {
		if d, err := s.Signer.VerifyBounceTag(r.Tag); err == nil {
			id = d
		}
	}
	byMessageID := false
	if id == 0 && r.MessageID != "" {
		if d, ok := mailer.ParseMessageID(r.MessageID, s.Installation); ok {
			id, byMessageID = d, true
		}
	}
	if id == 0 {
		return postgres.DeliveryRecipient{}, false, nil
	}
	rcpt, err := s.Store.DeliveryRecipient(ctx, id)
	if outreach.ErrorCode(err) == outreach.ENOTFOUND {
		return rcpt, false, nil
	}
	if err != nil {
		return rcpt, false, err
	}
	if byMessageID && !r.Authenticated && !strings.EqualFold(strings.TrimSpace(r.Email), rcpt.Email) && !redactedComplaint(r) {
		return rcpt, false, nil
	}
	return rcpt, true, nil
}

// redactedComplaint reports a complaint that names no usable address:
// feedback loops (Yahoo, Outlook JMRP) redact the recipient, so our
// Message-ID — 40 random bits of the installation plus the delivery, seen
// only by whoever received the message — is all there is to go by. A
// report naming some other valid address is still refused.
func redactedComplaint(r Report) bool {
	if r.Kind != postgres.FeedbackComplaint {
		return false
	}
	_, ok := outreach.NormalizeEmail(r.Email)
	return !ok
}

func (s *Service) softLimit() int {
	if s.SoftLimit > 0 {
		return s.SoftLimit
	}
	return 3
}

func (s *Service) window() time.Duration {
	if s.Window > 0 {
		return s.Window
	}
	return 30 * 24 * time.Hour
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
