package console

import (
	"strconv"

	"github.com/labstack/echo/v4"
)

// pageSize is how many rows a console list shows at once.
const pageSize = 50

// Pager links a list to its next page; Next is "" on the last page.
type Pager struct {
	Next, Label string
}

// cursor reads a list's cursor (the id of the last row of the page
// before) from the query parameter param; a missing or malformed one
// starts at the first page.
func cursor(ec echo.Context, param string) int64 {
	n, err := strconv.ParseInt(ec.QueryParam(param), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// paginate trims the limit+1 rows a store returned to limit and, when
// there were more, links to the page after the last one shown: the same
// address with param set to its id, keeping the list's other query
// parameters (its filters). label is the link's text, "Older →" for
// newest-first lists.
func paginate[T any](ec echo.Context, rows []T, limit int, param, label string, id func(T) int64) ([]T, Pager) {
	if len(rows) <= limit {
		return rows, Pager{}
	}
	rows = rows[:limit]
	q := ec.Request().URL.Query()
	q.Set(param, strconv.FormatInt(id(rows[limit-1]), 10))
	return rows, Pager{Next: ec.Request().URL.Path + "?" + q.Encode(), Label: label}
}
