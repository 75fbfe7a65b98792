package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// The console speaks English; the customer pages say the same rules in
// the customer's language.
const consoleLang = "en"

// tierListRow is a tier as the list shows it.
type tierListRow struct {
	outreach.Tier
	Meaning string
}

// tiers is GET /console/tiers: every tier, from the one that writes most
// often to the one that writes least, each with its rule in words.
func (c *Console) tiers(ec echo.Context) error {
	all, err := c.Store.Tiers(ec.Request().Context())
	if err != nil {
		return err
	}
	rows := make([]tierListRow, 0, len(all))
	for _, t := range outreach.ByFrequency(all) {
		rows = append(rows, tierListRow{Tier: t, Meaning: outreach.DescribeRule(t.Rule, consoleLang)})
	}
	return c.render(ec, http.StatusOK, "tiers", &View{Title: "Tiers", Data: rows})
}

// tierData is a tier page's content: the tier, its form (for admins; the
// page's View.Form), its history.
type tierData struct {
	Tier    outreach.Tier
	Meaning string
	Facts   ruleFacts
	Form    tierFormData
	History []tierVersion
	Pager   Pager
	// Stale is set when the tier changed since the form was opened.
	Stale bool
	// Insight is the tier's fatigue and pressure curve; Drift its
	// contacts whose signals diverge from it.
	Insight insightView
	Drift   driftView
	// Thresholds is the drift thresholds' form, for admins (nil for
	// others: the API reads them to admins only).
	Thresholds *Form
	// WhatIf is a preview of the form's rule, after "Preview the effect".
	WhatIf *whatIfView
}

// ruleFacts is a rule's figures as the form takes them.
type ruleFacts struct{ Caps, MinGap, Target, Window string }

func factsOf(r outreach.Rule) ruleFacts {
	return ruleFacts{Caps: capsText(r.Caps), MinGap: durationOrNone(r.MinGap), Target: durationOrNone(r.TargetInterval), Window: windowText(r.SendWindow)}
}

// tier is GET /console/tiers/:key: the tier's rule, in words and in
// figures (a form, for admins), and every version with what changed.
func (c *Console) tier(ec echo.Context) error {
	t, err := c.Store.Tier(ec.Request().Context(), ec.Param("key"))
	if err != nil {
		return err
	}
	f, rows := fillTierForm(t)
	f.Set("days", strconv.Itoa(whatIfDays))
	return c.tierPage(ec, http.StatusOK, t, f, rows, false)
}

func (c *Console) tierPage(ec echo.Context, status int, t outreach.Tier, f *Form, rows int, stale bool) error {
	return c.tierPageWith(ec, status, t, f, rows, tierExtra{Stale: stale})
}

// tierExtra is what a tier page may show besides the tier: the form
// opened before someone saved (Stale), a what-if preview, the thresholds
// form as posted.
type tierExtra struct {
	Stale      bool
	WhatIf     *whatIfView
	Thresholds *Form
}

func (c *Console) tierPageWith(ec echo.Context, status int, t outreach.Tier, f *Form, rows int, x tierExtra) error {
	ctx := ec.Request().Context()
	entries, err := c.Store.AuditEntries(ctx, "tier", t.Key, cursor(ec, "before"), pageSize+1)
	if err != nil {
		return err
	}
	entries, pager := paginate(ec, entries, pageSize, "before", "Older versions →", func(e outreach.AuditEntry) int64 { return e.ID })
	d := tierData{Tier: t, Meaning: outreach.DescribeRule(t.Rule, consoleLang), Facts: factsOf(t.Rule),
		Form: tierFormView(f, rows), Pager: pager, Stale: x.Stale, WhatIf: x.WhatIf}
	for _, e := range entries {
		d.History = append(d.History, versionOf(e))
	}
	all, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	if d.Insight, err = c.insights(ctx, t.Key, all); err != nil {
		return err
	}
	if d.Drift, err = c.drift(ec, t, all); err != nil {
		return err
	}
	if u := currentUser(ec); u != nil && u.Role.Includes(admin) {
		d.Thresholds = x.Thresholds
		if d.Thresholds == nil {
			if d.Thresholds, err = c.thresholdsForm(ctx, t.Key); err != nil {
				return err
			}
		}
	}
	return c.render(ec, status, "tier", &View{Title: "Tier " + t.Name, Form: f, Data: d})
}

// updateTier is POST /console/tiers/:key: the whole tier, as PUT
// /api/v1/tiers/{key} takes it, through the same store method (which
// validates with Tier.Validate, versions it and audits the admin). A form
// that fails comes back with its values and an error at each field, and
// nothing is written; one opened before someone else saved the tier is
// not saved over their change.
func (c *Console) updateTier(ec echo.Context) error {
	ctx := ec.Request().Context()
	current, err := c.Store.Tier(ctx, ec.Param("key"))
	if err != nil {
		return err
	}
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	rows := max(capRows(form), 1)
	f := tierForm(form, rows)
	t, capLine, errs := readTier(f, rows, current.Key)
	again := func(status int) error {
		f.Set("version", strconv.Itoa(current.Version))
		return c.tierPage(ec, status, current, f, rows, status == http.StatusConflict)
	}
	if len(errs) > 0 {
		status, _ := f.absorb(outreach.Invalid(errs...), tierFieldName(capLine))
		return again(status)
	}
	if v := f.Get("version"); v != "" && v != strconv.Itoa(current.Version) {
		f.Fail("", "Someone saved this tier since you opened it (now version "+strconv.Itoa(current.Version)+
			"): see what they changed in its history below, then save yours again.")
		return again(http.StatusConflict)
	}
	if sameTier(current, t) {
		return c.seeOther(ec, "Nothing changed: the tier "+current.Name+" was already set this way.", tierPath(current.Key))
	}
	saved, err := c.Store.UpdateTier(ctx, actor(ec), t)
	if err != nil {
		status, ok := f.absorb(err, tierFieldName(capLine))
		if !ok {
			return err
		}
		return again(status)
	}
	c.dash.stale()
	return c.seeOther(ec, "The tier "+saved.Name+" is saved as version "+strconv.Itoa(saved.Version)+"; the next plans use it.",
		tierPath(saved.Key))
}

// sameTier reports whether saving t over current would change nothing.
func sameTier(current, t outreach.Tier) bool {
	a, errA := json.Marshal(current.Rule)
	b, errB := json.Marshal(t.Rule)
	return errA == nil && errB == nil && bytes.Equal(a, b) && current.Name == t.Name &&
		current.Description == t.Description && current.Rank == t.Rank && current.Selectable == t.Selectable
}

// newTierForm is GET /console/tiers/new.
func (c *Console) newTierForm(ec echo.Context) error {
	f, rows := newTierDefaults()
	return c.render(ec, http.StatusOK, "tier-new", &View{Title: "New tier", Form: f, Data: tierFormView(f, rows)})
}

// createTier is POST /console/tiers: as POST /api/v1/tiers, through the
// same store method.
func (c *Console) createTier(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	rows := max(capRows(form), 1)
	f := tierForm(form, rows)
	t, capLine, errs := readTier(f, rows, f.Get("key"))
	again := func(status int) error {
		return c.render(ec, status, "tier-new", &View{Title: "New tier", Form: f, Data: tierFormView(f, rows)})
	}
	if len(errs) > 0 {
		status, _ := f.absorb(outreach.Invalid(errs...), tierFieldName(capLine))
		return again(status)
	}
	created, err := c.Store.CreateTier(ec.Request().Context(), actor(ec), t)
	if err != nil {
		status, ok := f.absorb(err, tierFieldName(capLine))
		if !ok {
			return err
		}
		return again(status)
	}
	c.dash.stale()
	return c.seeOther(ec, "The tier "+created.Name+" is created. Customers see it in the preference center if they may choose it.",
		tierPath(created.Key))
}
