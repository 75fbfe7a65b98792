package feedback_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/feedback"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/token"
)

// store is an in-memory feedback.Store that records what it is asked.
type store struct {
	mu         sync.Mutex
	deliveries map[int64]postgres.DeliveryRecipient
	lookups    []int64
	recorded   []postgres.Feedback
	softLimit  int
	window     time.Duration
	duplicate  bool  // RecordFeedback says the report was seen before
	lookupErr  error // DeliveryRecipient fails with it
	recordErr  error // RecordFeedback fails with it
}

func (s *store) DeliveryRecipient(_ context.Context, id int64) (postgres.DeliveryRecipient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups = append(s.lookups, id)
	if s.lookupErr != nil {
		return postgres.DeliveryRecipient{}, s.lookupErr
	}
	d, ok := s.deliveries[id]
	if !ok {
		return postgres.DeliveryRecipient{}, outreach.Errorf(outreach.ENOTFOUND, "delivery: not found")
	}
	return d, nil
}

func (s *store) RecordFeedback(_ context.Context, f postgres.Feedback, softLimit int, window time.Duration) (postgres.FeedbackResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recordErr != nil {
		return postgres.FeedbackResult{}, s.recordErr
	}
	s.recorded = append(s.recorded, f)
	s.softLimit, s.window = softLimit, window
	return postgres.FeedbackResult{Duplicate: s.duplicate}, nil
}

// counter is a feedback.Counter recording "source/outcome".
type counter struct {
	mu   sync.Mutex
	seen []string
}

func (c *counter) Feedback(source, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, source+"/"+outcome)
}

const installation = "k3x9"

type bundle struct {
	svc     *feedback.Service
	store   *store
	counter *counter
	signer  *token.Signer
}

// setup returns a service over a store holding delivery 42, sent to
// jane.doe@example.org.
func setup(t *testing.T) *bundle {
	t.Helper()
	signer, err := token.New([]string{strings.Repeat("s", 32)})
	require.NoError(t, err)
	st := &store{deliveries: map[int64]postgres.DeliveryRecipient{
		42: {DeliveryID: 42, CampaignID: 7, ContactID: 9, State: outreach.DeliverySent, Email: "jane.doe@example.org"},
	}}
	c := &counter{}
	return &bundle{svc: &feedback.Service{Store: st, Signer: signer, Installation: installation, Counter: c},
		store: st, counter: c, signer: signer}
}

func TestApply(t *testing.T) {
	t.Parallel()
	ourID := mailer.MessageID(42, 7, installation, "example.com")
	otherKey, err := token.New([]string{strings.Repeat("o", 32)})
	require.NoError(t, err)
	tag := func(b *bundle) string { return b.signer.BounceTag(42) }

	tests := []struct {
		name     string
		report   func(b *bundle) feedback.Report
		prepare  func(b *bundle)
		want     feedback.Outcome
		wantErr  bool
		recorded *postgres.Feedback // what reaches RecordFeedback; nil: it is not called
		counted  string             // the outcome the Counter receives
	}{
		{
			name: "valid VERP tag",
			report: func(b *bundle) feedback.Report {
				// The address a bounce names may be a forwarding target: the
				// signed tag decides, and the delivery's recipient is recorded.
				return feedback.Report{Source: "dsn", EventID: "ev1", Kind: "hard_bounce", Tag: tag(b),
					Email: "forwarded@elsewhere.example", Detail: "5.1.1 user unknown"}
			},
			want: feedback.Applied,
			recorded: &postgres.Feedback{Kind: "hard_bounce", Source: "dsn", EventID: "ev1", DeliveryID: 42,
				Email: "jane.doe@example.org", Detail: "5.1.1 user unknown"},
			counted: "applied",
		},
		{
			name: "VERP tag upper-cased on the way back",
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "soft_bounce", Tag: strings.ToUpper(tag(b))}
			},
			want:     feedback.Applied,
			recorded: &postgres.Feedback{Kind: "soft_bounce", Source: "dsn", DeliveryID: 42, Email: "jane.doe@example.org"},
			counted:  "applied",
		},
		{
			name: "altered VERP tag",
			report: func(b *bundle) feedback.Report {
				good := tag(b)
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: good[:len(good)-1] + flip(good[len(good)-1]),
					Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "VERP tag naming another delivery with this one's MAC",
			report: func(b *bundle) feedback.Report {
				_, mac, _ := strings.Cut(tag(b), "-")
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: "16-" + mac, Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "VERP tag signed with another key",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "complaint", Tag: otherKey.BounceTag(42), Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "valid VERP tag of a delivery that is gone",
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: b.signer.BounceTag(43), Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "forged VERP tag, our Message-ID with its recipient",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: "16-aaaaaaaaaaaaaaaa", MessageID: ourID,
					Email: "jane.doe@example.org"}
			},
			want:     feedback.Applied,
			recorded: &postgres.Feedback{Kind: "hard_bounce", Source: "dsn", DeliveryID: 42, Email: "jane.doe@example.org"},
			counted:  "applied",
		},
		{
			name: "our Message-ID, recipient matches",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "complaint", MessageID: "<" + ourID + ">", Email: " Jane.Doe@Example.org "}
			},
			want:     feedback.Applied,
			recorded: &postgres.Feedback{Kind: "complaint", Source: "dsn", DeliveryID: 42, Email: "jane.doe@example.org"},
			counted:  "applied",
		},
		{
			name: "Message-ID of another installation",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", MessageID: mailer.MessageID(42, 7, "zz99", "example.com"),
					Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "our Message-ID, another recipient",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", MessageID: ourID, Email: "someone.else@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "our Message-ID, no recipient",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", MessageID: ourID}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "authenticated, our Message-ID, another recipient",
			report: func(*bundle) feedback.Report {
				// Believed, and tied to the delivery: its recipient is recorded.
				return feedback.Report{Source: "ses", Kind: "hard_bounce", MessageID: ourID, Email: "someone.else@example.org",
					Authenticated: true}
			},
			want:     feedback.Applied,
			recorded: &postgres.Feedback{Kind: "hard_bounce", Source: "ses", DeliveryID: 42, Email: "jane.doe@example.org"},
			counted:  "applied",
		},
		{
			name: "authenticated, only an email",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "postmark", EventID: "pm-1", Kind: "complaint", Email: "bob@example.com",
					Authenticated: true}
			},
			want:     feedback.Applied,
			recorded: &postgres.Feedback{Kind: "complaint", Source: "postmark", EventID: "pm-1", Email: "bob@example.com"},
			counted:  "applied",
		},
		{
			name: "authenticated, an invalid email",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "webhook", Kind: "hard_bounce", Email: "not an address", Authenticated: true}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "authenticated, nothing at all",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "webhook", Kind: "hard_bounce", Authenticated: true}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "unauthenticated, only an email",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name:    "no signer: a tag names nothing",
			prepare: func(b *bundle) { b.svc.Signer = nil },
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: tag(b), Email: "jane.doe@example.org"}
			},
			want:    feedback.Unmatched,
			counted: "unmatched",
		},
		{
			name: "auto-reply",
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "auto_reply", Tag: tag(b), MessageID: ourID, Email: "jane.doe@example.org"}
			},
			want:    feedback.Ignored,
			counted: "ignored",
		},
		{
			name: "delivery notice",
			report: func(*bundle) feedback.Report {
				return feedback.Report{Source: "sendgrid", Kind: "delivered", Email: "jane.doe@example.org", Authenticated: true}
			},
			want:    feedback.Ignored,
			counted: "ignored",
		},
		{
			name: "unknown kind",
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "unknown", Tag: tag(b)}
			},
			want:    feedback.Ignored,
			counted: "ignored",
		},
		{
			name: "kind in another case",
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "Hard_Bounce", Tag: tag(b)}
			},
			want:    feedback.Ignored,
			counted: "ignored",
		},
		{
			name:    "duplicate",
			prepare: func(b *bundle) { b.store.duplicate = true },
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "mailgun", EventID: "mg-1", Kind: "hard_bounce", Tag: tag(b)}
			},
			want:     feedback.Duplicate,
			recorded: &postgres.Feedback{Kind: "hard_bounce", Source: "mailgun", EventID: "mg-1", DeliveryID: 42, Email: "jane.doe@example.org"},
			counted:  "duplicate",
		},
		{
			name:    "store fails recording",
			prepare: func(b *bundle) { b.store.recordErr = errors.New("database down") },
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: tag(b)}
			},
			wantErr: true,
			counted: "error",
		},
		{
			name:    "store fails finding the delivery",
			prepare: func(b *bundle) { b.store.lookupErr = errors.New("database down") },
			report: func(b *bundle) feedback.Report {
				return feedback.Report{Source: "dsn", Kind: "hard_bounce", Tag: tag(b)}
			},
			wantErr: true,
			counted: "error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tt.prepare != nil {
				tt.prepare(b)
			}
			out, err := b.svc.Apply(context.Background(), tt.report(b))
			if tt.wantErr {
				require.Error(t, err)
				require.Empty(t, out)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.want, out)
			}
			if tt.recorded == nil {
				require.Empty(t, b.store.recorded, "RecordFeedback must not be called")
			} else {
				require.Equal(t, []postgres.Feedback{*tt.recorded}, b.store.recorded)
			}
			source := tt.report(b).Source
			require.Equal(t, []string{source + "/" + tt.counted}, b.counter.seen)
		})
	}
}

// TestApplyLooksUpOnlyWhatItMayAct reports that neither a forged tag nor a
// foreign Message-ID, nor a report to ignore, costs a database lookup.
func TestApplyLooksUpOnlyWhatItMayAct(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := b.signer.BounceTag(42)
	for _, r := range []feedback.Report{
		{Source: "dsn", Kind: "hard_bounce", Tag: "zz-" + good[3:]},
		{Source: "dsn", Kind: "hard_bounce", Tag: "not a tag at all"},
		{Source: "dsn", Kind: "hard_bounce", MessageID: mailer.MessageID(42, 7, "zz99", "example.com")},
		{Source: "dsn", Kind: "hard_bounce", MessageID: "<CAF=abc@mail.gmail.com>"},
		{Source: "dsn", Kind: "auto_reply", Tag: good},
	} {
		_, err := b.svc.Apply(context.Background(), r)
		require.NoError(t, err)
	}
	require.Empty(t, b.store.lookups)
	require.Empty(t, b.store.recorded)
}

func TestApplyLimits(t *testing.T) {
	t.Parallel()
	r := feedback.Report{Source: "webhook", Kind: "soft_bounce", Email: "bob@example.com", Authenticated: true}

	b := setup(t)
	b.svc.Counter = nil // optional
	_, err := b.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, 3, b.store.softLimit)
	require.Equal(t, 30*24*time.Hour, b.store.window)

	b = setup(t)
	b.svc.SoftLimit, b.svc.Window = 5, 7*24*time.Hour
	_, err = b.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, 5, b.store.softLimit)
	require.Equal(t, 7*24*time.Hour, b.store.window)
}

// flip returns a different character of the tag alphabet.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
