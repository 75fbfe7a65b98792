package insight

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 1: "1", 2: "2", 3: "3", 4: "4-5", 5: "4-5", 6: "6-9", 9: "6-9", 10: "10+", 31: "10+"} {
		require.Equal(t, want, Buckets[Bucket(n)].Label(), "count %d", n)
	}
	require.GreaterOrEqual(t, PressureCap, Buckets[len(Buckets)-1].Lo)
}

func TestPer1000(t *testing.T) {
	t.Parallel()
	require.Nil(t, Per1000(3, 0))
	require.Equal(t, 2.5, *Per1000(5, 2000))
	require.Equal(t, 333.33, *Per1000(1, 3))
	require.Equal(t, 0.0, *Per1000(0, 10))
}

func TestClassify(t *testing.T) {
	t.Parallel()
	ranks := map[string]int{"low": 10, "medium": 20, "high": 30}
	pref := func(before, after string, bt, at []string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"before": map[string]any{"preferred_tier": before, "topics_opted_out": bt},
			"after": map[string]any{"preferred_tier": after, "topics_opted_out": at}})
		return b
	}
	for _, c := range []struct {
		name string
		ev   TimelineEvent
		want map[Kind]int
	}{
		{"unsubscribe", TimelineEvent{Kind: "unsubscribed"}, map[Kind]int{Unsubscribe: 1}},
		{"pause", TimelineEvent{Kind: "paused"}, map[Kind]int{Pause: 1}},
		{"resume is not negative", TimelineEvent{Kind: "resumed"}, map[Kind]int{}},
		{"complaint", TimelineEvent{Kind: "suppressed", Detail: json.RawMessage(`{"reason":"complaint"}`)}, map[Kind]int{Complaint: 1}},
		{"hard bounce", TimelineEvent{Kind: "suppressed", Detail: json.RawMessage(`{"reason":"hard_bounce"}`)}, map[Kind]int{HardBounce: 1}},
		{"manual suppression", TimelineEvent{Kind: "suppressed", Detail: json.RawMessage(`{"reason":"manual"}`)}, map[Kind]int{}},
		{"downgrade from assigned", TimelineEvent{Kind: "preferences_changed", Assigned: "high", Detail: pref("", "medium", nil, nil)}, map[Kind]int{Downgrade: 1}},
		{"choosing the assigned tier", TimelineEvent{Kind: "preferences_changed", Assigned: "medium", Detail: pref("", "medium", nil, nil)}, map[Kind]int{}},
		{"up from a preference is no downgrade", TimelineEvent{Kind: "preferences_changed", Assigned: "high", Detail: pref("low", "medium", nil, nil)}, map[Kind]int{}},
		{"down from a preference", TimelineEvent{Kind: "preferences_changed", Assigned: "high", Detail: pref("medium", "low", nil, nil)}, map[Kind]int{Downgrade: 1}},
		{"above the assigned tier", TimelineEvent{Kind: "preferences_changed", Assigned: "low", Detail: pref("", "high", nil, nil)}, map[Kind]int{}},
		{"two topics and a downgrade", TimelineEvent{Kind: "preferences_changed", Assigned: "high",
			Detail: pref("", "low", []string{"offers"}, []string{"events", "offers", "product-news"})}, map[Kind]int{Downgrade: 1, TopicOptOut: 2}},
		{"opting back in", TimelineEvent{Kind: "preferences_changed", Assigned: "high", Detail: pref("", "", []string{"offers"}, nil)}, map[Kind]int{}},
	} {
		require.Equal(t, c.want, Classify(c.ev, ranks), c.name)
	}
}
