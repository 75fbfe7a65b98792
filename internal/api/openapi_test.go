package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rapport-dev/rapport/internal/prefcenter"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	return doc
}

// TestOpenAPIDocumentIsValid loads the document with kin-openapi and
// validates it, examples, defaults, formats and patterns included, plus the
// conventions kin-openapi does not know about.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	raw := OpenAPIDocument()
	var head struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q (%v), want 3.1.0", head.OpenAPI, err)
	}
	if strings.Contains(string(raw), `"nullable"`) {
		t.Error(`"nullable" is OpenAPI 3.0; in 3.1 write "type": ["string", "null"]`)
	}
	// kin-openapi (v0.150 and later) validates OpenAPI 3.1 as it is:
	// type arrays with "null", examples, defaults, formats and patterns.
	doc := loadOpenAPI(t)
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation(), openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaFormatValidation(), openapi3.EnableSchemaPatternValidation()); err != nil {
		t.Fatalf("openapi.json is invalid: %v", err)
	}

	roles := []string{"viewer", "marketer", "admin"}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: needs an operationId and a summary", name)
			}
			if op.Responses.Len() == 0 {
				t.Errorf("%s: no responses", name)
			}
			role, hasRole := op.Extensions["x-required-role"].(string)
			bearer := op.Security != nil && slices.ContainsFunc(*op.Security, func(r openapi3.SecurityRequirement) bool {
				_, ok := r["bearerAuth"]
				return ok
			})
			switch {
			case bearer && (!hasRole || !slices.Contains(roles, role)):
				t.Errorf("%s: an API key operation needs x-required-role viewer, marketer or admin, has %v", name, op.Extensions["x-required-role"])
			case bearer && !strings.Contains(op.Description, "Requires "):
				t.Errorf("%s: the description must name the role it requires", name)
			case !bearer && hasRole:
				t.Errorf("%s: x-required-role %q without bearerAuth", name, role)
			}
			if bearer && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s: an authenticated operation must document 401", name)
			}
			if bearer && role != "viewer" && op.Responses.Status(http.StatusForbidden) == nil {
				t.Errorf("%s: an operation needing %s must document 403", name, role)
			}
			if rb := op.RequestBody; rb != nil && rb.Value.Content.Get("application/json") != nil {
				if op.Responses.Status(http.StatusBadRequest) == nil {
					t.Errorf("%s: a JSON body can be unreadable: document 400", name)
				}
				// A provider's webhook takes the provider's format, whatever
				// fields it adds.
				_, provider := op.Extensions["x-provider-format"]
				if s := rb.Value.Content.Get("application/json").Schema.Value; !provider && (s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has) {
					t.Errorf("%s: the server refuses unknown fields: the body schema needs additionalProperties: false", name)
				}
			}
			for code, r := range op.Responses.Map() {
				if code >= "400" && strings.HasPrefix(path, "/api/") && r.Value.Content.Get("application/problem+json") == nil {
					t.Errorf("%s: %s must be application/problem+json", name, code)
				}
			}
		}
	}
	for _, name := range []string{"Contact", "ContactInput", "Tier", "TierInput", "Topic", "Campaign", "CampaignInput",
		"Forecast", "Stats", "Preview", "Delivery", "TimelineItem", "Suppression", "Throttles", "APIKey", "AuditEntry", "Problem"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
}

var echoParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// openAPIPath writes an Echo route path as the document writes it.
func openAPIPath(p string) string {
	if strings.HasSuffix(p, "/*") {
		return strings.TrimSuffix(p, "*") + "{path}"
	}
	return echoParam.ReplaceAllString(p, "{$1}")
}

// testServer is the server with every route registered (as cmd/rapport
// mounts it: the API, River's UI and the customer pages) and no database:
// enough to list routes and to reach the auth middleware. (/metrics is
// served by the operations listener, internal/ops, not here.)
func testServer(t *testing.T) *Server {
	t.Helper()
	stub := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	return New(Deps{Log: slog.New(slog.DiscardHandler), RiverUI: stub,
		Pages: prefcenter.New(prefcenter.Deps{Log: slog.New(slog.DiscardHandler)})})
}

// TestOpenAPICoversEveryRoute fails when a route is added without being
// documented, or when the document names an operation no route serves.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range testServer(t).Routes() {
		path := openAPIPath(r.Path)
		// River's UI is mounted with Any: every method goes to River's own
		// handler, which has its own routes. The document describes GET.
		if (r.Path == "/riverui" || r.Path == "/riverui/*") && r.Method != http.MethodGet {
			continue
		}
		served[r.Method+" "+path] = true
	}
	var undocumented, stale []string
	for op := range served {
		if !documented[op] {
			undocumented = append(undocumented, op)
		}
	}
	for op := range documented {
		if !served[op] {
			stale = append(stale, op)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(stale)
	if len(undocumented) > 0 {
		t.Errorf("routes missing from internal/api/openapi.json:\n  %s", strings.Join(undocumented, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("operations in internal/api/openapi.json that no route serves:\n  %s", strings.Join(stale, "\n  "))
	}
	if len(served) < 40 {
		t.Errorf("only %d routes found: is the server built with every route?", len(served))
	}
}

// TestOpenAPIAuthMatchesRoutes checks each operation's documented security
// against the server: without credentials, every bearerAuth or eventsSecret
// operation answers the documented 401 problem, and /riverui asks for Basic.
func TestOpenAPIAuthMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	srv := testServer(t)
	params := regexp.MustCompile(`\{[a-z_]+\}`)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security == nil || len(*op.Security) == 0 {
				continue
			}
			url := params.ReplaceAllString(path, "1")
			req := httptest.NewRequest(method, url, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s without credentials: %d, want 401", method, path, rec.Code)
				continue
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s: 401 as %q", method, path, ct)
			}
			if _, basic := (*op.Security)[0]["riverUIBasic"]; basic && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s %s: documented as Basic auth, but WWW-Authenticate is %q", method, path, rec.Header().Get("WWW-Authenticate"))
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	srv := testServer(t)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json without a key: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	body, _ := io.ReadAll(rec.Body)
	if string(body) != string(OpenAPIDocument()) {
		t.Error("the served document is not the embedded one")
	}
}
