package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
)

// timelinePage is how many entries one timeline request asks for.
const timelinePage = 1000

func (c *cli) timelineCmd() *cobra.Command {
	var after int64
	var follow bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "timeline ID [--after N] [--follow]",
		Short: "Print an incident's timeline; --follow keeps printing new entries",
		Long: `Print an incident's timeline: every change, who made it and when, in
order. --after N starts after entry N. --follow keeps polling (every
second) and prints new entries as they come, until Ctrl-C: put it on the
war room's screen.

With -o json the whole timeline is one JSON object; with --follow each
entry is one JSON object per line.`,
		Example: `  sitrep timeline IR-2026-0001
  sitrep timeline IR-2026-0001 --after 40 --follow`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if after < 0 {
				return usagef("--after %d: give an entry number, 0 or more", after)
			}
			if every <= 0 {
				return usagef("--poll %s: give a positive duration", every)
			}
			return c.timeline(cmd.Context(), incidentID(a[0]), after, follow, every)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&after, "after", 0, "start after entry N")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new entries until Ctrl-C")
	f.DurationVar(&every, "poll", time.Second, "how often --follow asks for new entries")
	f.MarkHidden("poll")
	return cmd
}

func (c *cli) timeline(ctx context.Context, id string, after int64, follow bool, every time.Duration) error {
	cl := c.client()
	if !follow {
		var all []sitrep.EntryView
		for {
			page, err := cl.Timeline(ctx, id, after, timelinePage)
			if err != nil {
				return err
			}
			all = append(all, page...)
			if len(page) < timelinePage {
				break
			}
			after = page[len(page)-1].Seq
		}
		if c.json() {
			return c.printJSON(map[string]any{"entries": nonNil(all)})
		}
		return c.printEntries(all)
	}
	// Following: a server that goes away for a moment (a restart, a
	// failover) is waited for; anything the server answers is final.
	if !c.json() {
		fmt.Fprintf(c.stderr, "Following the timeline of %s; Ctrl-C to stop.\n", id)
	}
	down := false
	for {
		page, err := cl.Timeline(ctx, id, after, timelinePage)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && sitrep.AsError(err) == nil:
			if !down {
				fmt.Fprintf(c.stderr, "sitrep: %s; still trying\n", c.explain(err))
				down = true
			}
		case err != nil:
			return err
		default:
			down = false
			if len(page) > 0 {
				after = page[len(page)-1].Seq
				if err := c.followed(page); err != nil {
					return err
				}
			}
			if len(page) == timelinePage {
				continue // more are waiting: no pause
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// followed prints entries as --follow finds them.
func (c *cli) followed(entries []sitrep.EntryView) error {
	if !c.json() {
		return c.printEntries(entries)
	}
	enc := json.NewEncoder(c.stdout)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

func (c *cli) printEntries(entries []sitrep.EntryView) error {
	t := c.table()
	for _, e := range entries {
		t.row(fmt.Sprintf("#%d", e.Seq), e.At.Local().Format("2006-01-02 15:04:05"), e.Actor, safe(e.Text))
	}
	return t.flush()
}

func (c *cli) verifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify ID",
		Short: "Check that an incident's record holds up: hash chain and state",
		Long: `Check an incident's record on the server: recompute the hash chain of its
timeline from the first entry, replay every entry and compare the result
with the incident's state. Exits 1 and names the first entry that does
not hold up if any does.`,
		Example: `  sitrep verify IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			v, err := c.client().Verify(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				if err := c.printJSON(v); err != nil {
					return err
				}
			} else if v.OK {
				c.printf("OK: the record of %s holds up: %d entries, hash chain intact, head %.12s…\n", v.IncidentID, v.Entries, v.Head)
			}
			if !v.OK {
				return fmt.Errorf("BROKEN: the record of %s does not hold up at entry %d: %s", v.IncidentID, v.BrokenSeq, v.Problem)
			}
			return nil
		},
	}
}

func (c *cli) reportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "report ID [--format md|json]",
		Short: "Print the post mortem: Incident Report and Response Report",
		Long: `Print the incident's post mortem: the Incident Report (what happened:
date, type, assets and resources involved, narrative) and the Response
Report (what worked, what needs improvement, follow-up actions with
owners), with the same fields every time. What is still missing before
the incident can close is listed at the end.`,
		Example: `  sitrep report IR-2026-0001 > IR-2026-0001.md
  sitrep report IR-2026-0001 --format json`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id := incidentID(a[0])
			if c.json() && !changed(cmd.Flags(), "format") {
				format = "json"
			}
			switch format {
			case "md", "markdown":
				md, err := c.client().ReportMarkdown(cmd.Context(), id)
				if err != nil {
					return err
				}
				c.printf("%s", safeBlock(md))
				if !strings.HasSuffix(md, "\n") {
					c.printf("\n")
				}
				return nil
			case "json":
				r, err := c.client().Report(cmd.Context(), id)
				if err != nil {
					return err
				}
				return c.printJSON(r)
			}
			return usagef("--format %q: use md or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md (Markdown) or json")
	cmd.AddCommand(c.reportEditCmd())
	return cmd
}

func (c *cli) reportEditCmd() *cobra.Command {
	var narrative, narrativeFile, worked, improve string
	var acceptDraft bool
	var followUps []string
	cmd := &cobra.Command{
		Use:   "edit ID [--narrative TEXT|--narrative-file FILE] [--accept-draft] [--what-worked TEXT] [--needs-improvement TEXT] [--follow-up ACTION=OWNER ...]",
		Short: "Write the post mortem (Command or the planning chief)",
		Long: `Write fields of the post mortem. Only the fields given change.

The narrative is drafted from the timeline ('sitrep report ID' shows the
draft); --accept-draft saves that draft as the narrative. --follow-up
replaces the list of follow-up actions: give one --follow-up per action,
each "ACTION=OWNER", where OWNER is a user.`,
		Example: `  sitrep report edit IR-2026-0001 --accept-draft
  sitrep report edit IR-2026-0001 --narrative-file narrative.md
  sitrep report edit IR-2026-0001 --what-worked "EDR isolation in 4 minutes" \
      --needs-improvement "no offline backup of the finance share" \
      --follow-up "Offline backups for finance=carol" --follow-up "EDR on all laptops=dave"`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			var r sitrep.EditReport
			f := cmd.Flags()
			if changed(f, "narrative") && changed(f, "narrative-file") {
				return usagef("report edit: give --narrative or --narrative-file, not both")
			}
			if changed(f, "narrative") {
				r.Narrative = &narrative
			}
			if changed(f, "narrative-file") {
				text, err := c.readFile(narrativeFile, "narrative", sitrep.MaxText*5)
				if err != nil {
					return err
				}
				r.Narrative = &text
			}
			r.AcceptDraft = acceptDraft
			if changed(f, "what-worked") {
				r.WhatWorked = &worked
			}
			if changed(f, "needs-improvement") {
				r.NeedsImprovement = &improve
			}
			if changed(f, "follow-up") {
				list, err := parseFollowUps(followUps)
				if err != nil {
					return err
				}
				r.FollowUps = &list
			}
			if r.Narrative == nil && !r.AcceptDraft && r.WhatWorked == nil && r.NeedsImprovement == nil && r.FollowUps == nil {
				return usagef("report edit: nothing to change: give --narrative, --accept-draft, --what-worked, --needs-improvement or --follow-up")
			}
			res, err := c.client().EditReport(cmd.Context(), incidentID(a[0]), r)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(res)
			}
			inc := res.Incident
			var notes []string
			if missing := inc.ReportMissing(); len(missing) > 0 {
				notes = append(notes, "Still missing before "+inc.ID+" can close:")
				for _, m := range missing {
					notes = append(notes, "  - "+m)
				}
			} else {
				notes = append(notes, "The report is complete. Command closes the incident from post-mortem: sitrep phase "+inc.ID+" closed --reason TEXT")
			}
			return c.printResult(res, notes...)
		},
	}
	f := cmd.Flags()
	f.StringVar(&narrative, "narrative", "", "the narrative: what happened")
	f.StringVar(&narrativeFile, "narrative-file", "", `read the narrative from FILE ("-" for standard input)`)
	f.BoolVar(&acceptDraft, "accept-draft", false, "save the narrative drafted from the timeline")
	f.StringVar(&worked, "what-worked", "", "what worked in the response")
	f.StringVar(&improve, "needs-improvement", "", "what needs improvement")
	f.StringArrayVar(&followUps, "follow-up", nil, `a follow-up action and its owner, "ACTION=OWNER" (repeat; replaces the list)`)
	return cmd
}

// parseFollowUps parses "ACTION=OWNER" values. The owner follows the last
// '=', so that an action may itself contain one.
func parseFollowUps(vals []string) ([]sitrep.FollowUp, error) {
	out := []sitrep.FollowUp{}
	for _, v := range vals {
		i := strings.LastIndex(v, "=")
		if i < 0 {
			return nil, usagef(`--follow-up %q: write "ACTION=OWNER", such as "Offline backups=carol"`, clipText(v, 60))
		}
		action, owner := strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:])
		if action == "" || owner == "" {
			return nil, usagef(`--follow-up %q: both the action and the owner are needed: "ACTION=OWNER"`, clipText(v, 60))
		}
		out = append(out, sitrep.FollowUp{Action: action, Owner: owner})
	}
	return out, nil
}

// readFile reads a text file of at most limit bytes; "-" is standard input.
func (c *cli) readFile(name, what string, limit int) (string, error) {
	var r io.Reader
	if name == "-" {
		r = c.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w", what, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return "", fmt.Errorf("read the %s from %s: %w", what, name, err)
	}
	if len(b) > limit {
		return "", fmt.Errorf("the %s in %s is longer than the limit of %d bytes", what, name, limit)
	}
	return string(b), nil
}
