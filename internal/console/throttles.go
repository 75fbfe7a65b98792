package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/throttle"
)

// blankRows is how many empty domain rows the form offers for new domains.
const blankRows = 3

// throttleData is the throttle page's content besides its form.
type throttleData struct {
	Rows      []throttleRow
	UpdatedAt time.Time
}

// throttleRow is one domain's line of the form: its inputs are domain.N,
// rate.N and remove.N, and its error, under domain.N, is shown below the
// line and describes both inputs.
type throttleRow struct {
	N, Line              int
	Domain, Rate, Error  string
	Existing, Remove     bool
	DomainID, RateID, ID string
}

func throttleForm(values url.Values, rows int) *Form {
	labels := []string{"global_per_second", "Global rate"}
	for i := range rows {
		labels = append(labels, "domain."+strconv.Itoa(i), "Domain line "+strconv.Itoa(i+1))
	}
	return newForm(values, labels...)
}

func throttleRows(f *Form, n int) []throttleRow {
	rows := make([]throttleRow, n)
	for i := range rows {
		k := strconv.Itoa(i)
		rows[i] = throttleRow{N: i, Line: i + 1, Domain: f.Get("domain." + k), Rate: f.Get("rate." + k), Error: f.Error("domain." + k),
			Existing: f.Get("existing."+k) == "yes", Remove: f.Get("remove."+k) == "yes",
			ID: fieldID("domain." + k), DomainID: fieldID("domain." + k), RateID: fieldID("rate." + k)}
	}
	return rows
}

func rate(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// throttles is GET /console/throttles: the global and per-domain rates.
func (c *Console) throttles(ec echo.Context) error {
	s, err := c.Throttles.Get(ec.Request().Context())
	if err != nil {
		return err
	}
	domains := make([]string, 0, len(s.Domains))
	for d := range s.Domains {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	n := len(domains) + blankRows
	f := throttleForm(nil, n)
	f.Set("global_per_second", rate(s.GlobalPerSecond))
	for i, d := range domains {
		k := strconv.Itoa(i)
		f.Set("domain."+k, d)
		f.Set("rate."+k, rate(s.Domains[d]))
		f.Set("existing."+k, "yes")
	}
	return c.render(ec, http.StatusOK, "throttles", &View{Title: "Throttles", Form: f,
		Data: throttleData{Rows: throttleRows(f, n), UpdatedAt: s.UpdatedAt}})
}

// putThrottles is POST /console/throttles: the whole settings at once,
// through the limiter, which validates them (every bad field named, such
// as "domains.gmail.com", and nothing written) and audits the change.
func (c *Console) putThrottles(ec echo.Context) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	n := 0
	for form.Has("domain."+strconv.Itoa(n)) && n < throttle.MaxDomains+blankRows {
		n++
	}
	f := throttleForm(form, n)
	s := throttle.Settings{Domains: map[string]float64{}}
	lineOf := map[string]int{} // domain as typed → its line
	if v, ok := number(f, "global_per_second", "is required (0 means no global limit)", "must be a number such as 200"); ok {
		s.GlobalPerSecond = v
	}
	for i := range n {
		k := strconv.Itoa(i)
		domain, r := f.Get("domain."+k), f.Get("rate."+k)
		switch {
		case f.Get("remove."+k) == "yes", domain == "" && r == "":
			continue
		case domain == "":
			f.Fail("domain."+k, "enter the domain this rate is for")
			continue
		}
		if _, dup := lineOf[domain]; dup {
			f.Fail("domain."+k, domain+" is listed twice")
			continue
		}
		lineOf[domain] = i
		if v, ok := numberOf(f, "domain."+k, r, "enter a rate for "+domain+" (0 means no limit)", "the rate for "+domain+" must be a number such as 20"); ok {
			s.Domains[domain] = v
		}
	}
	again := func(status int) error {
		return c.render(ec, status, "throttles", &View{Title: "Throttles", Form: f, Data: throttleData{Rows: throttleRows(f, n)}})
	}
	if f.Failed() {
		return again(http.StatusUnprocessableEntity)
	}
	if _, err := c.Throttles.Put(ec.Request().Context(), actor(ec), s); err != nil {
		status, ok := f.absorb(err, func(field string) string {
			if d, ok := strings.CutPrefix(field, "domains."); ok {
				if i, ok := lineOf[d]; ok {
					return "domain." + strconv.Itoa(i)
				}
			}
			return field
		})
		if !ok {
			return err
		}
		return again(status)
	}
	return c.seeOther(ec, "The throttles are saved; the next send batches use them.", "/console/throttles")
}

// number reads a form field as a number, failing it with missing or bad.
func number(f *Form, name, missing, bad string) (float64, bool) {
	return numberOf(f, name, f.Get(name), missing, bad)
}

// numberOf reads s as a number, failing the field name with missing or bad.
func numberOf(f *Form, name, s, missing, bad string) (float64, bool) {
	if s == "" {
		f.Fail(name, missing)
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		f.Fail(name, bad)
		return 0, false
	}
	return v, true
}
