package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    int                   `json:"status"`
	Detail    string                `json:"detail,omitempty"`
	Instance  string                `json:"instance,omitempty"`
	RequestID string                `json:"request_id,omitempty"`
	Errors    []outreach.FieldError `json:"errors,omitempty"`
}

// statusFor is the one place domain error codes become HTTP statuses.
func statusFor(code string) int {
	switch code {
	case outreach.EINVALID:
		return http.StatusUnprocessableEntity
	case outreach.ENOTFOUND:
		return http.StatusNotFound
	case outreach.ECONFLICT:
		return http.StatusConflict
	case outreach.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case outreach.EFORBIDDEN:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// badRequest is a 400 for input that could not even be read (bad JSON,
// unknown fields, wrong types): distinct from 422, input that was read but
// is invalid.
type badRequest struct{ err outreach.Error }

func (b *badRequest) Error() string { return b.err.Error() }

func newBadRequest(field, msg string) error {
	e := &badRequest{err: outreach.Error{Code: outreach.EINVALID, Message: msg}}
	if field != "" {
		e.err.Fields = []outreach.FieldError{{Field: field, Message: msg}}
	}
	return e
}

// errorHandler writes every error as problem+json. Internal errors are
// logged with the request id and shown without detail.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := Problem{Instance: c.Request().URL.Path, RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	var he *echo.HTTPError
	var br *badRequest
	var oe *outreach.Error
	switch {
	case errors.As(err, &br):
		p.Status, p.Detail, p.Errors = http.StatusBadRequest, br.err.Message, br.err.Fields
	case errors.As(err, &oe):
		p.Status, p.Detail, p.Errors = statusFor(oe.Code), oe.Message, oe.Fields
	case errors.As(err, &he):
		p.Status = he.Code
		if m, ok := he.Message.(string); ok {
			p.Detail = m
		}
		if he.Code == http.StatusRequestEntityTooLarge && (p.Detail == "" || p.Detail == http.StatusText(he.Code)) {
			p.Detail = "the request body is too large"
		}
	default:
		p.Status = http.StatusInternalServerError
	}
	if p.Status >= 500 {
		s.log.Error("request failed", "request_id", p.RequestID, "method", c.Request().Method,
			"route", c.Path(), "error", err.Error())
		p.Detail = "an internal error occurred; the request id identifies it in our logs"
	}
	p.Title = http.StatusText(p.Status)
	p.Type = "https://rapport.dev/problems/" + strings.ReplaceAll(strings.ToLower(p.Title), " ", "-")
	body, _ := json.Marshal(p)
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(body)
	}
}

// decodeError names the field at fault in a JSON decoding error.
func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var oe *outreach.Error
	switch {
	case errors.As(err, &oe):
		return &badRequest{err: *oe}
	case errors.As(err, &syn):
		return newBadRequest("", fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return newBadRequest(field, fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return newBadRequest(name, "unknown field")
	case errors.Is(err, errEmptyBody):
		return newBadRequest("", "a JSON body is required")
	case tooLarge(err):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	}
	return newBadRequest("", "malformed JSON: "+err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int32", "int64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return k
}

// tooLarge reports whether reading a body failed for its size: Echo's body
// limit (which a chunked body, of no announced length, meets while it is
// read), or net/http's.
func tooLarge(err error) bool {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	return (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) || errors.As(err, &mbe) ||
		strings.Contains(err.Error(), "request body too large")
}
