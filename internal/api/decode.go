package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

var errEmptyBody = errors.New("empty body")

// decode reads exactly one JSON object into v, rejecting unknown fields and
// trailing data.
func decode(c echo.Context, v any) error {
	return decodeFrom(c.Request().Body, v)
}

// decodeFrom is decode for a body already read (or any reader). JSON is
// UTF-8 (RFC 8259): a body that is not is refused, rather than have the
// decoder quietly turn its bad bytes into U+FFFD.
func decodeFrom(r io.Reader, v any) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return decodeError(err)
	}
	if !utf8.Valid(body) {
		return newBadRequest("", "the body must be UTF-8 JSON: it holds a byte sequence that is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return decodeError(errEmptyBody)
		}
		return decodeError(err)
	}
	if dec.More() {
		return newBadRequest("", "the body must hold one JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newBadRequest("", "the body must hold one JSON object")
	}
	return nil
}

// decodeOptional is decode for endpoints whose body may be left out: an
// empty body (with or without Content-Length) leaves v as it is; anything
// else must be one valid JSON object.
func decodeOptional(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	return decode(c, v)
}

// readBody reads the whole request body, for handlers that decode it more
// than once; a body over the limit is a 413 as with decode.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, decodeError(err)
	}
	return body, nil
}

// patchBody reads a PATCH body for handlers that decode it twice: whole,
// and as its fields, which must not be read-only ones alone (see
// readOnlyOnly).
func patchBody(c echo.Context, readOnly map[string]string) ([]byte, map[string]json.RawMessage, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, nil, err
	}
	var raw map[string]json.RawMessage
	if err := decodeFrom(bytes.NewReader(body), &raw); err != nil {
		return nil, nil, err
	}
	return body, raw, readOnlyOnly(raw, readOnly)
}

// readOnlyOnly refuses a PATCH body that names read-only fields (fields the
// server answers but clients do not write: id, status, created_at, …) and
// nothing else. Sent back with the rest of a resource, such fields are
// ignored when they match the stored values; alone they cannot change
// anything and can only be an attempt to set them, such as
// {"status":"active"}, so they are refused whatever the stored value is.
// readOnly maps each such field to why it cannot be written.
func readOnlyOnly(raw map[string]json.RawMessage, readOnly map[string]string) error {
	if len(raw) == 0 {
		return nil
	}
	var fields []outreach.FieldError
	for k := range raw {
		why, ok := readOnly[k]
		if !ok {
			return nil
		}
		fields = append(fields, outreach.FieldError{Field: k, Message: "is read-only: " + why})
	}
	slices.SortFunc(fields, func(a, b outreach.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return &badRequest{err: outreach.Error{Code: outreach.EINVALID, Fields: fields,
		Message: "the body names only read-only fields; a PATCH must name at least one field it can change"}}
}

// page is a list answer.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

const (
	defaultLimit = 50
	maxLimit     = 500
)

// paging reads ?cursor=&limit=. Cursors are opaque: base64 of the last id.
func paging(c echo.Context) (afterID int64, limit int, err error) {
	limit = defaultLimit
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return 0, 0, newBadRequest("limit", "must be a whole number from 1 to 500")
		}
		limit = n
	}
	if s := c.QueryParam("cursor"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return 0, 0, newBadRequest("cursor", "is not a cursor this API returned")
		}
		id, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || id < 0 {
			return 0, 0, newBadRequest("cursor", "is not a cursor this API returned")
		}
		afterID = id
	}
	return afterID, limit, nil
}

// pageOf turns the limit+1 rows a store returned into a page of at most
// limit items, with a cursor after the last one when there are more.
func pageOf[T, J any](rows []T, limit int, id func(T) int64, conv func(T) J) page[J] {
	out := page[J]{Items: make([]J, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		out.NextCursor = cursorAfter(id(rows[limit-1]))
	}
	for _, r := range rows {
		out.Items = append(out.Items, conv(r))
	}
	return out
}

// pageByKey pages a short list the store returns whole and in a stable
// order (tiers, topics): the cursor is the key of the last item shown.
func pageByKey[T, J any](c echo.Context, all []T, key func(T) string, conv func(T) J) (page[J], error) {
	_, limit, err := paging(withoutCursor(c))
	if err != nil {
		return page[J]{}, err
	}
	start := 0
	if raw := c.QueryParam("cursor"); raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		start = -1
		for i, t := range all {
			if err == nil && key(t) == string(b) {
				start = i + 1
			}
		}
		if start < 0 {
			return page[J]{}, newBadRequest("cursor", "is not a cursor this API returned")
		}
	}
	rest := all[start:]
	out := page[J]{Items: make([]J, 0, min(len(rest), limit))}
	if len(rest) > limit {
		rest = rest[:limit]
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(rest[limit-1])))
	}
	for _, t := range rest {
		out.Items = append(out.Items, conv(t))
	}
	return out, nil
}

func cursorAfter(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

// pathID reads a positive integer path parameter.
func pathID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 {
		return 0, outreach.Errorf(outreach.ENOTFOUND, "no such %s", name)
	}
	return id, nil
}

// jsonSerializer writes JSON without escaping <, > and &, so templates read
// back exactly as they were written.
type jsonSerializer struct{ echo.DefaultJSONSerializer }

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

// strPtr is nil for "" and a pointer to s otherwise: empty optional fields
// answer null.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// marshalNoEscape is json.Marshal without escaping <, > and &.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// withoutCursor lets paging read only the limit for lists whose cursors are
// not plain ids.
func withoutCursor(c echo.Context) echo.Context {
	q := c.QueryParams()
	if _, ok := q["cursor"]; !ok {
		return c
	}
	r := c.Request().Clone(c.Request().Context())
	v := r.URL.Query()
	v.Del("cursor")
	r.URL.RawQuery = v.Encode()
	return c.Echo().NewContext(r, c.Response())
}

// idempotency reads an Idempotency-Key header. The request is identified by
// route and body, so the same key with another request is refused rather
// than answered with the wrong result. It buffers the body so the handler
// can still decode it.
func idempotency(c echo.Context, route string) (*postgres.Idem, error) {
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" {
		return nil, nil
	}
	if len(key) > 255 {
		return nil, newBadRequest("Idempotency-Key", "must be at most 255 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return nil, newBadRequest("Idempotency-Key", "must be printable ASCII (such as a UUID)")
		}
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, decodeError(err)
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	h.Write([]byte(c.Request().Method + " " + c.Request().URL.Path + "\n"))
	h.Write(body)
	k, _ := c.Get(keyContext).(postgres.APIKey)
	return &postgres.Idem{APIKeyID: k.ID, Key: key, Route: route, Hash: h.Sum(nil)}, nil
}
