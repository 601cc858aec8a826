package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var keyRE = regexp.MustCompile(`\b[0-9a-f]{32}\b`)

// TestSource: an administrator adds sources and is told, in the terms of
// each tool, where to point it and its key, once; lists and removes them.
func TestSource(t *testing.T) {
	s := startServer(t)
	alice := s.person(t, "alice", "responder")

	tests := []struct {
		kind string
		args []string
		want []string
	}{
		{"alertmanager", nil, []string{"Added source prom (alertmanager).", "webhook_configs:", "- url: " + s.URL + "/intake/alertmanager/"}},
		{"grafana", nil, []string{"Grafana", s.URL + "/intake/grafana/"}},
		{"generic", nil, []string{"curl ", s.URL + "/intake/generic/"}},
		{"pagerduty", nil, []string{"Events API v2", s.URL + "/v2/enqueue", "routing (integration) key"}},
		{"syslog", []string{"--allow", "10.20.0.0/16", "--allow", "192.0.2.7/32,198.51.100.0/24"}, []string{"Allowed from: 10.20.0.0/16, 192.0.2.7/32, 198.51.100.0/24.", "--syslog-udp"}},
		{"email", nil, []string{"--smtp"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			name := tt.kind + "-src"
			if tt.kind == "alertmanager" {
				name = "prom"
			}
			out := s.ok(t, s.Admin, append([]string{"source", "add", name, "--kind", tt.kind}, tt.args...)...)
			contains(t, "source add", out, tt.want...)
			key := keyRE.FindString(out)
			if key == "" {
				t.Fatalf("source add shows no key:\n%s", out)
			}
			if tt.kind == "pagerduty" {
				// The key goes in the events, not in the URL.
				contains(t, "source add", out, "routing (integration) key, shown only now:\n\n    "+key+"\n")
				lacks(t, "source add", out, "/v2/enqueue/"+key)
			} else {
				contains(t, "source add", out, "Key, shown only now: "+key+"\n")
			}
		})
	}

	var created struct {
		Source struct {
			Name      string    `json:"name"`
			Kind      string    `json:"kind"`
			Allow     []string  `json:"allow"`
			CreatedAt time.Time `json:"created_at"`
			CreatedBy string    `json:"created_by"`
		} `json:"source"`
		Key string `json:"key"`
		URL string `json:"url"`
	}
	s.okJSON(t, s.Admin, &created, "source", "add", "siem", "--kind", "generic")
	if created.Source.Name != "siem" || created.Source.CreatedBy != "admin" || created.URL != s.URL+"/intake/generic/"+created.Key || !keyRE.MatchString(created.Key) {
		t.Errorf("source add -o json: %+v", created)
	}

	out := s.ok(t, alice, "source", "ls")
	contains(t, "source ls", out, "NAME", "ALLOWED FROM", "prom ", "alertmanager", "any address", "10.20.0.0/16,192.0.2.7/32,198.51.100.0/24")
	lacks(t, "source ls", out, created.Key)
	var list struct {
		Sources []struct {
			Name      string    `json:"name"`
			Kind      string    `json:"kind"`
			Allow     []string  `json:"allow"`
			CreatedAt time.Time `json:"created_at"`
			CreatedBy string    `json:"created_by"`
		} `json:"sources"`
	}
	s.okJSON(t, alice, &list, "source", "ls")
	var names []string
	for _, src := range list.Sources {
		names = append(names, src.Name)
	}
	if diff := cmp.Diff([]string{"email-src", "generic-src", "grafana-src", "pagerduty-src", "prom", "siem", "syslog-src"}, names); diff != "" {
		t.Errorf("source ls -o json (-want +got):\n%s", diff)
	}

	contains(t, "source rm", s.ok(t, s.Admin, "source", "rm", "siem"), "Removed source siem.")
	if out := s.ok(t, alice, "source", "ls"); strings.Contains(out, "siem") {
		t.Errorf("siem still listed after rm:\n%s", out)
	}

	refused := []struct {
		name  string
		token string
		code  int
		args  []string
		want  string
	}{
		{"a responder adds", alice, 1, []string{"source", "add", "x", "--kind", "generic"}, "only administrators add alert sources"},
		{"a responder removes", alice, 1, []string{"source", "rm", "prom"}, "only administrators remove alert sources"},
		{"a name taken", s.Admin, 1, []string{"source", "add", "prom", "--kind", "generic"}, "prom"},
		{"an unknown kind", s.Admin, 1, []string{"source", "add", "x", "--kind", "nagios"}, `source kind "nagios" is not valid`},
		{"a bad range", s.Admin, 1, []string{"source", "add", "x", "--kind", "syslog", "--allow", "10.0.0.0/33"}, `"10.0.0.0/33" is not a network range`},
		{"removed twice", s.Admin, 1, []string{"source", "rm", "siem"}, "siem"},
		{"no kind", s.Admin, 2, []string{"source", "add", "x"}, "sitrep source add needs --kind"},
		{"no name", s.Admin, 2, []string{"source", "add", "--kind", "generic"}, "takes NAME (1 argument), got 0"},
		{"unknown subcommand", s.Admin, 2, []string{"source", "del", "x"}, `unknown command "del" for "sitrep source"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			contains(t, "stderr", s.fails(t, tt.token, tt.code, tt.args...), tt.want)
		})
	}
}
