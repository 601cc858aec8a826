package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

// TestDocumentDescribesEveryRoute holds the route table and the OpenAPI
// document to each other: every registered route is an operation of the
// document and every operation a registered route, with the same security.
func TestDocumentDescribesEveryRoute(t *testing.T) {
	doc := loadDocument(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	var registered, documented []string
	for _, rt := range routes {
		registered = append(registered, rt.pattern())
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+path)
			public := op.Security != nil && len(*op.Security) == 0
			i := slices.IndexFunc(routes, func(rt route) bool { return rt.pattern() == method+" "+path })
			if i >= 0 && routes[i].public != public {
				t.Errorf("%s %s: the server needs a token: %t; the document says: %t", method, path, !routes[i].public, !public)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			if !public && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s %s needs a token but does not document 401", method, path)
			}
			if op.RequestBody != nil && (op.Responses.Status(http.StatusRequestEntityTooLarge) == nil || op.Responses.Status(http.StatusUnsupportedMediaType) == nil) {
				t.Errorf("%s %s takes a body but does not document 413 and 415", method, path)
			}
		}
	}
	slices.Sort(registered)
	slices.Sort(documented)
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("routes registered (-) and documented (+) differ:\n%s", diff)
	}
	if len(doc.Security) != 1 || doc.Components.SecuritySchemes["bearer"] == nil || doc.Components.SecuritySchemes["bearer"].Value.Scheme != "bearer" {
		t.Errorf("the document does not require the bearer scheme by default")
	}
}

// TestDocumentRequestSchemasAreClosed checks that the request bodies are
// described as closed objects, since the server refuses unknown fields.
func TestDocumentRequestSchemasAreClosed(t *testing.T) {
	doc := loadDocument(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			s := op.RequestBody.Value.Content.Get("application/json").Schema.Value
			if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
				t.Errorf("%s %s: the request body schema is not additionalProperties: false", method, path)
			}
		}
	}
}

// TestValidationCatchesDrift shows that the exchange checks of the other
// tests can fail: against a document that differs from the server, the same
// exchange is refused.
func TestValidationCatchesDrift(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Drift"})
	get := request{method: "GET", path: "/api/v1/incidents/" + id, as: alice}
	note := request{method: "POST", path: "/api/v1/incidents/" + id + "/notes", as: alice, body: map[string]string{"text": "hello"}}

	tests := []struct {
		name   string
		req    request
		change func(doc *openapi3.T)
		want   string
	}{
		{"a field the server sends is not described", get, func(doc *openapi3.T) {
			delete(doc.Components.Schemas["Incident"].Value.Properties, "legal_hold")
		}, "body.legal_hold"},
		{"a field the document requires is not sent", get, func(doc *openapi3.T) {
			s := doc.Components.Schemas["Incident"].Value
			s.Properties["owner"] = openapi3.NewStringSchema().NewRef()
			s.Required = append(s.Required, "owner")
		}, "owner"},
		{"a field has another type", get, func(doc *openapi3.T) {
			doc.Components.Schemas["Incident"].Value.Properties["severity"] = openapi3.NewStringSchema().NewRef()
		}, "severity"},
		{"an accepted request is not described", note, func(doc *openapi3.T) {
			doc.Components.Schemas["AddNote"].Value.Properties = openapi3.Schemas{"body": openapi3.NewStringSchema().NewRef()}
			doc.Components.Schemas["AddNote"].Value.Required = []string{"body"}
		}, "body"},
		{"the status is not documented", note, func(doc *openapi3.T) {
			doc.Paths.Value("/api/v1/incidents/{id}/notes").Post.Responses.Delete("200")
		}, "status is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			resp, err := e.send(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.validate(tt.req, resp); err != nil {
				t.Fatalf("the real document refuses the exchange: %v", err)
			}
			doc := loadDocument(t)
			tt.change(doc)
			router, err := gorillamux.NewRouter(doc)
			if err != nil {
				t.Fatal(err)
			}
			drifted := &env{t: t, server: &server{srv: e.srv, doc: doc, router: router, covered: map[string]bool{}}}
			err = drifted.validate(tt.req, resp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("against the changed document: error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
