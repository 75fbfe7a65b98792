package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// tierInput is a tier as clients write it: its fields and its rule, flat.
type tierInput struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Rank        *int   `json:"rank"`
	Selectable  bool   `json:"selectable"`
	outreach.RuleSpec
}

func (in tierInput) tier() (outreach.Tier, error) {
	rule, errs := in.RuleSpec.Rule()
	if in.Rank == nil {
		errs = append(errs, outreach.FieldError{Field: "rank", Message: "is required (higher means a closer relationship)"})
	}
	if in.Caps == nil {
		errs = append(errs, outreach.FieldError{Field: "caps", Message: "at least one cap is required"})
	}
	if len(errs) > 0 {
		return outreach.Tier{}, outreach.Invalid(errs...)
	}
	return outreach.Tier{Key: in.Key, Name: in.Name, Description: in.Description, Rank: *in.Rank, Selectable: in.Selectable, Rule: rule}, nil
}

func (s *Server) listTiers(c echo.Context) error {
	tiers, err := s.Store.Tiers(c.Request().Context())
	if err != nil {
		return err
	}
	out, err := pageByKey(c, tiers, func(t outreach.Tier) string { return t.Key }, toTierJSON)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getTier(c echo.Context) error {
	t, err := s.Store.Tier(c.Request().Context(), c.Param("key"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTierJSON(t))
}

func (s *Server) createTier(c echo.Context) error {
	var in tierInput
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := in.tier()
	if err != nil {
		return err
	}
	created, err := s.Store.CreateTier(c.Request().Context(), actor(c), t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toTierJSON(created))
}

// tierReplacement is a PUT body: a tier as clients write it, or the whole
// tier as GET answers it. The read-only fields GET adds (version,
// updated_at) are read, so that a read-modify-write round trip is accepted,
// and then ignored: every PUT makes a new version. Unknown fields are still
// refused.
type tierReplacement struct {
	tierInput
	Version   *int       `json:"version"`
	UpdatedAt *time.Time `json:"updated_at"`
}

func (s *Server) putTier(c echo.Context) error {
	var body tierReplacement
	if err := decode(c, &body); err != nil {
		return err
	}
	in := body.tierInput
	key := c.Param("key")
	if in.Key != "" && in.Key != key {
		return outreach.Invalid(outreach.FieldError{Field: "key", Message: "must match the key in the path (keys cannot be renamed)"})
	}
	in.Key = key
	t, err := in.tier()
	if err != nil {
		return err
	}
	updated, err := s.Store.UpdateTier(c.Request().Context(), actor(c), t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTierJSON(updated))
}

func (s *Server) tierHistory(c echo.Context) error {
	key := c.Param("key")
	if _, err := s.Store.Tier(c.Request().Context(), key); err != nil {
		return err
	}
	before, limit, err := paging(c)
	if err != nil {
		return err
	}
	entries, err := s.Store.AuditEntries(c.Request().Context(), "tier", key, before, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(entries, limit, auditID, toAuditJSON))
}

// tierJSON is a tier as the API answers it: its fields and its rule, flat.
type tierJSON struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Rank        int    `json:"rank"`
	Selectable  bool   `json:"selectable"`
	outreach.Rule
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MarshalJSON flattens the rule's fields into the tier object.
func (t tierJSON) MarshalJSON() ([]byte, error) {
	rule, err := t.Rule.MarshalJSON()
	if err != nil {
		return nil, err
	}
	head, err := marshalNoEscape(struct {
		Key         string    `json:"key"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		Rank        int       `json:"rank"`
		Selectable  bool      `json:"selectable"`
		Version     int       `json:"version"`
		UpdatedAt   time.Time `json:"updated_at"`
	}{t.Key, t.Name, t.Description, t.Rank, t.Selectable, t.Version, t.UpdatedAt})
	if err != nil {
		return nil, err
	}
	// Join {"key":…} and {"caps":…} into one object.
	out := append(head[:len(head)-1:len(head)-1], ',')
	return append(out, rule[1:]...), nil
}

func toTierJSON(t outreach.Tier) tierJSON {
	return tierJSON{Key: t.Key, Name: t.Name, Description: t.Description, Rank: t.Rank, Selectable: t.Selectable,
		Rule: t.Rule, Version: t.Version, UpdatedAt: t.UpdatedAt}
}
