package api

import (
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/tuning"
)

type driftJSON struct {
	ContactID     int64              `json:"contact_id"`
	Email         string             `json:"email"`
	Name          string             `json:"name"`
	Tier          string             `json:"tier"`
	PreferredTier *string            `json:"preferred_tier"`
	SuggestedTier string             `json:"suggested_tier"`
	Toward        string             `json:"toward"`
	Confidence    string             `json:"confidence"`
	Fingerprint   string             `json:"fingerprint"`
	Evidence      []insight.Evidence `json:"evidence"`
}

func toDriftJSON(it tuning.DriftItem) driftJSON {
	s := it.Suggestion
	ev := s.Evidence
	if ev == nil {
		ev = []insight.Evidence{}
	}
	return driftJSON{ContactID: it.Contact.ID, Email: it.Contact.Email, Name: it.Contact.Name, Tier: s.From,
		PreferredTier: strPtr(it.Contact.PreferredTier), SuggestedTier: s.To, Toward: s.Toward, Confidence: s.Confidence,
		Fingerprint: s.Fingerprint, Evidence: ev}
}

func (s *Server) listDrift(c echo.Context) error {
	after, limit, err := paging(c)
	if err != nil {
		return err
	}
	pg, err := s.Insights.Drift(c.Request().Context(), c.QueryParam("tier"), after, limit)
	if err != nil {
		return err
	}
	out := page[driftJSON]{Items: []driftJSON{}}
	for _, it := range pg.Items {
		out.Items = append(out.Items, toDriftJSON(it))
	}
	if pg.NextAfter > 0 {
		out.NextCursor = cursorAfter(pg.NextAfter)
	}
	return c.JSON(http.StatusOK, out)
}

// driftDecision is the optional body of accept and dismiss: the
// fingerprint the admin was shown, so a decision on changed evidence is
// refused (409) instead of applied.
type driftDecision struct {
	Fingerprint string `json:"fingerprint"`
}

func (s *Server) decideDrift(accept bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c, "contact_id")
		if err != nil {
			return err
		}
		var body driftDecision
		if err := decodeOptional(c, &body); err != nil {
			return err
		}
		decide, decision := s.Insights.DismissDrift, "dismissed"
		if accept {
			decide, decision = s.Insights.AcceptDrift, "accepted"
		}
		it, err := decide(c.Request().Context(), actor(c), id, body.Fingerprint)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, struct {
			Decision   string      `json:"decision"`
			Contact    contactJSON `json:"contact"`
			Suggestion driftJSON   `json:"suggestion"`
		}{decision, toContactJSON(it.Contact), toDriftJSON(it)})
	}
}

// thresholdsJSON is a tier's drift thresholds as the API reads and writes
// them: durations as strings ("30d").
type thresholdsJSON struct {
	Tier          string            `json:"tier,omitempty"`
	PreferenceAge outreach.Duration `json:"preference_age"`
	Pauses        int               `json:"pauses"`
	PauseWindow   outreach.Duration `json:"pause_window"`
	OptOuts       int               `json:"opt_outs"`
	OptOutWindow  outreach.Duration `json:"opt_out_window"`
	OverdueFactor float64           `json:"overdue_factor"`
	CloserSignals int               `json:"closer_signals"`
	CloserWindow  outreach.Duration `json:"closer_window"`
}

func toThresholdsJSON(tier string, t insight.Thresholds) thresholdsJSON {
	return thresholdsJSON{Tier: tier, PreferenceAge: outreach.Duration(t.PreferenceAge), Pauses: t.Pauses,
		PauseWindow: outreach.Duration(t.PauseWindow), OptOuts: t.OptOuts, OptOutWindow: outreach.Duration(t.OptOutWindow),
		OverdueFactor: t.OverdueFactor, CloserSignals: t.CloserSignals, CloserWindow: outreach.Duration(t.CloserWindow)}
}

func (j thresholdsJSON) thresholds() insight.Thresholds {
	return insight.Thresholds{PreferenceAge: time.Duration(j.PreferenceAge), Pauses: j.Pauses, PauseWindow: time.Duration(j.PauseWindow),
		OptOuts: j.OptOuts, OptOutWindow: time.Duration(j.OptOutWindow), OverdueFactor: j.OverdueFactor,
		CloserSignals: j.CloserSignals, CloserWindow: time.Duration(j.CloserWindow)}
}

func (s *Server) listThresholds(c echo.Context) error {
	all, err := s.Insights.Thresholds(c.Request().Context())
	if err != nil {
		return err
	}
	out := page[thresholdsJSON]{Items: []thresholdsJSON{}}
	for tier, th := range all {
		out.Items = append(out.Items, toThresholdsJSON(tier, th))
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].Tier < out.Items[j].Tier })
	return c.JSON(http.StatusOK, out)
}

// putThresholds replaces a tier's thresholds; fields left out keep their
// value, so what GET answers can be sent back with one field changed.
func (s *Server) putThresholds(c echo.Context) error {
	tier := c.Param("tier")
	all, err := s.Insights.Thresholds(c.Request().Context())
	if err != nil {
		return err
	}
	cur, ok := all[tier]
	if !ok {
		return outreach.Errorf(outreach.ENOTFOUND, "tier %s: not found", tier)
	}
	body := toThresholdsJSON("", cur)
	if err := decode(c, &body); err != nil {
		return err
	}
	if body.Tier != "" && body.Tier != tier {
		return outreach.Invalid(outreach.FieldError{Field: "tier", Message: "must match the tier in the path"})
	}
	th, err := s.Insights.SetThresholds(c.Request().Context(), actor(c), tier, body.thresholds())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toThresholdsJSON(tier, th))
}

// signalInput is a signal as clients write it; at is read as text so an
// unreadable time is a 400 naming the field.
type signalInput struct {
	Type   string  `json:"type"`
	At     *string `json:"at"`
	Detail string  `json:"detail"`
}

type signalJSON struct {
	ID        int64     `json:"id"`
	ContactID int64     `json:"contact_id"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	Detail    string    `json:"detail"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) addSignal(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in signalInput
	if err := decode(c, &in); err != nil {
		return err
	}
	sig := postgres.Signal{ContactID: id, Type: in.Type, Detail: in.Detail}
	if in.At != nil {
		at, err := time.Parse(time.RFC3339, *in.At)
		if err != nil {
			return newBadRequest("at", "must be an RFC 3339 time such as 2026-11-20T10:00:00Z")
		}
		sig.At = at
	}
	out, err := s.Insights.AddSignal(c.Request().Context(), actor(c), sig)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, signalJSON{ID: out.ID, ContactID: out.ContactID, Type: out.Type, At: out.At,
		Detail: out.Detail, Actor: out.Actor, CreatedAt: out.CreatedAt})
}
