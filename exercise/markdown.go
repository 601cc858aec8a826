package exercise

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the after-action report for people and for the archive.
// Times are scenario times: T+12m is twelve scenario minutes after the
// start, whatever the speed the exercise ran at.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# After-action report: %s\n\n", mdLine(r.Title))
	w("**EXERCISE** %s: scenario `%s` rehearsing plan `%s`", r.Exercise, r.Scenario, r.Plan)
	if r.IncidentID != "" {
		w(" on incident %s", r.IncidentID)
	}
	w(".\n\n")
	w("| | |\n| --- | --- |\n")
	if r.PlanApplied != "" {
		w("| Plan applied | %s, version %s |\n", r.PlanApplied, r.PlanVersion)
	}
	w("| Declared by | %s |\n", declareWords(r.Declare))
	w("| Speed | %gx: %s of scenario time in %s of real time |\n", r.Speed, r.Elapsed, realTime(r.Elapsed, r.Speed))
	w("| Started | %s |\n", r.StartedAt.UTC().Format(time.RFC3339))
	switch {
	case r.EndedAt != nil:
		w("| Ended | %s at T+%s (%s) |\n", r.EndedAt.UTC().Format(time.RFC3339), r.Elapsed, r.EndReason)
	default:
		w("| Ended | not on record (%s) |\n", r.EndReason)
	}
	w("| Scenario length | %s |\n\n", r.Duration)

	s := r.Summary
	w("## Summary\n\n")
	w("- Expected actions: %d met, %d late, %d missed, %d still open at the end.\n", s.ExpectationsMet, s.ExpectationsLate, s.ExpectationsMissed, s.ExpectationsOpen)
	w("- Plan targets: %d met, %d missed.\n", s.TargetsMet, s.TargetsMissed)
	w("- Checklist items left open: %d.\n", s.ChecklistOpen)
	w("- Requests refused by the ICS rules: %d.\n\n", s.Refusals)

	w("## Milestones\n\n| milestone | at | since first inject | since declaration | who |\n| --- | --- | --- | --- | --- |\n")
	for _, m := range r.Milestones {
		if m.At == nil {
			w("| %s | not reached | | | |\n", m.Title)
			continue
		}
		w("| %s | T+%s | %s | %s | %s |\n", m.Title, *m.At, orDash(m.SinceFirstInject), orDash(m.SinceDeclared), m.By)
	}
	w("\n")

	w("## Plan targets\n\n")
	if len(r.Targets) == 0 {
		w("_The incident's plan sets no targets, or it ran with no plan._\n\n")
	} else {
		w("| target | within | from | due | met | took | result |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, t := range r.Targets {
			met := "—"
			if t.MetAt != nil {
				met = "T+" + t.MetAt.String()
			}
			w("| %s | %s | T+%s | T+%s | %s | %s | %s |\n", t.Title, t.Target, t.From, t.Due, met, orDash(t.Took), stateWords(t.State))
		}
		w("\n")
	}

	w("## Expected actions\n\n")
	if len(r.Expectations) == 0 {
		w("_The scenario expects no actions._\n\n")
	} else {
		w("| expectation | after | due | done | took | who | result |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, x := range r.Expectations {
			due, done := "—", "—"
			if x.Due != nil {
				due = "T+" + x.Due.String()
			}
			if x.DoneAt != nil {
				done = "T+" + x.DoneAt.String()
			}
			w("| %s (`%s`) | %s | %s | %s | %s | %s | %s |\n", mdCell(x.Title), x.Name, x.After, due, done, orDash(x.Took), x.By, stateWords(x.State))
		}
		w("\n")
	}

	w("## Time in each phase\n\n")
	if len(r.Phases) == 0 {
		w("_No incident, no phases._\n\n")
	} else {
		w("| phase | time | entered |\n| --- | --- | --- |\n")
		for _, p := range r.Phases {
			cur := ""
			if p.Current {
				cur = " (at the end)"
			}
			w("| %s%s | %s | %d× |\n", p.Phase, cur, p.Duration, p.Entered)
		}
		w("\n")
	}

	w("## Checklist\n\n")
	w("%d done, %d cancelled, %d left open.\n\n", r.Checklist.Done, r.Checklist.Cancelled, len(r.Checklist.Open))
	if len(r.Checklist.Open) > 0 {
		w("| task | phase | section | assignee | item |\n| --- | --- | --- | --- | --- |\n")
		for _, it := range r.Checklist.Open {
			w("| #%d | %s | %s | %s | %s |\n", it.Task, it.Phase, it.Section, dashIfEmpty(it.Assignee), mdCell(it.Title))
		}
		w("\n")
	}
	if len(r.Checklist.NotReached) > 0 {
		var ps []string
		for _, p := range r.Checklist.NotReached {
			ps = append(ps, string(p))
		}
		w("Checklists of phases not reached: %s.\n\n", strings.Join(ps, ", "))
	}

	w("## Refused by the ICS rules\n\n")
	if len(r.Refusals) == 0 {
		w("_Nothing was refused: no freelancing, and only the voice of the incident spoke._\n\n")
	} else {
		w("| rule | person | times | actions | first refusal |\n| --- | --- | --- | --- | --- |\n")
		for _, rf := range r.Refusals {
			w("| %s | %s | %d | %s | %s |\n", rf.Rule, rf.User, rf.Count, strings.Join(rf.Actions, ", "), mdCell(rf.First))
		}
		w("\n")
	}

	w("## Injects\n\n")
	if len(r.Injects) == 0 {
		w("_None fired._\n\n")
	} else {
		w("| inject | planned | fired | what |\n| --- | --- | --- | --- |\n")
		for _, in := range r.Injects {
			fired := "—"
			if in.FiredAt != nil {
				fired = "T+" + in.FiredAt.String()
			}
			what := fmt.Sprintf("alert %d: %s", in.AlertID, in.Summary)
			if in.To != "" {
				from := ""
				if in.From != "" {
					from = " from " + in.From
				}
				what = fmt.Sprintf("message to %s%s: %s", in.To, from, in.Text)
			}
			w("| %s | T+%s | %s | %s |\n", in.Name, in.At, fired, mdCell(what))
		}
		w("\n")
	}

	w("## Participants\n\n")
	if len(r.Participants) == 0 {
		w("_No one checked in._\n\n")
	} else {
		w("| person | roles at the end | checked in |\n| --- | --- | --- |\n")
		for _, p := range r.Participants {
			w("| %s | %s | T+%s |\n", p.User, dashIfEmpty(strings.Join(p.Roles, ", ")), p.CheckedIn)
		}
		w("\n")
	}

	if len(r.Notes) > 0 {
		w("## Notes\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	w("_Times are scenario times (T+ is since the exercise started). This report is computed from the incident's timeline._\n")
	return b.String()
}

func declareWords(mode string) string {
	switch mode {
	case DeclareDispatch:
		return "a dispatch rule, from an alert"
	case DeclareManual:
		return "the participants, from the triage desk"
	case DeclareStart:
		return "the exercise, at its start"
	}
	return mode
}

func stateWords(state string) string {
	switch state {
	case StateMet:
		return "met"
	case StateLate:
		return "**late**"
	case StateMissed:
		return "**missed**"
	case StateOpen:
		return "open: the exercise ended first"
	case StateNotTriggered:
		return "**missed**: never triggered"
	}
	return state
}

// realTime is the real time scenario time s took at speed.
func realTime(s Seconds, speed float64) string {
	if speed <= 0 {
		speed = 1
	}
	return (time.Duration(float64(s.D()) / speed)).Round(100 * time.Millisecond).String()
}

func orDash(s *Seconds) string {
	if s == nil {
		return "—"
	}
	return s.String()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func mdCell(s string) string { return strings.ReplaceAll(mdLine(s), "|", "\\|") }

func mdLine(s string) string { return strings.Join(strings.Fields(s), " ") }
