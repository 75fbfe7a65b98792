package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openapiJSON is the OpenAPI 3.1 document of every route: hand-maintained,
// and kept true by openapi_test.go (every route documented, nothing stale)
// and by the end-to-end tests, which validate every response against it.
//
//go:embed openapi.json
var openapiJSON []byte

// OpenAPIDocument returns the OpenAPI 3.1 document served at
// /api/v1/openapi.json. Callers must not modify it.
func OpenAPIDocument() []byte { return openapiJSON }

// openapi serves the document, without authentication: it describes the
// API, it holds no data.
func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openapiJSON)
}
