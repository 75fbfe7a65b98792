package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Webhook event types, what the company's CRM can subscribe to.
const (
	EventContactUnsubscribed       = "contact.unsubscribed"
	EventContactResubscribed       = "contact.resubscribed"
	EventContactPreferencesChanged = "contact.preferences_changed"
	EventContactSuppressed         = "contact.suppressed"
	EventContactErased             = "contact.erased"
	EventDeliverySent              = "delivery.sent"
	EventDeliveryFailed            = "delivery.failed"
	EventDeliveryBounced           = "delivery.bounced"
	EventDeliveryComplained        = "delivery.complained"
	EventCampaignCompleted         = "campaign.completed"
)

// WebhookEventTypes lists every event type, in a stable order.
var WebhookEventTypes = []string{EventContactUnsubscribed, EventContactResubscribed, EventContactPreferencesChanged,
	EventContactSuppressed, EventContactErased, EventDeliverySent, EventDeliveryFailed, EventDeliveryBounced,
	EventDeliveryComplained, EventCampaignCompleted}

// WebhookEndpoint is a registered receiver of events.
type WebhookEndpoint struct {
	ID             int64
	URL            string
	Events         []string
	SecretSealed   []byte // Seal(secret); never shown again after creation
	Description    string
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FailingSince   *time.Time
	DisabledAt     *time.Time
	DisabledReason string
}

func endpointFromRow(r dbsqlc.WebhookEndpoint) WebhookEndpoint {
	return WebhookEndpoint{ID: r.ID, URL: r.Url, Events: r.Events, SecretSealed: r.SecretSealed, Description: r.Description,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FailingSince: r.FailingSince,
		DisabledAt: r.DisabledAt, DisabledReason: r.DisabledReason}
}

// CreateWebhookEndpoint registers an endpoint (URL and events already
// checked by the caller), audited.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, actor string, e WebhookEndpoint) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	err := s.InTx(ctx, func(tx *Tx) error {
		row, err := tx.q.WebhookEndpointInsert(ctx, dbsqlc.WebhookEndpointInsertParams{Url: e.URL, Events: e.Events,
			SecretSealed: e.SecretSealed, Description: e.Description, CreatedBy: actor, Now: tx.Now()})
		if err != nil {
			return err
		}
		out = endpointFromRow(row)
		return tx.Audit(ctx, actor, "create", "webhook_endpoint", itoa(out.ID), nil, map[string]any{"url": out.URL, "events": out.Events})
	})
	s.subs.forget()
	return out, mapError("create webhook endpoint", err)
}

// WebhookEndpoints lists endpoints in id order after afterID.
func (s *Store) WebhookEndpoints(ctx context.Context, afterID int64, limit int) ([]WebhookEndpoint, error) {
	rows, err := s.q.WebhookEndpointList(ctx, dbsqlc.WebhookEndpointListParams{AfterID: afterID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list webhook endpoints", err)
	}
	out := make([]WebhookEndpoint, len(rows))
	for i, r := range rows {
		out[i] = endpointFromRow(r)
	}
	return out, nil
}

// WebhookEndpoint returns one endpoint.
func (s *Store) WebhookEndpoint(ctx context.Context, id int64) (WebhookEndpoint, error) {
	row, err := s.q.WebhookEndpointGet(ctx, id)
	if err != nil {
		return WebhookEndpoint{}, mapError("webhook endpoint", err)
	}
	return endpointFromRow(row), nil
}

// UpdateWebhookEndpoint changes an endpoint's URL, events, description or
// enabled state through change (the caller checks the URL and events),
// audited. Re-enabling clears the failure record.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, actor string, id int64, change func(*WebhookEndpoint) error) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	err := s.InTx(ctx, func(tx *Tx) error {
		row, err := tx.q.WebhookEndpointGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		before := endpointFromRow(row)
		e := before
		e.Events = slices.Clone(before.Events)
		if err := change(&e); err != nil {
			return err
		}
		if e.DisabledAt == nil {
			e.DisabledReason, e.FailingSince = "", nil
		}
		row, err = tx.q.WebhookEndpointUpdate(ctx, dbsqlc.WebhookEndpointUpdateParams{ID: id, Url: e.URL, Events: e.Events,
			Description: e.Description, DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason, FailingSince: e.FailingSince, Now: tx.Now()})
		if err != nil {
			return err
		}
		out = endpointFromRow(row)
		return tx.Audit(ctx, actor, "update", "webhook_endpoint", itoa(id),
			map[string]any{"url": before.URL, "events": before.Events, "enabled": before.DisabledAt == nil},
			map[string]any{"url": out.URL, "events": out.Events, "enabled": out.DisabledAt == nil})
	})
	s.subs.forget()
	return out, mapError("update webhook endpoint", err)
}

// DeleteWebhookEndpoint removes an endpoint and its undelivered messages,
// audited.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, actor string, id int64) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		n, err := tx.q.WebhookEndpointDelete(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return outreach.Errorf(outreach.ENOTFOUND, "no such webhook endpoint")
		}
		return tx.Audit(ctx, actor, "delete", "webhook_endpoint", itoa(id), nil, nil)
	})
	s.subs.forget()
	return mapError("delete webhook endpoint", err)
}

// subscriptions caches which event types some enabled endpoint takes, for
// a moment: the send path asks for every chunk. A change made by this
// process applies at once; one made by another within subscriptionTTL.
type subscriptions struct {
	mu   sync.Mutex
	at   time.Time
	byTy map[string]bool
}

const subscriptionTTL = 2 * time.Second

func (c *subscriptions) forget() {
	c.mu.Lock()
	c.byTy = nil
	c.mu.Unlock()
}

// wanted reports whether an enabled endpoint takes events of typ.
func (t *Tx) wanted(ctx context.Context, typ string) (bool, error) { return t.s.wanted(ctx, t.q, typ) }

// wanted reports whether an enabled endpoint takes events of typ, asking
// through q when the cache is stale.
func (s *Store) wanted(ctx context.Context, q *dbsqlc.Queries, typ string) (bool, error) {
	c := &s.subs
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byTy == nil || time.Since(c.at) > subscriptionTTL {
		types, err := q.WebhookSubscribedTypes(ctx)
		if err != nil {
			return false, mapError("webhook subscriptions", err)
		}
		c.byTy, c.at = map[string]bool{}, time.Now()
		for _, ty := range types {
			c.byTy[ty] = true
		}
	}
	return c.byTy[typ], nil
}

// emit writes an event into the outbox, in the transaction of the change
// it describes, for every enabled endpoint subscribed to its type; events
// of one contact (or campaign) are delivered in the order they are
// emitted. It writes nothing when no endpoint wants the type.
func (t *Tx) emit(ctx context.Context, typ, orderKey string, contactID int64, data map[string]any) error {
	ok, err := t.wanted(ctx, typ)
	if err != nil || !ok {
		return err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := "evt_" + hex.EncodeToString(b[:])
	now := t.Now()
	payload, err := json.Marshal(map[string]any{"id": id, "type": typ, "timestamp": now.Format(time.RFC3339Nano), "data": data})
	if err != nil {
		return err
	}
	p := dbsqlc.WebhookEmitParams{EventID: id, Type: typ, Payload: payload, OrderKey: orderKey, Now: now}
	if contactID != 0 {
		p.ContactID = &contactID
	}
	return mapError("webhook event", t.q.WebhookEmit(ctx, p))
}

func contactKey(id int64) string { return "contact:" + itoa(id) }

// WebhookMessage is a due message: the head of its (endpoint, contact)
// stream.
type WebhookMessage struct {
	ID, EndpointID int64
	Attempts       int
	URL            string
	SecretSealed   []byte
	FailingSince   *time.Time
	EventID, Type  string
	Payload        []byte
	EventAt        time.Time
}

// DueWebhookMessages returns up to limit messages due now, at most one
// per (endpoint, contact) stream, oldest first.
func (s *Store) DueWebhookMessages(ctx context.Context, limit int) ([]WebhookMessage, error) {
	rows, err := s.q.WebhookDue(ctx, dbsqlc.WebhookDueParams{Now: s.clock.Now(), Lim: int32(limit)})
	if err != nil {
		return nil, mapError("due webhook messages", err)
	}
	out := make([]WebhookMessage, len(rows))
	for i, r := range rows {
		out[i] = WebhookMessage{ID: r.ID, EndpointID: r.EndpointID, Attempts: int(r.Attempts), URL: r.Url, SecretSealed: r.SecretSealed,
			FailingSince: r.FailingSince, EventID: r.EventID, Type: r.Type, Payload: r.Payload, EventAt: r.EventAt}
	}
	return out, nil
}

// WebhookAttempt is one try to deliver a message, and what to do next.
type WebhookAttempt struct {
	Message    WebhookMessage
	StatusCode int
	Latency    time.Duration
	Error      string
	Delivered  bool
	Dead       bool      // no more retries
	NextAt     time.Time // the retry's moment
	// Disable, with its reason, when the endpoint failed too long.
	Disable       bool
	DisableReason string
}

// RecordWebhookAttempt writes an attempt, the message's next state and the
// endpoint's health, in one transaction.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a WebhookAttempt) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		now := tx.Now()
		m := a.Message
		if err := tx.q.WebhookAttemptInsert(ctx, dbsqlc.WebhookAttemptInsertParams{EndpointID: m.EndpointID, MessageID: m.ID,
			Attempt: int32(m.Attempts + 1), Now: now, StatusCode: int32(a.StatusCode),
			LatencyMs: int32(min(a.Latency.Milliseconds(), math.MaxInt32)), Error: a.Error}); err != nil {
			return err
		}
		p := dbsqlc.WebhookMessageDoneParams{ID: m.ID, State: "pending", Attempts: int32(m.Attempts + 1), NextAt: a.NextAt}
		switch {
		case a.Delivered:
			p.State, p.DeliveredAt, p.NextAt = "delivered", &now, now
		case a.Dead:
			p.State, p.NextAt = "dead", now
		}
		if err := tx.q.WebhookMessageDone(ctx, p); err != nil {
			return err
		}
		if m.Type == EventContactErased && (a.Delivered || a.Dead) {
			if err := tx.q.WebhookErasedScrub(ctx, m.ID); err != nil {
				return err
			}
		}
		h := dbsqlc.WebhookEndpointHealthParams{ID: m.EndpointID, Now: now}
		if !a.Delivered {
			h.FailingSince = m.FailingSince
			if h.FailingSince == nil {
				h.FailingSince = &now
			}
		}
		if a.Disable {
			h.DisabledAt, h.DisabledReason = &now, a.DisableReason
		}
		return tx.q.WebhookEndpointHealth(ctx, h)
	})
	if a.Disable {
		s.subs.forget()
	}
	return mapError("record webhook attempt", err)
}

// WebhookLogEntry is one attempt in an endpoint's delivery log.
type WebhookLogEntry struct {
	ID, MessageID int64
	Attempt       int
	At            time.Time
	StatusCode    int // 0: no answer
	Latency       time.Duration
	Error         string
	EventID, Type string
}

// WebhookLog lists an endpoint's attempts, newest first, before an id (0:
// from the newest).
func (s *Store) WebhookLog(ctx context.Context, endpointID, beforeID int64, limit int) ([]WebhookLogEntry, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := s.q.WebhookAttemptList(ctx, dbsqlc.WebhookAttemptListParams{EndpointID: endpointID, BeforeID: beforeID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("webhook log", err)
	}
	out := make([]WebhookLogEntry, len(rows))
	for i, r := range rows {
		out[i] = WebhookLogEntry{ID: r.ID, MessageID: r.MessageID, Attempt: int(r.Attempt), At: r.At, StatusCode: int(r.StatusCode),
			Latency: time.Duration(r.LatencyMs) * time.Millisecond, Error: r.Error, EventID: r.EventID, Type: r.Type}
	}
	return out, nil
}

// WebhookRetention is how long delivered and abandoned events, with their
// delivery log, are kept.
const WebhookRetention = 30 * 24 * time.Hour

// PruneWebhooks deletes up to limit events past WebhookRetention that are
// no longer pending anywhere, and reports how many.
func (s *Store) PruneWebhooks(ctx context.Context, limit int) (int64, error) {
	n, err := s.q.WebhookPrune(ctx, dbsqlc.WebhookPruneParams{Before: s.clock.Now().Add(-WebhookRetention), Lim: int32(limit)})
	return n, mapError("prune webhooks", err)
}
