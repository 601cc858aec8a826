package sitrep

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeChange applies arbitrary entries to a staffed incident: decoding
// and applying never panic, a refused entry leaves the state as it was, and an
// applied one moves the head to it.
func FuzzDecodeChange(f *testing.F) {
	// base has a bit of everything: roles, a task, a pending announcement.
	s := transferred(f)
	s.assign(RoleOperations, "cy").must("cy", AddTask{Section: RoleOperations, Title: "isolate fs01", Assignee: "dee"})
	base := s.inc
	types := entryTypes()

	for _, e := range s.entries {
		f.Add(uint8(0), e.Type, []byte(e.Data))
	}
	for i := range types {
		f.Add(uint8(i), "", []byte(`{}`))
		f.Add(uint8(i), "", []byte(`null`))
	}
	f.Add(uint8(0), "resource.checked_out", []byte(`{"user":"dee","released_roles":["operations","nope"],"unassigned_tasks":[1,99,-1]}`))
	f.Add(uint8(0), "task.created", []byte(`{"id":2,"title":"","section":""}`))
	f.Add(uint8(0), "command.acknowledged", []byte(`{"seq":-1}`))
	f.Add(uint8(0), "phase.changed", []byte(`{"to":"nowhere"}`))
	f.Add(uint8(0), "no.such.type", []byte(`{`))

	f.Fuzz(func(t *testing.T, n uint8, typ string, data []byte) {
		if typ == "" {
			typ = types[int(n)%len(types)]
		}
		inc := clone(t, base)
		e := &Entry{IncidentID: inc.ID, Seq: inc.Seq + 1, At: t0.Add(time.Hour), Actor: "dee", Type: typ, Data: data, PrevHash: inc.Head}
		e.Hash = e.ComputeHash()
		_, derr := DecodeChange(e)
		err := Apply(inc, e)
		switch {
		case derr != nil && err == nil:
			t.Fatalf("Apply took an entry DecodeChange refuses: %v", derr)
		case err != nil:
			if diff := cmp.Diff(base, inc); diff != "" {
				t.Fatalf("refused entry (%v) changed the state:\n%s", err, diff)
			}
		case inc.Seq != e.Seq || inc.Head != e.Hash:
			t.Fatalf("applied entry left the state at seq %d head %.12s", inc.Seq, inc.Head)
		}
		// What the views compute from any state must not panic either.
		_ = Describe(e)
		_ = View(inc)
		_ = inc.ReportMissing()
		_ = reportOf(inc, "").Markdown()
		if _, err := json.Marshal(inc); err != nil {
			t.Fatalf("state cannot be encoded: %v", err)
		}
	})
}

// byteChooser draws choices from a fuzzer's bytes; when they run out, the
// scenario ends.
type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

func (c *byteChooser) text() string {
	n := c.intn(256)
	if n == 255 {
		// A text over most limits without a huge input.
		return string(make([]byte, MaxText+1))
	}
	n = min(n, len(c.b))
	s := string(c.b[:n])
	c.b = c.b[n:]
	return s
}

// FuzzCommands runs a scenario the fuzzer's bytes choose, with arbitrary
// strings in the commands: no command panics, the ICS invariants hold after
// each one, and the timeline replays to exactly the state the commands made.
func FuzzCommands(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte("\x01\x00\x00\x01\x02\x00\x04\x00\x05\x00\x01\x07\x00\x08\x01\x00\x09"))
	f.Add(uint8(2), []byte("bob checks in, ada assigns operations, bob adds a task and publishes"))
	f.Add(uint8(3), []byte{0, 1, 1, 0, 5, 4, 1, 0, 0, 7, 1, 3, 'h', 'i', '!', 0, 9, 1, 0, 10, 1, 10, 2, 10})
	f.Fuzz(func(t *testing.T, flags uint8, script []byte) {
		src := &byteChooser{b: script}
		s := declare(t, "ada", DeclareInput{Confidential: flags&1 != 0, Exercise: flags&2 != 0})
		for steps := 0; len(src.b) > 0 && steps < 200; steps++ {
			actor, cmd := randomCommand(src, s.inc)
			if s.do(actor, cmd) != nil {
				continue
			}
			if v := violations(s.inc); len(v) > 0 {
				t.Fatalf("after %s by %s (%+v): ICS invariants broken: %v", cmd.Action(), actor, cmd, v)
			}
		}
		checkReplay(t, s)
	})
}
