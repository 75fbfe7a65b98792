package console

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// contactListData is the contact list's content besides its filters.
type contactListData struct {
	Search   string // the exact address or external id searched for
	Filtered bool   // a filter is set
	Overdue  bool
	Rows     []contactRow
	Pager    Pager
	// ScannedTo is, on an overdue page that stopped early, the last
	// contact id it read: the pager goes on from there.
	ScannedTo int64
	Count     string // all contacts: "About 1,000,000 contacts"
	Tiers     []Option
	Statuses  []Option
}

// contactRow is one contact in a list, with its tiers' names and when it
// last received marketing mail (nil: never).
type contactRow struct {
	outreach.Contact
	TierName, PreferredName string
	LastSentAt              *time.Time
}

// statusOptions are the contact statuses as list filters.
var statusOptions = []Option{
	{Value: "", Label: "Any status"},
	{Value: string(outreach.StatusActive), Label: "Active — may be mailed"},
	{Value: string(outreach.StatusUnsubscribed), Label: "Unsubscribed"},
	{Value: string(outreach.StatusBounced), Label: "Bounced"},
	{Value: string(outreach.StatusComplained), Label: "Complained"},
}

func contactFilterFields(values url.Values) *Form {
	return newForm(values, "q", "Email address or external id", "tier", "Tier", "status", "Status", "overdue", "Overdue only")
}

// contacts is GET /console/contacts: one contact found by its exact
// address or external id (?q=), or the list in id order, filtered by
// tier, status and overdue, a page at a time by cursor. Every filter
// walks an index in id order (Store.Contacts); overdue, which no index
// can hold, reads contacts within a time budget (overduePage).
func (c *Console) contacts(ec echo.Context) error {
	ctx := ec.Request().Context()
	f := contactFilterFields(ec.QueryParams())
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	d := contactListData{Search: f.Get("q"), Tiers: append([]Option{{Value: "", Label: "All tiers"}}, tierOptions(tiers)...),
		Statuses: statusOptions, Overdue: f.Get("overdue") != ""}
	names := map[string]string{}
	for _, t := range tiers {
		names[t.Key] = t.Name
	}
	tier, status := f.Get("tier"), f.Get("status")
	d.Filtered = tier != "" || status != "" || d.Overdue
	if _, ok := names[tier]; tier != "" && !ok {
		f.Fail("tier", "choose one of the tiers listed")
	}
	if status != "" && !outreach.ContactStatus(status).Valid() {
		f.Fail("status", "choose one of the statuses listed")
	}
	if d.Overdue && status != "" && status != string(outreach.StatusActive) {
		f.Fail("overdue", "only active contacts can be overdue: set Status to “Any status” or “Active”")
	}
	n, exact, err := c.Store.ContactCount(ctx)
	if err != nil {
		return err
	}
	d.Count = contactsText(n, exact)
	if f.Failed() {
		return c.render(ec, http.StatusUnprocessableEntity, "contacts", &View{Title: "Contacts", Form: f, Data: d})
	}
	var rows []outreach.Contact
	after := cursor(ec, "after")
	switch {
	case d.Search != "":
		rows, err = c.Store.FindContacts(ctx, d.Search)
	case d.Overdue:
		rows, d.Pager, d.ScannedTo, err = c.overduePage(ec, tier, after)
	default:
		rows, err = c.Store.Contacts(ctx, postgres.ContactFilter{Tier: tier, Status: status, AfterID: after, Limit: pageSize + 1})
		rows, d.Pager = paginate(ec, rows, pageSize, "after", "Next page →", contactID)
	}
	if err != nil {
		return err
	}
	sent, err := c.Store.LastSent(ctx, rows)
	if err != nil {
		return err
	}
	for _, ct := range rows {
		d.Rows = append(d.Rows, contactRow{Contact: ct, TierName: names[ct.Tier], PreferredName: names[ct.PreferredTier],
			LastSentAt: sent[ct.ID]})
	}
	return c.render(ec, http.StatusOK, "contacts", &View{Title: "Contacts", Form: f, Data: d})
}

func contactID(ct outreach.Contact) int64 { return ct.ID }

// overduePage reads the overdue contacts after the cursor, a stretch of
// OverdueScan ids at a time, until the page is full, the contacts end, or
// OverdueBudget is spent (after one stretch at least). Stopped by the
// budget, the pager goes on from the last id read.
func (c *Console) overduePage(ec echo.Context, tier string, after int64) ([]outreach.Contact, Pager, int64, error) {
	ctx := ec.Request().Context()
	deadline := time.Now().Add(c.OverdueBudget)
	last, err := c.Store.LastContactID(ctx)
	if err != nil {
		return nil, Pager{}, 0, err
	}
	var rows []outreach.Contact
	for from := after; ; {
		through := from + c.OverdueScan
		got, err := c.Store.OverdueContacts(ctx, postgres.OverdueFilter{Tier: tier, AfterID: from, ThroughID: through, Limit: pageSize + 1 - len(rows)})
		if err != nil {
			return nil, Pager{}, 0, err
		}
		rows = append(rows, got...)
		switch {
		case len(rows) > pageSize:
			rows, pager := paginate(ec, rows, pageSize, "after", "Next page →", contactID)
			return rows, pager, 0, nil
		case through >= last:
			return rows, Pager{}, 0, nil
		case time.Now().After(deadline):
			q := ec.Request().URL.Query()
			q.Set("after", strconv.FormatInt(through, 10))
			return rows, Pager{Next: ec.Request().URL.Path + "?" + q.Encode(), Label: "Look further →"}, through, nil
		}
		from = through
	}
}

// contactsText says how many contacts there are, "about" when estimated.
func contactsText(n int64, exact bool) string {
	s := thousands(n) + " contacts"
	if n == 1 {
		s = "1 contact"
	}
	if !exact {
		return "About " + s
	}
	return s
}
