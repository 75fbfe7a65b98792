package insight

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	day      = 24 * time.Hour
	driftNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tiers    = []TierRef{{"high", 30, 14 * day}, {"low", 10, 90 * day}, {"medium", 20, 30 * day}}
)

func ago(d time.Duration) time.Time { return driftNow.Add(-d) }

func TestDrift(t *testing.T) {
	t.Parallel()
	recent := ago(3 * day)
	for _, c := range []struct {
		name       string
		in         DriftInput
		to, toward string
		confidence string
		texts      []string
	}{
		{name: "nothing to say", in: DriftInput{Assigned: "medium", Created: ago(100 * day), LastSent: &recent}},
		{name: "a preference kept 40 days", to: "medium", toward: "further", confidence: "medium",
			in:    DriftInput{Assigned: "high", Preferred: "low", ChoseAt: ago(40 * day), Created: ago(400 * day), LastSent: &recent},
			texts: []string{"chose `low` as preferred frequency 40 days ago while assigned `high`"}},
		{name: "a fresh preference is not drift yet",
			in: DriftInput{Assigned: "high", Preferred: "low", ChoseAt: ago(5 * day), Created: ago(400 * day), LastSent: &recent}},
		{name: "paused twice and a preference", to: "medium", toward: "further", confidence: "high",
			in: DriftInput{Assigned: "high", Preferred: "medium", ChoseAt: ago(31 * day), Created: ago(400 * day), LastSent: &recent,
				Pauses: []Fact{{Kind: "pause", ID: 1, At: ago(80 * day)}, {Kind: "pause", ID: 2, At: ago(10 * day)}}},
			texts: []string{"chose `medium` as preferred frequency 31 days ago while assigned `high`", "paused twice in 90 days"}},
		{name: "a pause outside the window does not count",
			in: DriftInput{Assigned: "high", Created: ago(400 * day), LastSent: &recent,
				Pauses: []Fact{{Kind: "pause", ID: 1, At: ago(91 * day)}, {Kind: "pause", ID: 2, At: ago(10 * day)}}}},
		{name: "overdue", to: "medium", toward: "further", confidence: "medium",
			in:    DriftInput{Assigned: "high", Created: ago(400 * day), LastSent: ptr(ago(29 * day))},
			texts: []string{"overdue: no message for 29 days, 2× the target interval of `high` (14 days)"}},
		{name: "never written to", to: "low", toward: "further", confidence: "medium",
			in:    DriftInput{Assigned: "medium", Created: ago(61 * day)},
			texts: []string{"overdue: never written to for 61 days, 2× the target interval of `medium` (30 days)"}},
		{name: "purchases and a meeting", to: "medium", toward: "closer", confidence: "medium",
			in: DriftInput{Assigned: "low", Created: ago(400 * day), LastSent: &recent, Signals: []Fact{
				{Kind: "purchase", ID: 1, At: ago(50 * day)}, {Kind: "purchase", ID: 2, At: ago(20 * day)},
				{Kind: "meeting", ID: 3, At: ago(2 * day)}, {Kind: "purchase", ID: 4, At: ago(1 * day)},
				{Kind: "support_ticket", ID: 5, At: ago(1 * day)}, {Kind: "purchase", ID: 6, At: ago(70 * day)}}},
			texts: []string{"3 purchases and a meeting in 60 days while assigned `low`"}},
		{name: "no tier above high",
			in: DriftInput{Assigned: "high", Created: ago(400 * day), LastSent: &recent, Signals: []Fact{
				{Kind: "reply", ID: 1, At: ago(5 * day)}, {Kind: "reply", ID: 2, At: ago(4 * day)}, {Kind: "meeting", ID: 3, At: ago(3 * day)}}}},
		{name: "up and down cancel out",
			in: DriftInput{Assigned: "medium", Created: ago(400 * day), LastSent: &recent,
				Pauses:  []Fact{{Kind: "pause", ID: 1, At: ago(30 * day)}, {Kind: "pause", ID: 2, At: ago(10 * day)}},
				Signals: []Fact{{Kind: "reply", ID: 3, At: ago(5 * day)}, {Kind: "reply", ID: 4, At: ago(4 * day)}, {Kind: "meeting", ID: 5, At: ago(3 * day)}}}},
		{name: "topic opt-outs", to: "low", toward: "further", confidence: "medium",
			in: DriftInput{Assigned: "medium", Created: ago(400 * day), LastSent: &recent,
				OptOuts: []Fact{{Kind: "topic_opt_out", ID: 7, At: ago(30 * day), Detail: "offers"}, {Kind: "topic_opt_out", ID: 7, At: ago(30 * day), Detail: "events"}}},
			texts: []string{"opted out of 2 topics in 90 days"}},
		{name: "unknown tier", in: DriftInput{Assigned: "gold", Created: ago(400 * day)}},
	} {
		s, ok := Drift(c.in, tiers, DefaultThresholds(), driftNow)
		if c.to == "" {
			require.False(t, ok, "%s: %+v", c.name, s)
			continue
		}
		require.True(t, ok, c.name)
		require.Equal(t, c.to, s.To, c.name)
		require.Equal(t, c.toward, s.Toward, c.name)
		require.Equal(t, c.confidence, s.Confidence, c.name)
		var texts []string
		for _, e := range s.Evidence {
			texts = append(texts, e.Text)
		}
		require.Equal(t, c.texts, texts, c.name)
		require.Len(t, s.Fingerprint, 32)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDriftFingerprintFollowsEvidence(t *testing.T) {
	t.Parallel()
	in := DriftInput{Assigned: "low", Created: ago(400 * day), LastSent: ptr(ago(3 * day)), Signals: []Fact{
		{Kind: "purchase", ID: 1, At: ago(5 * day)}, {Kind: "reply", ID: 2, At: ago(4 * day)}, {Kind: "meeting", ID: 3, At: ago(3 * day)}}}
	a, ok := Drift(in, tiers, DefaultThresholds(), driftNow)
	require.True(t, ok)
	b, _ := Drift(in, tiers, DefaultThresholds(), driftNow.Add(time.Hour))
	require.Equal(t, a.Fingerprint, b.Fingerprint, "the same evidence later is the same suggestion")
	in.Signals = append(in.Signals, Fact{Kind: "purchase", ID: 4, At: ago(day)})
	c, _ := Drift(in, tiers, DefaultThresholds(), driftNow)
	require.NotEqual(t, a.Fingerprint, c.Fingerprint, "new evidence is a new suggestion")
}

func TestDriftThresholdsPerTier(t *testing.T) {
	t.Parallel()
	in := DriftInput{Assigned: "low", Created: ago(400 * day), LastSent: ptr(ago(3 * day)), Signals: []Fact{
		{Kind: "purchase", ID: 1, At: ago(5 * day)}}}
	_, ok := Drift(in, tiers, DefaultThresholds(), driftNow)
	require.False(t, ok)
	th := DefaultThresholds()
	th.CloserSignals = 1
	s, ok := Drift(in, tiers, th, driftNow)
	require.True(t, ok)
	require.Equal(t, "a purchase in 60 days while assigned `low`", s.Evidence[0].Text)
	th.CloserSignals = 0
	_, ok = Drift(in, tiers, th, driftNow)
	require.False(t, ok, "zero disables a rule")
	require.NotEmpty(t, Thresholds{Pauses: 2}.Validate())
	require.Empty(t, DefaultThresholds().Validate())
}
