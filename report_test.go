package sitrep

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDescribeEveryEntryType(t *testing.T) {
	entries, _ := describedScenario(t)
	for _, typ := range entryTypes() {
		t.Run(typ, func(t *testing.T) {
			i := slices.IndexFunc(entries, func(e Entry) bool { return e.Type == typ })
			if i < 0 {
				t.Fatalf("describedScenario writes no %s entry: add a step that does", typ)
			}
			// Describe falls back to the type for entries it does not know.
			if got := Describe(&entries[i]); strings.TrimSpace(got) == "" || got == typ {
				t.Errorf("Describe(%s) = %q: the type has no description", typ, got)
			}
			data, err := json.Marshal(changeTypes[typ]())
			if err != nil {
				t.Fatal(err)
			}
			if got := Describe(&Entry{Seq: 2, Type: typ, Actor: "ada", At: t0, Data: data}); got == typ {
				t.Errorf("Describe(%s) of empty data falls back to the type", typ)
			}
		})
	}
	t.Run("undecodable data", func(t *testing.T) {
		e := &Entry{Type: "note.added", Data: json.RawMessage(`{"text":`)}
		if got := Describe(e); got != "note.added" {
			t.Errorf("Describe = %q, want the type", got)
		}
	})
}

func TestDescribeScenario(t *testing.T) {
	entries, want := describedScenario(t)
	var got []string
	for _, v := range ViewEntries(entries) {
		got = append(got, v.Text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("descriptions (-want +got):\n%s", diff)
	}
}

// describedScenario returns the timeline of a scenario that writes every
// entry type, and the description of each entry.
func describedScenario(t testing.TB) ([]Entry, []string) {
	s := declare(t, "ada", DeclareInput{Title: "ransomware on fs01", Kind: "malware", Severity: 2})
	want := []string{`declared "ransomware on fs01" (kind malware, severity 2); ada is Command`}
	steps := []struct {
		actor string
		cmd   Command
		want  []string // the descriptions of the entries it writes
	}{
		{"bob", CheckIn{}, []string{"checked in"}},
		{"ada", NameMember{User: "cy"}, []string{"named cy on the incident"}},
		{"cy", CheckIn{}, []string{"checked in"}},
		{"ada", Assign{Role: RoleOperations, User: "bob"}, []string{"assigned operations to bob"}},
		{"ada", Assign{Role: RoleOperations, User: "cy"}, []string{"removed operations from bob; Command holds it", "assigned operations to cy"}},
		{"cy", AddTask{Section: RoleOperations, Title: "isolate fs01", Assignee: "bob"}, []string{"task 1 in operations: isolate fs01 → bob"}},
		{"cy", AssignTask{ID: 1}, []string{"task 1 returned to its section"}},
		{"cy", AssignTask{ID: 1, Assignee: "bob"}, []string{"task 1 → bob"}},
		{"bob", SetTaskStatus{ID: 1, Status: TaskDone, Reason: "unplugged"}, []string{"task 1 done: unplugged"}},
		{"bob", AddNote{Text: "it is not DNS"}, []string{"it is not DNS"}},
		{"ada", AttachAlert{Alert: &Alert{ID: 7, Source: "edr", DedupKey: "fs01-ransom", Summary: "ransomware on fs01", Severity: 1, Count: 3}}, []string{"alert 7 from edr attached (seen 3×): ransomware on fs01"}},
		{"ada", Publish{Audience: "internal", Text: "fs01 is down"}, []string{"update to internal: fs01 is down"}},
		{"ada", LinkAsset{Kind: "host", Name: "fs02"}, []string{"linked host fs02"}},
		{"ada", UnlinkAsset{Kind: "host", Name: "fs02", Reason: "typo"}, []string{"unlinked host fs02: typo"}},
		{"ada", Edit{Severity: ptr(1), LegalHold: ptr(true), Reason: "the board asked"}, []string{"set severity 1, legal hold true: the board asked"}},
		{"ada", ChangePhase{Phase: PhaseContainment, Reason: "isolated"}, []string{"phase identification → containment: isolated"}},
		{"ada", ChangePhase{Phase: PhaseIdentification, Reason: "a second host"}, []string{"phase back containment → identification: a second host"}},
		{"ada", OfferCommand{To: "bob", Briefing: "fs01 isolated"}, []string{"offered command to bob; briefing: fs01 isolated"}},
		{"ada", WithdrawOffer{Reason: "bob is busy"}, []string{"withdrew the offer of command to bob: bob is busy"}},
		{"ada", OfferCommand{To: "cy", Briefing: "fs01 isolated"}, []string{"offered command to cy; briefing: fs01 isolated"}},
		{"cy", AcceptCommand{}, []string{"TRANSFER OF COMMAND: cy is Command (was ada); to acknowledge: ada, bob"}},
		{"bob", Acknowledge{}, []string{"acknowledged the transfer of command"}},
		{"cy", Assign{Role: RoleSafety, User: "bob"}, []string{"assigned safety to bob"}},
		{"cy", CheckOut{User: "bob"}, []string{"bob checked out; roles back to Command: safety"}},
		{"cy", EditReport{WhatWorked: ptr("backups"), FollowUps: &[]FollowUp{{Action: "patch fs01", Owner: "ada"}}}, []string{"edited the report: what worked, follow-ups"}},
	}
	for _, st := range steps {
		s.must(st.actor, st.cmd)
		want = append(want, st.want...)
	}
	// Refusals are recorded by the Service, outside any command.
	a := &appender{inc: s.inc, actor: "dee", at: s.now}
	if err := a.add(&Refused{Rule: "freelancing", Action: "assign", Message: "only Command may assign roles"}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "REFUSED assign (freelancing): only Command may assign roles")
	// A plan is applied by the Service at declaration, outside any command.
	if err := a.add(&PlanApplied{Name: "malware", Title: "Single malware infection", SHA256: strings.Repeat("ab", 32),
		Positions: []Position{{Role: RoleOperations, Severity: 2}}, Tasks: []PlanTask{{Phase: PhaseIdentification, Title: "isolate", Section: RoleOperations, Severity: 4}}}); err != nil {
		t.Fatal(err)
	}
	if err := openChecklist(a); err != nil {
		t.Fatal(err)
	}
	want = append(want, "plan malware applied (sha256:abababababab); positions to staff: operations; 1 checklist task",
		"plan checklist for identification: 1 task", "task 2 in operations: isolate")
	// An exercise's runner records its start, injects and end, outside any command.
	for _, c := range []Change{
		&ExerciseStarted{Exercise: "EX-0123456789", Scenario: "ransomware", Title: "Ransomware on fs01", Plan: "malware", Speed: 600, StartedAt: t0, Spec: json.RawMessage(`{}`)},
		&ExerciseInjected{Exercise: "EX-0123456789", Inject: "edr", AlertID: 7, Summary: "ransomware on fs01", FiredAt: t0},
		&ExerciseInjected{Exercise: "EX-0123456789", Inject: "reporter-call", At: 330, To: "information", From: "The Gazette", Text: "a reporter is on the phone", FiredAt: t0},
		&ExerciseEnded{Exercise: "EX-0123456789", Reason: ExerciseCompleted, EndedAt: t0, Elapsed: 7200},
	} {
		if err := a.add(c); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, `EXERCISE EX-0123456789 started: scenario "Ransomware on fs01" (ransomware) rehearsing plan malware at 600x speed`,
		"EXERCISE inject edr (T+0s): alert 7: ransomware on fs01",
		"EXERCISE inject reporter-call (T+5m30s): message to information from The Gazette: a reporter is on the phone",
		"EXERCISE EX-0123456789 ended (completed) at T+2h")
	// Drafts waiting for Command's authorisation, approved and rejected.
	for _, c := range []Change{
		&CommunicationDrafted{Draft: 1, Audience: "customers", Text: "We are writing about an incident."},
		&CommunicationApproved{Draft: 1},
		&CommunicationDrafted{Draft: 2, Audience: "press", Text: "No comment.", Template: "press-holding"},
		&CommunicationRejected{Draft: 2, Reason: "say nothing yet"},
	} {
		if err := a.add(c); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "draft 1 to customers awaits Command's approval: We are writing about an incident.",
		"approved draft 1 for publication",
		"draft 2 to press awaits Command's approval: No comment.",
		"rejected draft 2: say nothing yet")
	return append(s.entries, a.entries...), want
}

// reportOf builds the post mortem of inc as Service.Report does.
func reportOf(inc *Incident, draft string) *Report {
	return &Report{
		Incident: IncidentReport{
			IncidentID: inc.ID, Title: inc.Title, Date: inc.DeclaredAt, ClosedAt: inc.ClosedAt, Type: inc.Kind,
			Severity: inc.Severity, Exercise: inc.Exercise, Assets: inc.Assets, Resources: inc.Resources,
			Narrative: inc.Report.Narrative, NarrativeDraft: draft,
		},
		Response: ResponseReport{
			IncidentID: inc.ID, WhatWorked: inc.Report.WhatWorked, NeedsImprovement: inc.Report.NeedsImprovement,
			FollowUps: inc.Report.FollowUps,
		},
		Missing: append([]string{}, inc.ReportMissing()...),
	}
}

func TestReportMarkdown(t *testing.T) {
	// Every report carries the same fields, written or not.
	required := []string{
		"# Incident Report: IR-2026-0042\n", "| Incident ID | IR-2026-0042 |", "| Date | 2026-03-14T03:00:00Z |",
		"| Type |", "| Severity |", "## Assets involved\n", "## Resources involved\n", "## Narrative\n",
		"# Response Report: IR-2026-0042\n", "## What worked\n", "## What needs improvement\n", "## Follow-up actions\n",
	}
	full := func(t testing.TB) *scene {
		s := reportDone(declare(t, "ada", DeclareInput{Title: "ransomware | fs01", Severity: 2}))
		s.must("bob", CheckIn{})
		s.now = s.now.Add(90 * time.Minute)
		s.must("bob", CheckOut{})
		s.must("ada", EditReport{FollowUps: &[]FollowUp{{Action: "patch | fs01", Owner: "bob"}}})
		s.must("ada", ChangePhase{Phase: PhasePostMortem, Reason: "recovered"})
		return s.must("ada", ChangePhase{Phase: PhaseClosed, Reason: "report complete"})
	}
	tests := []struct {
		name    string
		report  func(t testing.TB) *Report
		want    []string
		notWant []string
	}{
		{
			name:   "complete",
			report: func(t testing.TB) *Report { return reportOf(full(t).inc, "- the draft") },
			want: []string{
				`| Title | ransomware \| fs01 |`, "| Type | ransomware |", "| Severity | 2 |", "| Closed | 2026-03-14T04:",
				"- host: fs01", "| ada | 2026-03-14T03:00:00Z | 1h38m0s |", "| bob | 2026-03-14T03:04:00Z | 1h31m0s |",
				"fs01 was encrypted at 03:00", "backups", "detection took two hours", `| patch \| fs01 | bob |`,
			},
			notWant: []string{"EXERCISE", "Still missing", "Not written yet", "the draft", "_None", "still checked in"},
		},
		{
			name: "nothing written",
			report: func(t testing.TB) *Report {
				return reportOf(declare(t, "ada", DeclareInput{}).inc, "- 03:00 ada declared the incident")
			},
			want: []string{
				"| Type | unknown |", "_None linked._", "_Not written yet. Draft from the timeline:_\n\n- 03:00 ada declared the incident",
				"## What worked\n\n_Not written yet._", "## What needs improvement\n\n_Not written yet._", "## Follow-up actions\n\n_None._",
				"Still missing before the incident can close:", "- type: the incident's kind is unknown", "- assets involved: none linked",
				"- narrative is empty", "- what worked is empty", "- what needs improvement is empty",
			},
			notWant: []string{"EXERCISE", "| Closed |"},
		},
		{
			name:   "exercise",
			report: func(t testing.TB) *Report { return reportOf(declare(t, "ada", DeclareInput{Exercise: true}).inc, "") },
			want:   []string{"**EXERCISE**"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := tt.report(t).Markdown()
			for _, w := range append(required, tt.want...) {
				if !strings.Contains(md, w) {
					t.Errorf("report lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(md, w) {
					t.Errorf("report has %q:\n%s", w, md)
				}
			}
		})
	}
}
