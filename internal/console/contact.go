package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// contactData is the contact page's content.
type contactData struct {
	Contact outreach.Contact
	// LastSentAt is when the contact last received marketing mail (nil:
	// never).
	LastSentAt *time.Time
	Erased     bool
	Cadence    cadenceView
	Timeline   []timelineRow
	Pager      Pager
	Tiers      []Option
	// Newest is false on the timeline's later pages.
	Newest bool
}

// cadenceView is the contact's effective cadence: the tier in force, who
// chose it, and what it allows in plain words.
type cadenceView struct {
	InForce, Assigned outreach.Tier
	Preferred         *outreach.Tier
	// None: no tier is in force, because the assigned tier is not in the
	// tier list (outreach.EffectiveTier); only Why is set then.
	None bool
	// ByCustomer: the tier in force is the customer's own choice.
	ByCustomer bool
	Why        string
	Caps       string
	Window     string
	Target     string
	Overdue    bool
}

// pathContact loads the contact named by the :id in the path.
func (c *Console) pathContact(ec echo.Context) (outreach.Contact, error) {
	id, err := strconv.ParseInt(ec.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return outreach.Contact{}, notFound("There is no such contact.")
	}
	return c.Store.Contact(ec.Request().Context(), id)
}

func contactPath(id int64) string { return "/console/contacts/" + strconv.FormatInt(id, 10) }

// contact is GET /console/contacts/{id}: the contact's fields, their
// effective cadence and their timeline (newest first, by cursor): every
// delivery with its reason, rule and planned time, every change with who
// made it.
func (c *Console) contact(ec echo.Context) error {
	ct, err := c.pathContact(ec)
	if err != nil {
		return err
	}
	return c.contactPage(ec, http.StatusOK, ct, nil)
}

func (c *Console) contactPage(ec echo.Context, status int, ct outreach.Contact, f *Form) error {
	tiers, err := c.Store.Tiers(ec.Request().Context())
	if err != nil {
		return err
	}
	return c.contactPageOf(ec, status, ct, f, tiers)
}

// contactPageOf is the contact page by the tier list given. contactPage
// reads the list after the contact, and contacts.tier has a foreign key to
// tiers, so the list lacks their tier only in a race;
// TestContactUnknownTier shows the page that would then be.
func (c *Console) contactPageOf(ec echo.Context, status int, ct outreach.Contact, f *Form, tiers []outreach.Tier) error {
	ctx := ec.Request().Context()
	if f == nil {
		f = newForm(nil, "tier", "Tier")
		f.Set("tier", ct.Tier)
	}
	var err error
	d := contactData{Contact: ct, Erased: ct.Status == outreach.StatusErased, Tiers: tierOptions(tiers)}
	if d.Cadence, err = c.cadence(ec, ct, tiers); err != nil {
		return err
	}
	sent, err := c.Store.LastSent(ctx, []outreach.Contact{ct})
	if err != nil {
		return err
	}
	d.LastSentAt = sent[ct.ID]
	before, ok := timelineCursor(ec.QueryParam("before"))
	if !ok {
		return badRequest("That timeline page does not exist; start again from the contact.")
	}
	d.Newest = before == nil
	items, err := c.Store.Timeline(ctx, ct.ID, before, pageSize+1)
	if err != nil {
		return err
	}
	if len(items) > pageSize {
		items = items[:pageSize]
		q := ec.Request().URL.Query()
		q.Set("before", timelineCursorText(items[pageSize-1]))
		d.Pager = Pager{Next: ec.Request().URL.Path + "?" + q.Encode(), Label: "Older →"}
	}
	now := c.Clock.Now()
	for _, it := range items {
		d.Timeline = append(d.Timeline, timelineRowOf(it, now))
	}
	title := ct.Email
	if d.Erased {
		title = "Erased contact " + strconv.FormatInt(ct.ID, 10)
	}
	return c.render(ec, status, "contact", &View{Title: title, Form: f, Data: d})
}

// cadence works out the contact's effective cadence with the domain's
// rule (outreach.EffectiveTier, the planner's) and asks the store whether
// they are overdue, by the very query the overdue list uses. With an
// assigned tier the list does not hold, no tier is in force, and the page
// says so rather than show a cadence nothing decides by.
func (c *Console) cadence(ec echo.Context, ct outreach.Contact, tiers []outreach.Tier) (cadenceView, error) {
	byKey := map[string]outreach.Tier{}
	for _, t := range tiers {
		byKey[t.Key] = t
	}
	inForce, ok := outreach.EffectiveTier(byKey, ct.Tier, ct.PreferredTier)
	if !ok {
		why := "The assigned tier “" + ct.Tier + "” is not in the tier list, so no tier is in force for this contact and there is no cadence to show"
		if p, ok := byKey[ct.PreferredTier]; ok {
			why += ", not even their own choice, “" + p.Name + "”: a customer’s choice can only lower the assigned tier"
		}
		return cadenceView{None: true, Why: why + ". No marketing message is planned or sent to them meanwhile (reason no_tier): without a rule there would be no caps. Assign a tier that exists to fix it."}, nil
	}
	v := cadenceView{InForce: inForce, Assigned: byKey[ct.Tier]}
	if p, ok := byKey[ct.PreferredTier]; ok {
		v.Preferred = &p
	}
	switch {
	case v.Preferred == nil:
		v.Why = "The company’s choice: the tier assigned to this contact. They have not chosen a frequency themselves."
	case v.Preferred.Key == v.Assigned.Key:
		v.ByCustomer = true
		v.Why = "The customer’s choice, the same as the tier the company assigned."
	case v.InForce.Key == v.Preferred.Key:
		v.ByCustomer = true
		v.Why = "The customer’s choice: they asked for “" + v.Preferred.Name + "”, less mail than the assigned “" + v.Assigned.Name + "”."
	default:
		v.Why = "The company’s choice: the customer asked for “" + v.Preferred.Name + "”, but a customer can only ask for less mail than their assigned tier, “" + v.Assigned.Name + "”, which applies."
	}
	r := v.InForce.Rule
	v.Caps = outreach.DescribeRule(outreach.Rule{Caps: r.Caps, MinGap: r.MinGap, SendWindow: outreach.AlwaysOpen}, consoleLang)
	zone := "in the contact’s time zone, " + ct.Timezone
	if ct.Timezone == "" {
		zone = "in the default time zone (the contact’s is not known)"
	}
	v.Window = outreach.DescribeSendWindow(r.SendWindow) + ", " + zone
	if r.TargetInterval > 0 {
		v.Target = outreach.DescribeInterval(r.TargetInterval)
	}
	if ct.Status == outreach.StatusActive {
		rows, err := c.Store.OverdueContacts(ec.Request().Context(), postgres.OverdueFilter{AfterID: ct.ID - 1, ThroughID: ct.ID, Limit: 1})
		if err != nil {
			return v, err
		}
		v.Overdue = len(rows) == 1
	}
	return v, nil
}

// setContactTier is POST /console/contacts/{id}/tier (marketer): the
// assigned tier, changed through the same store method as PATCH
// /api/v1/contacts/{id}, audited and on the timeline.
func (c *Console) setContactTier(ec echo.Context) error {
	ct, err := c.pathContact(ec)
	if err != nil {
		return err
	}
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := newForm(form, "tier", "Tier")
	tier := f.Get("tier")
	if tier == ct.Tier {
		return c.seeOther(ec, "The tier stays "+tier+": it was already assigned.", contactPath(ct.ID))
	}
	updated, err := c.Store.UpdateContact(ec.Request().Context(), actor(ec), ct.ID, func(x *outreach.Contact) error {
		x.Tier = tier
		return nil
	})
	if err != nil {
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.contactPage(ec, status, ct, f)
	}
	return c.seeOther(ec, "The assigned tier is now "+updated.Tier+".", contactPath(ct.ID))
}

// confirmEraseContact is GET /console/contacts/{id}/erase (marketer).
func (c *Console) confirmEraseContact(ec echo.Context) error {
	ct, err := c.pathContact(ec)
	if err != nil {
		return err
	}
	if ct.Status == outreach.StatusErased {
		return c.seeOther(ec, "This contact was erased already.", contactPath(ct.ID))
	}
	return c.confirm(ec, http.StatusOK, "Erase "+ct.Email+"?", confirmData{
		Lines: []string{"Their name, address, external id and attributes are removed for good, from the contact and from their timeline and the audit log; this cannot be undone.",
			"The address stays suppressed, as a hash only, so it is never mailed again, even if it is imported anew. Their deliveries stay, counted, without who they were for."},
		Action: contactPath(ct.ID) + "/erase", Button: "Erase for good", Cancel: contactPath(ct.ID)}, nil)
}

// eraseContact is POST /console/contacts/{id}/erase (marketer, confirmed):
// the store's EraseContact, as DELETE /api/v1/contacts/{id}.
func (c *Console) eraseContact(ec echo.Context) error {
	ct, err := c.pathContact(ec)
	if err != nil {
		return err
	}
	if _, ok, err := confirmed(ec, contactPath(ct.ID)+"/erase"); !ok {
		return err
	}
	if err := c.Store.EraseContact(ec.Request().Context(), actor(ec), ct.ID); err != nil {
		return err
	}
	return c.seeOther(ec, ct.Email+" is erased; the address is suppressed for good.", contactPath(ct.ID))
}
