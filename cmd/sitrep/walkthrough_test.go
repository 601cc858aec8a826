package main

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

var idRE = regexp.MustCompile(`IR-\d{4}-\d{4}`)

// TestWalkthrough runs one incident from declaration to closing, the way
// people do from a terminal, against a real server: an administrator
// declares and staffs it, freelancing is refused, one voice speaks,
// command is transferred and acknowledged, the phases go forward and back,
// and the incident closes only when its report is complete.
func TestWalkthrough(t *testing.T) {
	s := startServer(t)
	admin := s.Admin

	contains(t, "whoami", s.ok(t, admin, "whoami"), "admin (admin)")

	// The 3 a.m. test: one command, and the ID is on the first line.
	out := s.ok(t, admin, "declare", "--title", "Ransomware on FIN-LAPTOP-7", "--severity", "2")
	id := idRE.FindString(out)
	if id == "" {
		t.Fatalf("declare printed no incident ID:\n%s", out)
	}
	if first, _, _ := strings.Cut(out, "\n"); first != "Declared "+id+". You are Command." {
		t.Errorf("declare's first line is %q", first)
	}
	contains(t, "declare", out, "severity 2", "phase identification", "sitrep show "+id)

	alice := s.person(t, "alice", "responder")
	bob := s.person(t, "bob", "responder")
	carol := s.person(t, "carol", "responder")
	var users struct {
		Users []sitrep.User `json:"users"`
	}
	s.okJSON(t, admin, &users, "user", "ls")
	var names []string
	for _, u := range users.Users {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"admin", "alice", "bob", "carol"}, names); diff != "" {
		t.Errorf("user ls (-want +got):\n%s", diff)
	}
	contains(t, "user ls", s.ok(t, admin, "user", "ls"), "alice@example.com", "responder")

	// Everyone checks in before acting.
	contains(t, "checkin", s.ok(t, alice, "checkin", id), "Checked in to "+id, "Command is admin")
	var res sitrep.Result
	s.okJSON(t, bob, &res, "checkin", id)
	if len(res.Entries) != 1 || res.Entries[0].Type != "resource.checked_in" || res.Entries[0].Actor != "bob" {
		t.Errorf("checkin -o json entries: %+v", res.Entries)
	}
	s.ok(t, carol, "checkin", id)

	// Command staffs the organisation.
	contains(t, "assign", s.ok(t, admin, "assign", id, "information", "bob"), id+" #", "assigned information to bob")
	s.okJSON(t, admin, &res, "assign", id, "operations", "alice")
	if got := res.Incident.Holder(sitrep.RoleOperations); got != "alice" {
		t.Errorf("after assign operations alice, operations is held by %q", got)
	}
	errOut := s.fails(t, carol, 1, "assign", id, "planning", "carol")
	contains(t, "freelancing refusal", errOut, "only Command (admin)", "(rule: freelancing)")

	out = s.ok(t, carol, "show", id)
	for _, line := range []string{
		`(?m)^Command: admin$`,
		`(?m)^\s+command\s+admin$`,
		`(?m)^\s+information\s+bob$`,
		`(?m)^\s+safety\s+\(Command\)$`,
		`(?m)^\s+operations\s+alice$`,
		`(?m)^\s+planning\s+\(Command\)$`,
		`(?m)^On scene \(4\):$`,
		`(?m)^\s+bob\s+information\s`,
	} {
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("show does not match %s:\n%s", line, out)
		}
	}
	lacks(t, "show", out, "WARNING")

	// Tasks go through the chain: Command or the section's chief.
	out = s.ok(t, alice, "task", "add", id, "--section", "operations", "--assignee", "carol", "Isolate", "FIN-LAPTOP-7")
	contains(t, "task add", out, "task 1 in operations: Isolate FIN-LAPTOP-7 → carol")
	contains(t, "task add by carol", s.fails(t, carol, 1, "task", "add", id, "--section", "planning", "Draft a summary"), "(rule: freelancing)")
	s.okJSON(t, admin, &res, "task", "add", id, "--section", "planning", "--assignee", "bob", "Draft the executive summary")
	if len(res.Entries) != 1 || res.Entries[0].Type != "task.created" {
		t.Errorf("task add -o json entries: %+v", res.Entries)
	}
	contains(t, "task done", s.ok(t, carol, "task", "done", id, "1"), "task 1 done")
	contains(t, "task cancel by bob", s.fails(t, bob, 1, "task", "cancel", id, "2"), "(rule: freelancing)")
	s.okJSON(t, admin, &res, "task", "cancel", id, "#2", "--reason", "executives briefed in person")
	contains(t, "task reopen", s.ok(t, admin, "task", "reopen", id, "2"), "task 2 open")
	contains(t, "task assign", s.ok(t, admin, "task", "assign", id, "2", "carol"), "task 2 → carol")
	contains(t, "task assign --none", s.ok(t, admin, "task", "assign", id, "2", "--none"), "task 2 returned to its section")
	var tasks struct {
		Tasks []sitrep.Task `json:"tasks"`
	}
	s.okJSON(t, bob, &tasks, "task", "ls", id)
	type task struct{ ID, Section, Assignee, Status string }
	var got []task
	for _, tk := range tasks.Tasks {
		got = append(got, task{"#" + strconv.Itoa(tk.ID), tk.Section, tk.Assignee, tk.Status})
	}
	want := []task{{"#1", "operations", "carol", "done"}, {"#2", "planning", "", "open"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("task ls (-want +got):\n%s", diff)
	}
	out = s.ok(t, bob, "task", "ls", id)
	if !regexp.MustCompile(`(?m)^#1\s+operations\s+done\s+carol\s+Isolate FIN-LAPTOP-7$`).MatchString(out) {
		t.Errorf("task ls:\n%s", out)
	}

	// One voice: only the Information Officer publishes.
	errOut = s.fails(t, alice, 1, "update", id, "--audience", "executives", "Laptop isolated")
	contains(t, "update by alice", errOut, "I can't talk to people about this incident", "(rule: one-voice)")
	out = s.ok(t, bob, "update", id, "--audience", "executives", "Laptop", "isolated;", "no", "data", "loss", "seen.")
	contains(t, "update by bob", out, "update to executives: Laptop isolated; no data loss seen.")
	var comms struct {
		Communications []sitrep.Communication `json:"communications"`
	}
	s.okJSON(t, carol, &comms, "update", "ls", id)
	if len(comms.Communications) != 1 || comms.Communications[0].By != "bob" || comms.Communications[0].Audience != "executives" {
		t.Errorf("update ls: %+v", comms.Communications)
	}
	contains(t, "update ls", s.ok(t, carol, "update", "ls", id), "to executives  by bob", "  Laptop isolated; no data loss seen.")

	// A note read from standard input, as from a pipe.
	if r := s.run(carol, "EDR isolated the laptop\nat 03:12\n", "note", id, "-"); r.code != 0 {
		t.Fatalf("note from stdin: exit %d: %s", r.code, r.stderr)
	}

	// Transfer of command: offered, accepted, announced, acknowledged.
	out = s.ok(t, admin, "transfer", id, "--to", "alice", "--briefing", "Laptop isolated; bob speaks; carol on operations")
	contains(t, "transfer", out, "offered command to alice", "sitrep accept-command "+id)
	contains(t, "show after the offer", s.ok(t, bob, "show", id), "waiting for alice to accept")
	contains(t, "accept-command by bob", s.fails(t, bob, 1, "accept-command", id), "not to you", "(rule: transfer-of-command)")
	out = s.ok(t, alice, "accept-command", id)
	contains(t, "accept-command", out, "You are Command of "+id+".", "Awaiting acknowledgement from: admin, bob, carol")
	out = s.ok(t, admin, "show", id)
	contains(t, "show after the transfer", out, "Command: alice", "awaiting acknowledgement from: admin, bob, carol", "You have not acknowledged it: sitrep ack "+id)
	out = s.ok(t, admin, "ack", id)
	contains(t, "ack by admin", out, "Acknowledged: alice is Command of "+id, "Still awaiting acknowledgement from: bob, carol")
	s.okJSON(t, bob, &res, "ack", id)
	if an := res.Incident.Announcement; an == nil || !slices.Equal(an.Pending, []string{"carol"}) {
		t.Errorf("after bob's ack the announcement is %+v", res.Incident.Announcement)
	}
	s.ok(t, carol, "ack", id)
	out = s.ok(t, admin, "show", id)
	lacks(t, "show after every ack", out, "awaiting acknowledgement", "You have not acknowledged")
	contains(t, "show after every ack", out, "acknowledged by everyone on scene")
	contains(t, "a second ack", s.fails(t, admin, 1, "ack", id), "no transfer of command to acknowledge")

	// Phases forward, back on a re-infection, and forward again.
	s.ok(t, alice, "phase", id, "containment", "--reason", "laptop isolated")
	s.ok(t, alice, "phase", id, "eradication", "--reason", "reimaging")
	out = s.ok(t, alice, "phase", id, "containment", "--reason", "re-infection on FIN-LAPTOP-9")
	contains(t, "phase back", out, "phase back eradication → containment: re-infection on FIN-LAPTOP-9")
	s.okJSON(t, alice, &res, "phase", id, "eradication", "--reason", "both laptops reimaged")
	if res.Incident.Phase != sitrep.PhaseEradication {
		t.Errorf("phase -o json: phase %s", res.Incident.Phase)
	}
	s.ok(t, alice, "phase", id, "recovery", "--reason", "restored from backup")
	s.ok(t, alice, "phase", id, "post-mortem", "--reason", "service restored")
	contains(t, "phase by carol", s.fails(t, carol, 1, "phase", id, "closed", "--reason", "x"), "(rule: freelancing)")

	// Assets, with a name that needs escaping in the URL.
	contains(t, "asset add", s.ok(t, alice, "asset", "add", id, "host", "FIN-LAPTOP-7"), "linked host FIN-LAPTOP-7")
	s.okJSON(t, alice, &res, "asset", "add", id, "data-store", "finance share/2026 #1?")
	contains(t, "asset rm", s.ok(t, alice, "asset", "rm", id, "data-store", "finance share/2026 #1?", "--reason", "not touched after all"),
		"unlinked data-store finance share/2026 #1?: not touched after all")
	var assets struct {
		Assets []sitrep.Asset `json:"assets"`
	}
	s.okJSON(t, carol, &assets, "asset", "ls", id)
	if len(assets.Assets) != 1 || assets.Assets[0].Name != "FIN-LAPTOP-7" {
		t.Errorf("asset ls: %+v", assets.Assets)
	}
	contains(t, "asset ls", s.ok(t, carol, "asset", "ls", id), "host", "FIN-LAPTOP-7", "alice")

	// Closing needs the work finished and the report complete; the
	// refusals name what is missing.
	errOut = s.fails(t, alice, 1, "phase", id, "closed", "--reason", "all done")
	contains(t, "close refused", errOut, "cannot close", "tasks 2 are still open")
	contains(t, "show in post-mortem", s.ok(t, alice, "show", id), "Post mortem: before it can close:", "open tasks: #2")
	s.ok(t, alice, "task", "cancel", id, "2", "--reason", "summary went into the report")
	errOut = s.fails(t, alice, 1, "phase", id, "closed", "--reason", "all done")
	contains(t, "close refused", errOut, "cannot close", "kind is unknown", "narrative is empty", "what worked is empty", "what needs improvement is empty")
	lacks(t, "close refused", errOut, "assets involved")
	contains(t, "show in post-mortem", s.ok(t, alice, "show", id), "Post mortem: before it can close:", "narrative is empty")

	contains(t, "edit", s.ok(t, alice, "edit", id, "--kind", "malware", "--reason", "EDR confirmed ransomware"), "set kind malware: EDR confirmed ransomware")
	contains(t, "report edit by carol", s.fails(t, carol, 1, "report", "edit", id, "--what-worked", "x"), "(rule: freelancing)")
	out = s.ok(t, alice, "report", "edit", id, "--accept-draft",
		"--what-worked", "EDR isolated the laptop in four minutes",
		"--needs-improvement", "no offline backup of the finance share",
		"--follow-up", "Offline backups for finance=carol", "--follow-up", "EDR on every laptop=bob")
	contains(t, "report edit", out, "edited the report: narrative, what worked, needs improvement, follow-ups", "The report is complete")

	out = s.ok(t, bob, "report", id)
	contains(t, "report", out, "# Incident Report: "+id, "| Type | malware |", "host: FIN-LAPTOP-7", "# Response Report: "+id,
		"EDR isolated the laptop in four minutes", "| Offline backups for finance | carol |")
	lacks(t, "report", out, "Still missing")
	if md := s.ok(t, bob, "report", id, "--format", "md"); md != out {
		t.Errorf("report --format md differs from report")
	}
	var rep sitrep.Report
	s.okJSON(t, bob, &rep, "report", id, "--format", "json")
	wantFollowUps := []sitrep.FollowUp{{Action: "Offline backups for finance", Owner: "carol"}, {Action: "EDR on every laptop", Owner: "bob"}}
	if diff := cmp.Diff(wantFollowUps, rep.Response.FollowUps); diff != "" {
		t.Errorf("report follow-ups (-want +got):\n%s", diff)
	}
	if len(rep.Missing) != 0 || !strings.Contains(rep.Incident.Narrative, "admin declared the incident") {
		t.Errorf("report: missing %v, narrative %q", rep.Missing, rep.Incident.Narrative)
	}

	// Now it closes.
	s.okJSON(t, alice, &res, "phase", id, "closed", "--reason", "post mortem reviewed")
	if res.Incident.Phase != sitrep.PhaseClosed || res.Incident.ClosedAt == nil {
		t.Errorf("after closing: phase %s, closed_at %v", res.Incident.Phase, res.Incident.ClosedAt)
	}
	lacks(t, "ls", s.ok(t, bob, "ls"), id)
	contains(t, "ls --all", s.ok(t, bob, "ls", "--all"), id, "closed", "alice", "Ransomware on FIN-LAPTOP-7")
	var list struct {
		Incidents []sitrep.IncidentView `json:"incidents"`
	}
	s.okJSON(t, bob, &list, "ls", "--all")
	if len(list.Incidents) != 1 || list.Incidents[0].ID != id {
		t.Errorf("ls --all -o json: %+v", list.Incidents)
	}

	// The record holds up.
	var view sitrep.IncidentView
	s.okJSON(t, bob, &view, "show", id)
	contains(t, "verify", s.ok(t, bob, "verify", id), "OK: the record of "+id+" holds up")
	var v sitrep.Verification
	s.okJSON(t, bob, &v, "verify", id)
	if !v.OK || v.Entries != view.Seq || v.Head != view.Head {
		t.Errorf("verify: %+v; the incident has %d entries ending %s", v, view.Seq, view.Head)
	}

	// The timeline tells the whole story, refusals included.
	out = s.ok(t, bob, "timeline", id)
	contains(t, "timeline", out,
		"admin  declared \"Ransomware on FIN-LAPTOP-7\"",
		"REFUSED assign (freelancing)",
		"REFUSED update (one-voice)",
		"TRANSFER OF COMMAND: alice is Command (was admin)",
		"EDR isolated the laptop at 03:12",
		"phase back eradication → containment",
		"phase post-mortem → closed: post mortem reviewed")
	var tl struct {
		Entries []sitrep.EntryView `json:"entries"`
	}
	s.okJSON(t, bob, &tl, "timeline", id)
	if int64(len(tl.Entries)) != view.Seq {
		t.Fatalf("timeline -o json has %d entries, the incident %d", len(tl.Entries), view.Seq)
	}
	for i, e := range tl.Entries {
		if e.Seq != int64(i+1) || e.Text == "" {
			t.Errorf("timeline entry %d: seq %d, text %q", i, e.Seq, e.Text)
		}
	}
	after := view.Seq - 5
	s.okJSON(t, bob, &tl, "timeline", id, "--after", strconv.FormatInt(after, 10))
	var seqs []int64
	for _, e := range tl.Entries {
		seqs = append(seqs, e.Seq)
	}
	if diff := cmp.Diff([]int64{after + 1, after + 2, after + 3, after + 4, after + 5}, seqs); diff != "" {
		t.Errorf("timeline --after %d (-want +got):\n%s", after, diff)
	}

	var me sitrep.User
	s.okJSON(t, carol, &me, "whoami")
	if me.Name != "carol" || me.Role != sitrep.OrgResponder {
		t.Errorf("whoami -o json: %+v", me)
	}
}
