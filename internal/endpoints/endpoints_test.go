package endpoints

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

type memStore struct {
	created []postgres.WebhookEndpoint
	current postgres.WebhookEndpoint
}

func (m *memStore) CreateWebhookEndpoint(_ context.Context, _ string, e postgres.WebhookEndpoint) (postgres.WebhookEndpoint, error) {
	e.ID = int64(len(m.created) + 1)
	m.created = append(m.created, e)
	return e, nil
}

func (m *memStore) UpdateWebhookEndpoint(_ context.Context, _ string, _ int64, change func(*postgres.WebhookEndpoint) error) (postgres.WebhookEndpoint, error) {
	e := m.current
	if err := change(&e); err != nil {
		return postgres.WebhookEndpoint{}, err
	}
	m.current = e
	return e, nil
}

type reverse struct{}

func (reverse) Seal(p []byte) ([]byte, error) {
	out := make([]byte, len(p))
	for i, b := range p {
		out[len(p)-1-i] = b
	}
	return out, nil
}

func fields(t *testing.T, err error) map[string]string {
	t.Helper()
	var oe *outreach.Error
	require.True(t, errors.As(err, &oe), "an outreach error, got %v", err)
	require.Equal(t, outreach.EINVALID, oe.Code)
	out := map[string]string{}
	for _, f := range oe.Fields {
		out[f.Field] = f.Message
	}
	return out
}

func TestCreateChecksEverything(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	svc := New(store, reverse{}, nil, false)
	for _, tc := range []struct {
		name  string
		draft Draft
		field string
	}{
		{"loopback", Draft{URL: "https://127.0.0.1/hook", Events: []string{"contact.unsubscribed"}}, "url"},
		{"private", Draft{URL: "https://10.1.2.3/hook", Events: []string{"contact.unsubscribed"}}, "url"},
		{"link-local metadata", Draft{URL: "https://169.254.169.254/latest", Events: []string{"contact.unsubscribed"}}, "url"},
		{"plain http", Draft{URL: "http://crm.example.com/hook", Events: []string{"contact.unsubscribed"}}, "url"},
		{"credentials", Draft{URL: "https://u:p@crm.example.com/hook", Events: []string{"contact.unsubscribed"}}, "url"},
		{"no events", Draft{URL: "https://crm.example.com/hook"}, "events"},
		{"unknown event", Draft{URL: "https://crm.example.com/hook", Events: []string{"contact.created"}}, "events"},
		{"control in description", Draft{URL: "https://crm.example.com/hook", Events: []string{"contact.unsubscribed"},
			Description: "a\x00b"}, "description"},
		{"invalid utf-8", Draft{URL: "https://crm.example.com/hook", Events: []string{"contact.unsubscribed"},
			Description: "\xff"}, "description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := svc.Create(ctx, "admin", tc.draft)
			require.Contains(t, fields(t, err), tc.field)
		})
	}
	require.Empty(t, store.created, "nothing registered")

	e, secret, err := svc.Create(ctx, "admin", Draft{URL: " https://crm.example.com/hook ",
		Events: []string{"delivery.sent", "contact.unsubscribed", "delivery.sent"}})
	require.NoError(t, err)
	require.Equal(t, "https://crm.example.com/hook", e.URL)
	require.Equal(t, []string{"contact.unsubscribed", "delivery.sent"}, e.Events, "sorted, without repeats")
	require.Regexp(t, `^whsec_[A-Za-z0-9+/=]+$`, secret)
	sealed, _ := reverse{}.Seal([]byte(secret))
	require.Equal(t, sealed, e.SecretSealed, "only the sealed secret is stored")

	// Private addresses only when allowed (tests, development).
	_, _, err = New(store, reverse{}, nil, true).Create(ctx, "admin", Draft{URL: "http://127.0.0.1:8080/hook",
		Events: []string{"contact.unsubscribed"}})
	require.NoError(t, err)
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	store := &memStore{current: postgres.WebhookEndpoint{ID: 1, URL: "https://crm.example.com/a", Events: []string{"delivery.sent"}}}
	svc := New(store, reverse{}, nil, false)
	bad := "https://192.168.0.1/"
	_, err := svc.Update(ctx, "admin", 1, Change{URL: &bad})
	require.Contains(t, fields(t, err), "url")
	require.Equal(t, "https://crm.example.com/a", store.current.URL, "a refused change changes nothing")
	_, err = svc.Update(ctx, "admin", 1, Change{Events: []string{}})
	require.Contains(t, fields(t, err), "events")

	off := false
	e, err := svc.Update(ctx, "admin", 1, Change{Enabled: &off})
	require.NoError(t, err)
	require.NotNil(t, e.DisabledAt)
	require.Equal(t, "disabled by admin", e.DisabledReason)
	require.Equal(t, "disabled", Status(e, *e.DisabledAt))
	on := true
	e, err = svc.Update(ctx, "admin", 1, Change{Enabled: &on})
	require.NoError(t, err)
	require.Nil(t, e.DisabledAt)
	require.Equal(t, "active", Status(e, e.UpdatedAt))
}
