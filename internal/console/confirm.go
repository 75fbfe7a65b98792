package console

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// Destructive actions take two steps, without JavaScript: a GET shows a
// confirmation page saying what will happen, and only its form, which
// carries confirm=yes, does it. A POST without it (a stray form, a
// replayed request) is sent to the confirmation page instead.

// confirmData is a confirmation page's content.
type confirmData struct {
	Lines  []string // what will happen, in plain words
	Action string   // where the confirming form posts
	Button string   // what its button says: the action, not "OK"
	Hidden map[string]string
	Cancel string // where "Cancel" goes back to
}

// confirm shows a confirmation page titled by the question; f carries an
// error when the action was refused (the last admin key, say).
func (c *Console) confirm(ec echo.Context, status int, question string, d confirmData, f *Form) error {
	if f == nil {
		f = newForm(nil)
	}
	return c.render(ec, status, "confirm", &View{Title: question, Form: f, Data: d})
}

// confirmed reads a destructive POST's form and reports whether it came
// from its confirmation page. When it did not, ok is false and the answer
// (a redirect to page, or an error) is in err.
func confirmed(ec echo.Context, page string) (form url.Values, ok bool, err error) {
	form, err = postForm(ec)
	if err != nil {
		return nil, false, badRequest("The form could not be read.")
	}
	if form.Get("confirm") != "yes" {
		return nil, false, ec.Redirect(http.StatusSeeOther, page)
	}
	return form, true, nil
}
