package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// A tier's page also tunes it: a preview of the form's rule replayed
// over the past days (what-if), the contacts drifting away from the tier
// with accept and dismiss, and the drift thresholds. Each goes through
// the tuning service exactly as the API's handlers do (POST
// /tiers/{key}/what-if, GET /insights/drift, POST
// /insights/drift/{id}/accept|dismiss, PUT /insights/drift/thresholds/{tier}),
// so the rules, the audit entries and the timeline events are theirs.

func tierPath(key string) string { return "/console/tiers/" + url.PathEscape(key) }

// The what-if's replay period: the API's default. The form checks the
// days against the service's bounds itself, so that days out of range are
// shown with the rule's errors, also when the rule could not be read and
// the service is never asked.
const whatIfDays = 30

// previewTier is POST /console/tiers/:key/what-if: the form's rule, read
// and refused exactly as Save reads it, replayed over the last days days
// by the what-if service, read-only. The page comes back with the form as
// typed and the result under it (htmx swaps the page's main in place); nothing
// is saved.
func (c *Console) previewTier(ec echo.Context) error {
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
	f.labels["days"] = "Days to replay"
	t, capLine, errs := readTier(f, rows, current.Key)
	days := whatIfDays
	if s := f.Get("days"); s != "" {
		days, _ = strconv.Atoi(s) // 0 when not a number: out of range
	}
	// readTier judged the rule only if it failed to read it: every error
	// shows at once, the days' with the rule's.
	errs = tuning.WhatIfErrors(t, errs, days)
	again := func(status int, w *whatIfView) error {
		return c.tierPageWith(ec, status, current, f, rows, tierExtra{WhatIf: w})
	}
	if len(errs) > 0 {
		status, _ := f.absorb(outreach.Invalid(errs...), tierFieldName(capLine))
		return again(status, nil)
	}
	w, err := c.Insights.WhatIf(ctx, t, days)
	if err != nil {
		status, ok := f.absorb(err, tierFieldName(capLine))
		if !ok {
			return err
		}
		return again(status, nil)
	}
	v := c.showWhatIf(ctx, w)
	return again(http.StatusOK, &v)
}

// whatIfView is a what-if answer as the page shows it.
type whatIfView struct {
	Days                   int
	From, To               time.Time
	Current, Proposed      string // the rules in words
	Contacts, Deliveries   int
	Tally                  []tallyRow
	Campaigns              []campaignTally
	HistChart              template.HTML
	Hist                   []histRow
	Change                 insight.Change
	Scheduled              insight.Moves
	ScheduledBy            []campaignMoves
	Recurring              []recurringRow
	Assumptions            []string
	ReadMS, DecideMS       int64
	Sent, SentAfter, Delta string // the headline: messages sent before and after
}

type tallyRow struct {
	Label, Explain string
	Before, After  int
	Delta          string
}

type campaignTally struct {
	ID            int64
	Name          string
	Before, After insight.Tally
}

type histRow struct {
	Label         string
	Before, After int
}

type campaignMoves struct {
	ID   int64
	Name string
	insight.Moves
}

type recurringRow struct {
	ID                int64
	Name              string
	FireAt            time.Time
	Current, Proposed forecastCell
}

type forecastCell struct{ Now, Deferred, Expired, Skipped int }

// delta writes a change with its sign: "+2", "−1", "0".
func delta(before, after int) string {
	switch d := after - before; {
	case d > 0:
		return "+" + strconv.Itoa(d)
	case d < 0:
		return "−" + strconv.Itoa(-d)
	}
	return "0"
}

func (c *Console) campaignName(ctx context.Context, names map[int64]string, id int64) string {
	if n, ok := names[id]; ok {
		return n
	}
	n := "Campaign " + strconv.FormatInt(id, 10)
	if camp, err := c.Campaigns.Get(ctx, id); err == nil {
		n = camp.Name
	}
	names[id] = n
	return n
}

func (c *Console) showWhatIf(ctx context.Context, w tuning.WhatIf) whatIfView {
	r := w.Replay
	v := whatIfView{Days: w.Days, From: w.From, To: w.To, Current: outreach.DescribeRule(w.Current, consoleLang),
		Proposed: outreach.DescribeRule(w.Proposed, consoleLang), Contacts: r.Contacts, Deliveries: r.Deliveries,
		Change: r.Change, Scheduled: w.Scheduled, Assumptions: w.Assumptions,
		ReadMS: w.ReadTime.Milliseconds(), DecideMS: w.DecideTime.Milliseconds(),
		Sent: strconv.Itoa(r.Before.Sent), SentAfter: strconv.Itoa(r.After.Sent), Delta: delta(r.Before.Sent, r.After.Sent)}
	for _, x := range []struct {
		label, explain string
		b, a           int
	}{
		{"Sent", "sent, including those sent later than asked", r.Before.Sent, r.After.Sent},
		{"Deferred", "sent or still waiting, later than asked", r.Before.Deferred, r.After.Deferred},
		{"Expired", "dropped: past the campaign’s expiry, or displaced", r.Before.Expired, r.After.Expired},
		{"Pending", "planned after now, still waiting", r.Before.Pending, r.After.Pending},
		{"Skipped", "unsubscribed, paused, suppressed…: the same either way", r.Before.Skipped, r.After.Skipped},
	} {
		v.Tally = append(v.Tally, tallyRow{Label: x.label, Explain: x.explain, Before: x.b, After: x.a, Delta: delta(x.b, x.a)})
	}
	names := map[int64]string{}
	for _, ct := range r.Campaigns {
		v.Campaigns = append(v.Campaigns, campaignTally{ID: ct.CampaignID, Name: c.campaignName(ctx, names, ct.CampaignID), Before: ct.Before, After: ct.After})
	}
	for _, m := range w.ScheduledBy {
		v.ScheduledBy = append(v.ScheduledBy, campaignMoves{ID: m.CampaignID, Name: c.campaignName(ctx, names, m.CampaignID), Moves: m.Moves})
	}
	for _, f := range w.Recurring {
		row := recurringRow{ID: f.CampaignID, Name: f.Name, FireAt: f.FireAt,
			Current:  forecastCell{Now: f.Current.Now, Deferred: f.Current.Deferred, Expired: f.Current.Expired},
			Proposed: forecastCell{Now: f.Proposed.Now, Deferred: f.Proposed.Deferred, Expired: f.Proposed.Expired}}
		for _, n := range f.Current.Skipped {
			row.Current.Skipped += n
		}
		for _, n := range f.Proposed.Skipped {
			row.Proposed.Skipped += n
		}
		v.Recurring = append(v.Recurring, row)
	}
	var cols []string
	before := gridRow{Label: "Before", Sub: "as it happened"}
	after := gridRow{Label: "After", Sub: "under the proposed rule"}
	var desc strings.Builder
	for i, b := range insight.Buckets {
		label := bucketWords(b)
		hb, ha := at(r.HistogramBefore, i), at(r.HistogramAfter, i)
		cols = append(cols, label)
		v.Hist = append(v.Hist, histRow{Label: label, Before: hb, After: ha})
		before.Bars = append(before.Bars, gridBar{Value: float64(hb), Text: strconv.Itoa(hb)})
		after.Bars = append(after.Bars, gridBar{Value: float64(ha), Text: strconv.Itoa(ha)})
		fmt.Fprintf(&desc, "%s messages: %d contacts before, %d after. ", label, hb, ha)
	}
	v.HistChart = barGrid("whatif-chart", "Contacts by the most messages they get in any 30 days, before and after",
		desc.String()+"The table below has the same figures.", cols, []gridRow{before, after})
	return v
}

func at(xs []int, i int) int {
	if i < len(xs) {
		return xs[i]
	}
	return 0
}

// driftPageSize is how many drifting contacts a tier's page lists at once.
const driftPageSize = 20

// driftView is a tier's drifting contacts.
type driftView struct {
	Items []driftRow
	Pager Pager
}

// driftRow is one suggestion as the page shows it.
type driftRow struct {
	ContactID                 int64
	Email, Name               string
	From, To, Toward          string // tier names; "closer" or "further"
	Confidence, Rule          string
	Fingerprint               string
	Evidence                  []evidenceRow
	AcceptPath, DismissPath   string
	ContactPath, SuggestedKey string
}

type evidenceRow struct {
	Text  string
	Facts []string
}

// confidenceRule says the confidence's rule in words, as insight.Drift
// decides it.
func confidenceRule(conf string, rules int) string {
	if conf == "high" {
		return fmt.Sprintf("high: %d rules agree (two or more)", rules)
	}
	return "medium: one rule fired"
}

// plainEvidence writes evidence with tier names instead of keys in
// backquotes, and each fact with its day.
func plainEvidence(ev []insight.Evidence, o tierOrder) []evidenceRow {
	var out []evidenceRow
	for _, e := range ev {
		text := e.Text
		for key, name := range o.name {
			text = strings.ReplaceAll(text, "`"+key+"`", "“"+name+"”")
		}
		row := evidenceRow{Text: upperFirst(text)}
		for _, f := range e.Facts {
			s := strings.ReplaceAll(f.Kind, "_", " ") + ", " + f.At.UTC().Format("2 Jan 2006")
			if f.Detail != "" {
				s += ": " + f.Detail
			}
			row.Facts = append(row.Facts, s)
		}
		out = append(out, row)
	}
	return out
}

// upperFirst starts evidence with a capital letter: the rules write it in
// lower case ("overdue: no message for 70 days…") to be quoted mid-sentence.
func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// drift reads a page of the tier's drifting contacts (GET
// /insights/drift?tier=, the same service call), by contact id from the
// drift_after cursor.
func (c *Console) drift(ec echo.Context, t outreach.Tier, all []outreach.Tier) (driftView, error) {
	pg, err := c.Insights.Drift(ec.Request().Context(), t.Key, cursor(ec, "drift_after"), driftPageSize)
	if err != nil {
		return driftView{}, err
	}
	o := tierNames(all)
	var v driftView
	for _, it := range pg.Items {
		v.Items = append(v.Items, c.driftRow(it, o))
	}
	if pg.NextAfter > 0 {
		q := ec.Request().URL.Query()
		q.Set("drift_after", strconv.FormatInt(pg.NextAfter, 10))
		v.Pager = Pager{Next: tierPath(t.Key) + "?" + q.Encode() + "#drift-h", Label: "More drifting contacts →"}
	}
	return v, nil
}

func (c *Console) driftRow(it tuning.DriftItem, o tierOrder) driftRow {
	s := it.Suggestion
	base := tierPath(s.From) + "/drift/" + strconv.FormatInt(it.Contact.ID, 10)
	return driftRow{ContactID: it.Contact.ID, Email: it.Contact.Email, Name: it.Contact.Name, From: o.of(s.From), To: o.of(s.To),
		Toward: s.Toward, Confidence: s.Confidence, Rule: confidenceRule(s.Confidence, len(s.Evidence)), Fingerprint: s.Fingerprint,
		Evidence: plainEvidence(s.Evidence, o), AcceptPath: base + "/accept", DismissPath: base + "/dismiss",
		ContactPath: contactPath(it.Contact.ID), SuggestedKey: s.To}
}

// pathDrift reads the route's tier and contact and the contact's current
// suggestion; ok is false when there is none (nothing to decide, or it was
// decided already).
func (c *Console) pathDrift(ec echo.Context) (outreach.Tier, tuning.DriftItem, bool, error) {
	ctx := ec.Request().Context()
	t, err := c.Store.Tier(ctx, ec.Param("key"))
	if err != nil {
		return t, tuning.DriftItem{}, false, err
	}
	id, err := strconv.ParseInt(ec.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return t, tuning.DriftItem{}, false, notFound("There is no such contact.")
	}
	it, ok, err := c.Insights.Suggestion(ctx, id)
	return t, it, ok, err
}

// confirmDrift is GET …/drift/:id/accept and …/dismiss: what accepting or
// dismissing the suggestion does, with its evidence, and the button.
func (c *Console) confirmDrift(accept bool) echo.HandlerFunc {
	return func(ec echo.Context) error {
		t, it, ok, err := c.pathDrift(ec)
		if err != nil {
			return err
		}
		if !ok {
			c.flash(ec, flashError, "There is no drift suggestion for this contact now: none, or it was decided already.")
			return ec.Redirect(http.StatusSeeOther, tierPath(t.Key)+"#drift-h")
		}
		all, err := c.Store.Tiers(ec.Request().Context())
		if err != nil {
			return err
		}
		row := c.driftRow(it, tierNames(all))
		who := it.Contact.Email
		d := confirmData{Hidden: map[string]string{"fingerprint": row.Fingerprint}, Cancel: tierPath(t.Key) + "#drift-h"}
		var question string
		if accept {
			question = "Move " + who + " to " + row.To + "?"
			d.Lines = append(d.Lines, who+" moves from the tier "+row.From+" to "+row.To+", as an admin’s tier change: the next plans use it, it is written to the audit log under your name and on their timeline with this evidence.")
			d.Action, d.Button = row.AcceptPath, "Move to "+row.To
		} else {
			question = "Dismiss the suggestion for " + who + "?"
			d.Lines = append(d.Lines, who+" stays in "+row.From+". The same evidence is not suggested again, even from another tier; new evidence (another signal, another pause) is. The decision is audited under your name.")
			d.Action, d.Button = row.DismissPath, "Dismiss the suggestion"
		}
		for _, e := range row.Evidence {
			d.Lines = append(d.Lines, "Evidence: "+e.Text+".")
		}
		d.Lines = append(d.Lines, "Confidence "+row.Rule+".")
		return c.confirm(ec, http.StatusOK, question, d, nil)
	}
}

// decideDrift is POST …/drift/:id/accept and …/dismiss, from their
// confirmation page: the service's AcceptDrift or DismissDrift with the
// fingerprint the admin was shown, so evidence that changed meanwhile is
// refused instead of decided.
func (c *Console) decideDrift(accept bool) echo.HandlerFunc {
	return func(ec echo.Context) error {
		key := ec.Param("key")
		verb := "dismiss"
		if accept {
			verb = "accept"
		}
		form, ok, err := confirmed(ec, tierPath(key)+"/drift/"+url.PathEscape(ec.Param("id"))+"/"+verb)
		if !ok {
			return err
		}
		id, err := strconv.ParseInt(ec.Param("id"), 10, 64)
		if err != nil || id < 1 {
			return notFound("There is no such contact.")
		}
		decide := c.Insights.DismissDrift
		if accept {
			decide = c.Insights.AcceptDrift
		}
		it, err := decide(ec.Request().Context(), actor(ec), id, form.Get("fingerprint"))
		if err != nil {
			var oe *outreach.Error
			if !errors.As(err, &oe) || oe.Code != outreach.ECONFLICT {
				return err
			}
			c.flash(ec, flashError, sentence(oe.Message)+".")
			return ec.Redirect(http.StatusSeeOther, tierPath(key)+"#drift-h")
		}
		all, err := c.Store.Tiers(ec.Request().Context())
		if err != nil {
			return err
		}
		o := tierNames(all)
		if accept {
			c.dash.stale()
			return c.seeOther(ec, it.Contact.Email+" is now in "+o.of(it.Suggestion.To)+" (accepted, on their timeline).", tierPath(key)+"#drift-h")
		}
		return c.seeOther(ec, "The suggestion for "+it.Contact.Email+" is dismissed; they stay in "+o.of(it.Suggestion.From)+".", tierPath(key)+"#drift-h")
	}
}

// The drift thresholds' form fields, as the API names them.
var thresholdLabels = []string{"preference_age", "Preferred tier kept for", "pauses", "Pauses", "pause_window", "Pauses within",
	"opt_outs", "Topic opt-outs", "opt_out_window", "Opt-outs within", "overdue_factor", "Overdue factor",
	"closer_signals", "Closer signals", "closer_window", "Signals within"}

// thresholdsForm is the tier's drift thresholds in their form.
func (c *Console) thresholdsForm(ctx context.Context, key string) (*Form, error) {
	all, err := c.Insights.Thresholds(ctx)
	if err != nil {
		return nil, err
	}
	th := all[key]
	f := newForm(nil, thresholdLabels...)
	f.Set("preference_age", outreach.FormatDuration(th.PreferenceAge))
	f.Set("pauses", strconv.Itoa(th.Pauses))
	f.Set("pause_window", outreach.FormatDuration(th.PauseWindow))
	f.Set("opt_outs", strconv.Itoa(th.OptOuts))
	f.Set("opt_out_window", outreach.FormatDuration(th.OptOutWindow))
	f.Set("overdue_factor", strconv.FormatFloat(th.OverdueFactor, 'g', -1, 64))
	f.Set("closer_signals", strconv.Itoa(th.CloserSignals))
	f.Set("closer_window", outreach.FormatDuration(th.CloserWindow))
	return f, nil
}

// readThresholds reads the form over the current thresholds: a field left
// empty keeps its value, as the API's PUT keeps a field left out. What
// cannot be read fails its field; the thresholds' own rules are
// Thresholds.Validate's, which the store applies.
func readThresholds(f *Form, th insight.Thresholds) (insight.Thresholds, []outreach.FieldError) {
	var errs []outreach.FieldError
	dur := func(name string, into *time.Duration) {
		if s := f.Get(name); s != "" {
			d, err := outreach.ParseDuration(s)
			if err != nil {
				errs = append(errs, outreach.FieldError{Field: name, Message: err.Error()})
				return
			}
			*into = d
		}
	}
	num := func(name string, into *int) {
		if s := f.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				errs = append(errs, outreach.FieldError{Field: name, Message: "must be a whole number such as 2 (0 turns the rule off)"})
				return
			}
			*into = n
		}
	}
	dur("preference_age", &th.PreferenceAge)
	num("pauses", &th.Pauses)
	dur("pause_window", &th.PauseWindow)
	num("opt_outs", &th.OptOuts)
	dur("opt_out_window", &th.OptOutWindow)
	if s := f.Get("overdue_factor"); s != "" {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, outreach.FieldError{Field: "overdue_factor", Message: "must be a number such as 2 or 1.5 (0 turns the rule off)"})
		} else {
			th.OverdueFactor = x
		}
	}
	num("closer_signals", &th.CloserSignals)
	dur("closer_window", &th.CloserWindow)
	if len(errs) > 0 {
		// Judge the rest at once too, so every error shows on the first
		// submit: the same rules the store applies.
		for _, p := range th.Validate() {
			errs = append(errs, outreach.FieldError{Field: p.Field, Message: p.Message})
		}
	}
	return th, errs
}

// putThresholds is POST /console/tiers/:key/thresholds: as PUT
// /api/v1/insights/drift/thresholds/{tier}, through the same service call
// (validated and audited by the store). A form that fails comes back with
// its values and an error at each field; nothing is written.
func (c *Console) putThresholds(ec echo.Context) error {
	ctx := ec.Request().Context()
	current, err := c.Store.Tier(ctx, ec.Param("key"))
	if err != nil {
		return err
	}
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := newForm(form, thresholdLabels...)
	all, err := c.Insights.Thresholds(ctx)
	if err != nil {
		return err
	}
	th, errs := readThresholds(f, all[current.Key])
	if len(errs) == 0 {
		if _, err = c.Insights.SetThresholds(ctx, actor(ec), current.Key, th); err == nil {
			return c.seeOther(ec, "The drift thresholds of "+current.Name+" are saved; the list of drifting contacts uses them now.",
				tierPath(current.Key)+"#thresholds-h")
		}
	} else {
		err = outreach.Invalid(errs...)
	}
	status, ok := f.absorb(err, nil)
	if !ok {
		return err
	}
	tf, rows := fillTierForm(current)
	tf.Set("days", strconv.Itoa(whatIfDays))
	return c.tierPageWith(ec, status, current, tf, rows, tierExtra{Thresholds: f})
}
