package console

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// pageError is an answer that is an error page: its status, heading and
// what to do about it.
type pageError struct {
	Status      int
	Title, Text string
}

// Error is the page's heading: the error as a person reads it.
func (e *pageError) Error() string { return e.Title }

func forbidden(title, text string) *pageError {
	return &pageError{Status: http.StatusForbidden, Title: title, Text: text}
}

func badRequest(text string) *pageError {
	return &pageError{Status: http.StatusBadRequest, Title: "Something was wrong with that request", Text: text}
}

func notFound(text string) *pageError {
	return &pageError{Status: http.StatusNotFound, Title: "Page not found", Text: text}
}

// errorPages turns every error a console handler or middleware returns
// into a page in the console's layout: the one place errors become
// statuses for the console. Internal errors are logged with the request
// id and shown without detail.
func (c *Console) errorPages(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		err := next(ec)
		if err == nil {
			return nil
		}
		if ec.Response().Committed {
			c.Log.Error("console", "op", "after the answer", "route", ec.Path(), "error", err.Error())
			return nil
		}
		pe := pageFor(err)
		if pe.Status >= 500 {
			c.Log.Error("console request failed", "request_id", ec.Response().Header().Get(echo.HeaderXRequestID),
				"method", ec.Request().Method, "route", ec.Path(), "error", err.Error())
		}
		return c.render(ec, pe.Status, "error", &View{Title: pe.Title, Data: pe})
	}
}

// pageFor maps an error to its page.
func pageFor(err error) *pageError {
	var pe *pageError
	var he *echo.HTTPError
	var oe *outreach.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return notFound("There is no page at this address. Check it, or start again from the dashboard.")
		case http.StatusRequestEntityTooLarge:
			return &pageError{Status: he.Code, Title: "That was too much to send", Text: "The form was larger than rapport accepts."}
		}
		if he.Code < 500 {
			return &pageError{Status: he.Code, Title: http.StatusText(he.Code), Text: "The request could not be answered."}
		}
	case errors.As(err, &oe):
		switch oe.Code {
		case outreach.ENOTFOUND:
			return notFound("What you were looking for does not exist (any more).")
		case outreach.EFORBIDDEN, outreach.EUNAUTHORIZED:
			return forbidden("You do not have access to this", oe.Message)
		case outreach.ECONFLICT:
			return &pageError{Status: http.StatusConflict, Title: "That cannot be done now", Text: oe.Message}
		case outreach.EINVALID:
			return &pageError{Status: http.StatusUnprocessableEntity, Title: "That cannot be done", Text: oe.Message}
		}
	}
	return &pageError{Status: http.StatusInternalServerError, Title: "Something went wrong on our side",
		Text: "The error has been logged. Try again in a moment; if it keeps happening, tell whoever runs rapport the time it happened."}
}
