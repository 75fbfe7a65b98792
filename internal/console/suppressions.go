package console

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// suppressionData is the suppressions page's content besides its add form.
type suppressionData struct {
	Search  string // the address searched for, "" for the list
	Rows    []postgres.Suppression
	Pager   Pager
	Reasons []Option
}

// reasonOptions are the reasons a person may give (outreach.SettableReasons),
// explained.
var reasonOptions = []Option{
	{Value: string(outreach.SuppressManual), Label: "Manual — we decided not to write to this address"},
	{Value: string(outreach.SuppressUnsubscribe), Label: "Unsubscribe — they asked us elsewhere (phone, letter)"},
	{Value: string(outreach.SuppressBounce), Label: "Hard bounce — the address does not exist"},
	{Value: string(outreach.SuppressComplaint), Label: "Complaint — they reported our email as spam"},
}

func suppressionFields(values url.Values) *Form {
	return newForm(values, "email", "Email address", "reason", "Reason")
}

// suppressions is GET /console/suppressions: the newest suppressions, or
// the one on the address searched for (by its hash: exact, any case).
func (c *Console) suppressions(ec echo.Context) error {
	f := suppressionFields(nil)
	f.Set("reason", string(outreach.SuppressManual))
	return c.suppressionPage(ec, http.StatusOK, f)
}

func (c *Console) suppressionPage(ec echo.Context, status int, f *Form) error {
	ctx := ec.Request().Context()
	d := suppressionData{Search: ec.QueryParam("q"), Reasons: reasonOptions}
	if d.Search != "" {
		s, err := c.Store.SuppressionByEmail(ctx, d.Search)
		switch {
		case err == nil:
			d.Rows = []postgres.Suppression{s}
		case outreach.ErrorCode(err) != outreach.ENOTFOUND:
			return err
		}
	} else {
		rows, err := c.Store.SuppressionsNewest(ctx, cursor(ec, "before"), pageSize+1)
		if err != nil {
			return err
		}
		d.Rows, d.Pager = paginate(ec, rows, pageSize, "before", "Older →", func(s postgres.Suppression) int64 { return s.ID })
	}
	return c.render(ec, status, "suppressions", &View{Title: "Suppressions", Form: f, Data: d})
}

// addSuppression is POST /console/suppressions (marketer): the one
// suppression path (Tx.Suppress), which also sets the contact's status,
// their timeline and the audit log.
func (c *Console) addSuppression(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := suppressionFields(form)
	reason := outreach.SuppressionReason(f.Get("reason"))
	if !reason.Settable() {
		f.Fail("reason", "choose one of the reasons listed")
		return c.suppressionPage(ec, http.StatusUnprocessableEntity, f)
	}
	inserted, err := c.Store.Suppress(ec.Request().Context(), actor(ec), f.Get("email"), reason)
	if err != nil {
		status, ok := f.absorb(err, nil)
		if !ok {
			return err
		}
		return c.suppressionPage(ec, status, f)
	}
	email, _ := outreach.NormalizeEmail(f.Get("email"))
	msg := email + " is suppressed (" + string(reason) + "): nothing more is sent to it."
	if !inserted {
		msg = email + " was already suppressed; its reason is now " + string(reason) + "."
	}
	return c.seeOther(ec, msg, "/console/suppressions?q="+url.QueryEscape(email))
}

// confirmUnsuppress is GET /console/suppressions/remove?email=… (admin).
func (c *Console) confirmUnsuppress(ec echo.Context) error {
	s, err := c.Store.SuppressionByEmail(ec.Request().Context(), ec.QueryParam("email"))
	if err != nil {
		return err
	}
	return c.confirm(ec, http.StatusOK, "Remove the suppression on "+s.Email+"?", unsuppressData(s), nil)
}

func unsuppressData(s postgres.Suppression) confirmData {
	return confirmData{
		Lines: []string{"Its reason was " + string(s.Reason) + ". Marketing email may go to " + s.Email + " again, within its contact's preferences.",
			"If the suppression was what stopped the contact, they become active again."},
		Action: "/console/suppressions/remove", Button: "Remove suppression", Hidden: map[string]string{"email": s.Email},
		Cancel: "/console/suppressions?q=" + url.QueryEscape(s.Email)}
}

// unsuppress is POST /console/suppressions/remove (admin, confirmed).
func (c *Console) unsuppress(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	email := form.Get("email")
	if _, ok, err := confirmed(ec, "/console/suppressions/remove?email="+url.QueryEscape(email)); !ok {
		return err
	}
	if err := c.Store.Unsuppress(ec.Request().Context(), actor(ec), email); err != nil {
		return err
	}
	return c.seeOther(ec, "The suppression on "+email+" is removed.", "/console/suppressions")
}
