package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/exercise"
	"github.com/sitrep-ir/sitrep/plan"
)

func (c *cli) exerciseCmd() *cobra.Command {
	cmd := group("exercise", "Rehearsals: run a scenario against a plan, measured",
		c.exerciseRunCmd(), c.exerciseStatusCmd(), c.exerciseStopCmd(), c.exerciseReportCmd(), c.exerciseLintCmd())
	cmd.Long = `An exercise rehearses a pre-incident plan: a scenario file of timed
injects (synthetic alerts sent through the server's real intake, so that
the dispatch rules are rehearsed too, and messages to a role, such as "a
reporter from the local paper is on the phone") and the actions the
participants are expected to take, each with a deadline.

The exercise runs in the server, faster than real time if asked, on an
incident flagged EXERCISE: everything it sends says so and nothing reaches
an external audience. When it ends, the after-action report compares what
the participants did with the expected actions and the plan's targets.
docs/exercises.md describes the scenario format.`
	return cmd
}

func (c *cli) exerciseRunCmd() *cobra.Command {
	var speed string
	var detach bool
	cmd := &cobra.Command{
		Use:   "run FILE [--speed 10x] [--detach]",
		Short: "Start an exercise, follow its injects and print the after-action report",
		Long: `Start running the scenario in FILE in the server, at --speed times real
time (600x runs two scenario hours in twelve seconds). The scenario is
checked first, here and then by the server against its plans, users and
dispatch rules; each problem is printed as FILE:LINE:COLUMN: MESSAGE.

The command then follows the exercise: it prints each inject as it fires
and the incident once declared, and at the end the after-action report
(Markdown; JSON with -o json). With --detach it prints the exercise's ID
and returns at once. Interrupting the command does not stop the exercise:
it runs on in the server (sitrep exercise stop ID ends it).`,
		Example: `  sitrep exercise run exercises/malware-finance-laptop.yaml
  sitrep exercise run exercises/datacenter-outage.yaml --speed 60x
  sitrep exercise run exercises/pii-breach.yaml --detach`,
		Args: args(1, "FILE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			sp, err := exercise.ParseSpeed(speed)
			if err != nil {
				return usagef("--speed: %s", sitrep.ErrorMessage(err))
			}
			file := a[0]
			data, err := readScenario(file)
			if err != nil {
				return err
			}
			if _, problems := exercise.Parse(file, data); problems != nil {
				return c.scenarioProblems(file, problems)
			}
			ctx := cmd.Context()
			st, err := c.client().StartExercise(ctx, file, data, sp)
			if err != nil {
				if e := sitrep.AsError(err); e != nil && e.Kind == sitrep.EInvalid && e.Field == "scenario" {
					for _, line := range strings.Split(e.Message, "\n") {
						c.printf("%s\n", safe(line))
					}
					n := strings.Count(e.Message, "\n") + 1
					return fmt.Errorf("%s: %d problem%s", file, n, plural(n))
				}
				return err
			}
			if detach {
				if c.json() {
					return c.printJSON(st)
				}
				c.printf("Started %s: %s, rehearsing plan %s at %s.\n", st.ID, safe(st.Title), st.Plan, sitrep.FormatSpeed(st.Speed))
				c.printf("Follow it:  sitrep exercise status %s\nReport:     sitrep exercise report %s\n", st.ID, st.ID)
				return nil
			}
			return c.followExercise(ctx, st)
		},
	}
	cmd.Flags().StringVar(&speed, "speed", "1x", "how much faster than real time to run: 1x to 10000x")
	cmd.Flags().BoolVar(&detach, "detach", false, "start the exercise and return; it runs on in the server")
	return cmd
}

// readScenario reads a scenario file, refusing one over the size limit.
func readScenario(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("scenario file %s does not exist", file)
		}
		return nil, fmt.Errorf("read the scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, exercise.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the scenario %s: %w", file, err)
	}
	if len(data) > exercise.MaxFileSize {
		return nil, fmt.Errorf("scenario file %s is larger than the limit of %d bytes", file, exercise.MaxFileSize)
	}
	return data, nil
}

// scenarioProblems prints each problem (or, with -o json, the list) and
// returns the error that ends the command.
func (c *cli) scenarioProblems(file string, problems exercise.Problems) error {
	if c.json() {
		if err := c.printJSON(problems); err != nil {
			return err
		}
	} else {
		for _, p := range problems {
			c.printf("%s\n", safe(p.String()))
		}
	}
	return fmt.Errorf("%s: %d problem%s", file, len(problems), plural(len(problems)))
}

// followPoll is how often `exercise run` asks the server how the exercise
// goes.
const followPoll = 200 * time.Millisecond

// followExercise prints the exercise's injects as they fire and its
// incident once declared, then its after-action report.
func (c *cli) followExercise(ctx context.Context, st *exercise.Status) error {
	cl := c.client()
	if !c.json() {
		c.printf("EXERCISE %s: %s\nRehearsing plan %s at %s: %s of scenario time", st.ID, safe(st.Title), st.Plan, sitrep.FormatSpeed(st.Speed), st.Duration)
		if st.Speed > 1 {
			c.printf(" in %s", (time.Duration(float64(st.Duration.D()) / st.Speed)).Round(100*time.Millisecond))
		}
		c.printf(". Interrupting this command does not stop it.\n\n")
	}
	shown, incident := 0, ""
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		if !c.json() {
			for ; shown < len(st.Injects); shown++ {
				c.printInject(st.Injects[shown])
			}
			if st.IncidentID != "" && incident == "" {
				incident = st.IncidentID
				c.printf("T+%-8s incident %s is the exercise's: sitrep show %s\n", st.Elapsed, incident, incident)
			}
		}
		if st.State == exercise.StateEnded {
			break
		}
		select {
		case <-ctx.Done():
			c.printf("\nThe exercise %s runs on in the server: sitrep exercise status %s\n", st.ID, st.ID)
			return ctx.Err()
		case <-t.C:
		}
		next, err := cl.Exercise(ctx, st.ID)
		if err != nil {
			return err
		}
		st = next
	}
	if c.json() {
		rep, err := cl.ExerciseReport(ctx, st.ID)
		if err != nil {
			return err
		}
		return c.printJSON(rep)
	}
	c.printf("T+%-8s EXERCISE ended (%s)\n", st.Elapsed, st.EndReason)
	if st.Problem != "" {
		c.printf("Problem: %s\n", safe(st.Problem))
	}
	md, err := cl.ExerciseReportMarkdown(ctx, st.ID)
	if err != nil {
		return err
	}
	c.printf("\n%s", safeBlock(md))
	return nil
}

func (c *cli) printInject(in exercise.InjectRecord) {
	at := in.At
	if in.FiredAt != nil {
		at = *in.FiredAt
	}
	if in.To != "" {
		from := ""
		if in.From != "" {
			from = " from " + safe(in.From)
		}
		c.printf("T+%-8s %s: message to %s%s: %s\n", at, in.Name, in.To, from, safe(in.Text))
		return
	}
	c.printf("T+%-8s %s: alert %d: %s\n", at, in.Name, in.AlertID, safe(in.Summary))
}

func (c *cli) exerciseStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Show an exercise: running or ended, its injects and its incident",
		Args:  args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := c.client().Exercise(cmd.Context(), strings.TrimSpace(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(st)
			}
			c.printStatus(st)
			return nil
		},
	}
}

func (c *cli) printStatus(st *exercise.Status) {
	c.printf("%s  %s [EXERCISE]\n", st.ID, safe(st.Title))
	c.printf("scenario %s · plan %s · %s · started by %s at %s\n", st.Scenario, st.Plan, sitrep.FormatSpeed(st.Speed), st.Controller, when(st.StartedAt))
	switch st.State {
	case exercise.StateRunning:
		c.printf("Running: T+%s of %s", st.Elapsed, st.Duration)
		if st.Next != nil {
			c.printf("; next inject at T+%s", *st.Next)
		}
		c.printf("\n")
	default:
		c.printf("Ended (%s) at T+%s of %s\n", st.EndReason, st.Elapsed, st.Duration)
	}
	if st.IncidentID != "" {
		c.printf("Incident: %s\n", st.IncidentID)
	} else {
		c.printf("Incident: not declared yet\n")
	}
	if st.Problem != "" {
		c.printf("Problem: %s\n", safe(st.Problem))
	}
	c.printf("\nInjects fired (%d):\n", len(st.Injects))
	for _, in := range st.Injects {
		c.printf("  ")
		c.printInject(in)
	}
}

func (c *cli) exerciseStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop ID",
		Short: "End a running exercise; its report measures up to now",
		Args:  args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			st, err := c.client().StopExercise(cmd.Context(), strings.TrimSpace(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(st)
			}
			c.printf("Stopped %s at T+%s. Its report: sitrep exercise report %s\n", st.ID, st.Elapsed, st.ID)
			return nil
		},
	}
}

func (c *cli) exerciseReportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "report ID [--format md|json]",
		Short: "Print an exercise's after-action report",
		Long: `Print the after-action report of an exercise, computed by the server
from its incident's timeline: time to declare, to name Command and the
Information Officer and to the first internal update; time in each
phase; each expected action met or missed; each of the plan's targets
met or missed; checklist items left open; requests the ICS rules refused,
by rule and person. Times are scenario times.`,
		Example: `  sitrep exercise report EX-3f9a0c51d2 > after-action.md
  sitrep exercise report EX-3f9a0c51d2 --format json`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id := strings.TrimSpace(a[0])
			if c.json() && !changed(cmd.Flags(), "format") {
				format = "json"
			}
			switch format {
			case "md", "markdown":
				md, err := c.client().ExerciseReportMarkdown(cmd.Context(), id)
				if err != nil {
					return err
				}
				c.printf("%s", safeBlock(md))
				return nil
			case "json":
				r, err := c.client().ExerciseReport(cmd.Context(), id)
				if err != nil {
					return err
				}
				return c.printJSON(r)
			}
			return usagef("--format %q: use md or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md (Markdown) or json")
	return cmd
}

func (c *cli) exerciseLintCmd() *cobra.Command {
	var plansDir string
	cmd := &cobra.Command{
		Use:   "lint FILE... [--plans DIR]",
		Short: "Check scenario files against the plans; no server needed",
		Long: `Check each scenario FILE the way the server will when it starts it:
the format, the timings, and against the plans of --plans (default:
SITREP_PLANS, else ./plans) that the plan exists and the roles are known.
Each problem is printed as FILE:LINE:COLUMN: MESSAGE and the exit status
is 1 when there is one. Participants and dispatch rules are checked only
by the server.`,
		Example: `  sitrep exercise lint exercises/*.yaml
  sitrep exercise lint -o json my-drill.yaml --plans ops/plans`,
		Args: atLeast(1, "FILE..."),
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := "plans"
			if v, ok := c.lookupEnv("SITREP_PLANS"); ok && v != "" {
				dir = v
			}
			if changed(cmd.Flags(), "plans") {
				dir = plansDir
			}
			set, err := plan.LoadContext(cmd.Context(), dir)
			if err != nil {
				if ps := plan.AsProblems(err); ps != nil {
					return fmt.Errorf("the plans of %s have problems (sitrep plan lint %s): %d", dir, dir, len(ps))
				}
				return err
			}
			all := exercise.Problems{}
			for _, file := range a {
				data, err := readScenario(file)
				if err != nil {
					all = append(all, exercise.Problem{File: file, Message: sitrep.ErrorMessage(err)})
					if sitrep.ErrorKind(err) == sitrep.EInternal {
						all[len(all)-1].Message = err.Error()
					}
					continue
				}
				sc, ps := exercise.Parse(file, data)
				if ps == nil {
					ps = exercise.Check(sc, set)
				}
				all = append(all, ps...)
			}
			if len(all) > 0 {
				return c.scenarioProblems(strings.Join(a, ", "), all)
			}
			if c.json() {
				return c.printJSON(all)
			}
			c.printf("%d scenario%s, no problems (plans of %s).\n", len(a), plural(len(a)), dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&plansDir, "plans", "", "the plans directory the scenarios rehearse (default SITREP_PLANS, else ./plans)")
	return cmd
}
