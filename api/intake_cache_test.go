package api

import (
	"net/http"
	"testing"
)

// TestIntakeSourceRemoved: the intake keeps the sources it looked up by key
// for a moment, but a source removed through the API is refused at once.
func TestIntakeSourceRemoved(t *testing.T) {
	e := newIntakeEnv(t, sqliteStore)
	key := e.addSource("scanner", "generic")
	alert := `{"summary":"Port scan from 203.0.113.9","dedup_key":"scan"}`
	for range 2 {
		e.ok(http.StatusAccepted, request{method: "POST", path: "/intake/generic/" + key, body: alert})
	}
	e.ok(http.StatusNoContent, request{method: "DELETE", path: "/api/v1/sources/scanner", as: e.admin})
	e.fail(http.StatusUnauthorized, "not valid", request{method: "POST", path: "/intake/generic/" + key, body: alert})
}
