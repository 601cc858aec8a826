package sitrep

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestComputeHash(t *testing.T) {
	base := Entry{
		IncidentID: "IR-2026-0042", Seq: 7, At: t0, Actor: "ada", Type: "note.added",
		Data: json.RawMessage(`{"text":"hello"}`), PrevHash: strings.Repeat("ab", 32),
	}
	baseHash := base.ComputeHash()
	if len(baseHash) != 64 || strings.Trim(baseHash, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not hex SHA-256", baseHash)
	}
	tests := []struct {
		name   string
		edit   func(e *Entry)
		change bool // whether the hash must change
	}{
		{"incident", func(e *Entry) { e.IncidentID = "IR-2026-0043" }, true},
		{"seq", func(e *Entry) { e.Seq = 8 }, true},
		{"time by a nanosecond", func(e *Entry) { e.At = e.At.Add(time.Nanosecond) }, true},
		{"time by a year", func(e *Entry) { e.At = e.At.AddDate(1, 0, 0) }, true},
		{"actor", func(e *Entry) { e.Actor = "bob" }, true},
		{"actor case", func(e *Entry) { e.Actor = "Ada" }, true},
		{"type", func(e *Entry) { e.Type = "communication.published" }, true},
		{"data", func(e *Entry) { e.Data = json.RawMessage(`{"text":"hellO"}`) }, true},
		{"data spacing", func(e *Entry) { e.Data = json.RawMessage(`{"text": "hello"}`) }, true},
		{"data empty", func(e *Entry) { e.Data = nil }, true},
		{"prev hash", func(e *Entry) { e.PrevHash = strings.Repeat("ab", 31) + "ac" }, true},
		{"prev hash empty", func(e *Entry) { e.PrevHash = "" }, true},
		{"actor and type split elsewhere", func(e *Entry) { e.Actor, e.Type = "adan", "ote.added" }, true},
		{"type and data split elsewhere", func(e *Entry) { e.Type, e.Data = "note.added{", json.RawMessage(`"text":"hello"}`) }, true},
		{"the same instant in another zone", func(e *Entry) { e.At = e.At.In(time.FixedZone("CET", 3600)) }, false},
		{"the stored hash itself", func(e *Entry) { e.Hash = "tampered" }, false},
		{"nothing", func(e *Entry) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.edit(&e)
			if changed := e.ComputeHash() != baseHash; changed != tt.change {
				t.Errorf("hash changed: %t, want %t", changed, tt.change)
			}
		})
	}
}

func TestApplyRefusesOutOfOrder(t *testing.T) {
	s := staffed(t, "bob")
	next := func(edit func(e *Entry)) *Entry {
		e := &Entry{IncidentID: s.inc.ID, Seq: s.inc.Seq + 1, At: s.now.Add(time.Minute), Actor: "bob", Type: "note.added", Data: json.RawMessage(`{"text":"hi"}`), PrevHash: s.inc.Head}
		edit(e)
		e.Hash = e.ComputeHash()
		return e
	}
	tests := []struct {
		name string
		e    *Entry
		msg  string
	}{
		{"a gap of one", next(func(e *Entry) { e.Seq++ }), fmt.Sprintf("entry %d applied after entry %d", s.inc.Seq+2, s.inc.Seq)},
		{"a gap of many", next(func(e *Entry) { e.Seq += 100 }), "applied after"},
		{"the same seq again", next(func(e *Entry) { e.Seq-- }), "applied after"},
		{"seq zero", next(func(e *Entry) { e.Seq = 0 }), "applied after"},
		{"a negative seq", next(func(e *Entry) { e.Seq = -1 }), "applied after"},
		{"an unknown type", next(func(e *Entry) { e.Type = "incident.deleted" }), `unknown type "incident.deleted"`},
		{"data of the wrong shape", next(func(e *Entry) { e.Data = json.RawMessage(`{"text":42}`) }), "decode data"},
		{"data that is not JSON", next(func(e *Entry) { e.Data = json.RawMessage(`{"text":`) }), "decode data"},
		{"a second declaration", next(func(e *Entry) { e.Type, e.Data = "incident.declared", json.RawMessage(`{"title":"again"}`) }), "declaration must be the first entry"},
		{"checking out someone not on scene", next(func(e *Entry) { e.Type, e.Data = "resource.checked_out", json.RawMessage(`{"user":"zed"}`) }), "zed is not checked in"},
		{"a task out of order", next(func(e *Entry) {
			e.Type, e.Data = "task.created", json.RawMessage(`{"id":5,"title":"x","section":"operations"}`)
		}), "task 5 created out of order"},
		{"assigning a missing task", next(func(e *Entry) { e.Type, e.Data = "task.assigned", json.RawMessage(`{"id":1,"assignee":"bob"}`) }), "no task 1"},
		{"acknowledging no announcement", next(func(e *Entry) { e.Type, e.Data = "command.acknowledged", json.RawMessage(`{"seq":1}`) }), "no announcement 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := clone(t, s.inc)
			err := Apply(inc, tt.e)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Apply: %v; want an error saying %q", err, tt.msg)
			}
			if diff := cmp.Diff(s.inc, inc); diff != "" {
				t.Errorf("a refused entry changed the state (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("the next entry", func(t *testing.T) {
		e := next(func(*Entry) {})
		inc := clone(t, s.inc)
		if err := Apply(inc, e); err != nil {
			t.Fatal(err)
		}
		if inc.Seq != e.Seq || inc.Head != e.Hash || !inc.UpdatedAt.Equal(e.At) {
			t.Errorf("seq %d head %.12s updated %v; want %d %.12s %v", inc.Seq, inc.Head, inc.UpdatedAt, e.Seq, e.Hash, e.At)
		}
	})
}

// TestReplay runs long random scenarios and checks that the timeline alone
// gives back exactly the state the commands produced, and that it is one
// unbroken chain.
func TestReplay(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			src := &randChooser{rand.New(rand.NewPCG(seed, 42))}
			s := declare(t, "ada", DeclareInput{Confidential: seed == 2, Exercise: seed == 3})
			done, types := 0, map[string]int{}
			for range 800 {
				actor, cmd := randomCommand(src, s.inc)
				if s.do(actor, cmd) != nil {
					continue
				}
				done++
				for _, e := range s.last {
					types[e.Type]++
				}
				if v := violations(s.inc); len(v) > 0 {
					t.Fatalf("after %s by %s: ICS invariants broken: %v", cmd.Action(), actor, v)
				}
			}
			checkReplay(t, s)
			// A generator that stopped exercising the rules would make this
			// test pass vacuously.
			if done < 120 || len(types) < 15 {
				t.Errorf("%d commands succeeded with %d entry types %v; the generator needs more variety", done, len(types), types)
			}
		})
	}
}

// checkReplay checks that s's entries form one chain and replay to s.inc.
func checkReplay(t testing.TB, s *scene) {
	t.Helper()
	got, err := replay(s.entries)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if diff := cmp.Diff(s.inc, got); diff != "" {
		t.Fatalf("replayed state differs (-decided +replayed):\n%s", diff)
	}
	// Verify compares the JSON forms: they must agree too.
	if d := stateDiff(s.inc, got); d != "" {
		t.Fatalf("stateDiff: %s", d)
	}
	if last := s.entries[len(s.entries)-1]; s.inc.Seq != int64(len(s.entries)) || s.inc.Head != last.Hash {
		t.Fatalf("state at seq %d head %.12s; timeline has %d entries ending in %.12s", s.inc.Seq, s.inc.Head, len(s.entries), last.Hash)
	}
}

// chooser draws the choices of randomCommand: a seeded generator in tests,
// the fuzzer's bytes when fuzzing.
type chooser interface {
	// intn returns a number in [0, n).
	intn(n int) int
	// text returns free text: any length, any bytes.
	text() string
}

type randChooser struct{ r *rand.Rand }

func (c *randChooser) intn(n int) int { return c.r.IntN(n) }

var texts = []string{
	"", " ", "contained", "fs01 encrypted at 03:00", "ünïcødé ✓", "bad \xff utf-8",
	strings.Repeat("x", MaxTitle+1), strings.Repeat("y", MaxReason+1), strings.Repeat("z", MaxText+1),
}

func (c *randChooser) text() string {
	if c.r.IntN(8) == 0 {
		return texts[c.r.IntN(len(texts))]
	}
	return fmt.Sprintf("text %d", c.r.IntN(1000))
}

// pick returns one of xs.
func pick[T any](c chooser, xs ...T) T { return xs[c.intn(len(xs))] }

// cast are the actors of random scenarios; zed never acts.
var cast = []string{"ada", "bob", "cy", "dee", "eve", "root", "vic"}

func randName(c chooser) string {
	if c.intn(10) == 0 {
		// Any bytes, but short: the Service refuses names over 64 bytes, and
		// huge names only slow the fuzzer down.
		s := c.text()
		return s[:min(len(s), 100)]
	}
	return pick(c, append(cast, "zed")...)
}

func randRole(c chooser) string {
	if c.intn(10) == 0 {
		return c.text()
	}
	return pick(c, RoleCommand, RoleInformation, RoleSafety, RoleLiaison, RoleOperations, RolePlanning, RoleLogistics, RoleFinance, "forensics", "Ops")
}

// randomCommand returns an actor and a command drawn by c. Actors come from
// the cast, whose names are valid: a real actor is a user the store holds.
// Command is picked more often, so that scenarios go somewhere.
func randomCommand(c chooser, inc *Incident) (actor string, cmd Command) {
	switch c.intn(3) {
	case 0:
		actor = inc.Command
	case 1:
		if on := inc.OnScene(); len(on) > 0 {
			actor = pick(c, on...)
			break
		}
		fallthrough
	default:
		actor = pick(c, cast...)
	}
	opt := func(s string) *string {
		if c.intn(2) == 0 {
			return nil
		}
		return &s
	}
	switch c.intn(21) {
	case 0, 1:
		var off []string
		for _, u := range cast {
			if !inc.CheckedIn(u) {
				off = append(off, u)
			}
		}
		if len(off) > 0 {
			actor = pick(c, off...)
		}
		cmd = CheckIn{}
	case 2:
		cmd = CheckOut{User: pick(c, "", randName(c))}
	case 3:
		cmd = NameMember{User: randName(c)}
	case 4, 5:
		cmd = Assign{Role: randRole(c), User: randName(c)}
	case 6:
		cmd = Unassign{Role: randRole(c)}
	case 7:
		cmd = OfferCommand{To: randName(c), Briefing: c.text()}
	case 8:
		cmd = WithdrawOffer{Reason: pick(c, "", c.text())}
	case 9:
		if inc.Transfer != nil && c.intn(4) != 0 {
			actor = inc.Transfer.To
		}
		cmd = AcceptCommand{}
	case 10:
		if an := inc.Announcement; an != nil && len(an.Pending) > 0 && c.intn(4) != 0 {
			actor = pick(c, an.Pending...)
		}
		cmd = Acknowledge{}
	case 11:
		cmd = AddTask{Section: randRole(c), Title: c.text(), Assignee: pick(c, "", randName(c))}
	case 12:
		cmd = AssignTask{ID: c.intn(len(inc.Tasks) + 2), Assignee: pick(c, "", randName(c))}
	case 13:
		cmd = SetTaskStatus{ID: c.intn(len(inc.Tasks) + 2), Status: pick(c, TaskOpen, TaskDone, TaskCancelled, "finished"), Reason: pick(c, "", c.text())}
	case 14:
		cmd = AddNote{Text: c.text()}
	case 15:
		cmd = Publish{Audience: pick(c, "responders", "internal", "executives", "external", "regulators", "Press", c.text()), Text: c.text()}
	case 16:
		cmd = LinkAsset{Kind: pick(c, append(AssetKinds, "laptop")...), Name: pick(c, "fs01", "db1", c.text())}
	case 17:
		cmd = UnlinkAsset{Kind: pick(c, append(AssetKinds, "laptop")...), Name: pick(c, "fs01", "db1", c.text()), Reason: c.text()}
	case 18:
		cmd = ChangePhase{Phase: pick(c, append(Phases, PhasePostMortem, PhaseClosed, "done", Phase(c.text()))...), Reason: c.text()}
	case 19:
		e := Edit{Title: opt(c.text()), Kind: opt(pick(c, "malware", "data-breach", "Bad Kind", c.text())), Reason: pick(c, "", c.text())}
		if c.intn(2) == 0 {
			e.Severity = ptr(c.intn(7) - 1)
		}
		if c.intn(3) == 0 {
			e.Confidential = ptr(c.intn(2) == 0)
		}
		if c.intn(3) == 0 {
			e.LegalHold = ptr(c.intn(2) == 0)
		}
		cmd = e
	case 20:
		r := EditReport{Narrative: opt(c.text()), WhatWorked: opt(c.text()), NeedsImprovement: opt(c.text())}
		if c.intn(3) == 0 {
			fs := []FollowUp{}
			for range c.intn(3) {
				fs = append(fs, FollowUp{Action: c.text(), Owner: pick(c, "", randName(c))})
			}
			r.FollowUps = &fs
		}
		r.AcceptDraft = c.intn(10) == 0
		cmd = r
	}
	return actor, cmd
}
