package sitrep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Entry is one record on an incident's timeline. Entries are append-only and
// hash-chained: Hash is the SHA-256 of the entry's fields and of PrevHash, the
// previous entry's Hash, so an edit of any stored entry breaks the chain from
// that entry on.
type Entry struct {
	IncidentID string          `json:"incident_id"`
	Seq        int64           `json:"seq"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// ComputeHash returns the hash the entry must carry. Every field is length
// prefixed, so no two different entries encode alike; Data is hashed as the
// exact bytes stored.
func (e *Entry) ComputeHash() string {
	h := sha256.New()
	field := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	field("sitrep-entry-v1")
	field(e.IncidentID)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.At.UTC().Format(time.RFC3339Nano))
	field(e.Actor)
	field(e.Type)
	field(string(e.Data))
	field(e.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// Change is the data of one kind of timeline entry. Applying it to an
// incident's state is the only way that state changes.
type Change interface {
	// Type is the entry type, such as "role.assigned". Stable: it is stored.
	Type() string
	apply(inc *Incident, e *Entry) error
}

// changeTypes makes an empty Change of each entry type, for decoding.
var changeTypes = map[string]func() Change{}

func register(fs ...func() Change) {
	for _, f := range fs {
		changeTypes[f().Type()] = f
	}
}

// DecodeChange decodes an entry's data into its Change.
func DecodeChange(e *Entry) (Change, error) {
	f, ok := changeTypes[e.Type]
	if !ok {
		return nil, fmt.Errorf("entry %d: unknown type %q", e.Seq, e.Type)
	}
	c := f()
	if err := json.Unmarshal(e.Data, c); err != nil {
		return nil, fmt.Errorf("entry %d (%s): decode data: %w", e.Seq, e.Type, err)
	}
	return c, nil
}

// Apply applies entry e to inc: the state after e. inc must be the state
// after entry e.Seq-1 (for the first entry, the zero Incident).
func Apply(inc *Incident, e *Entry) error {
	if e.Seq != inc.Seq+1 {
		return fmt.Errorf("entry %d applied after entry %d", e.Seq, inc.Seq)
	}
	c, err := DecodeChange(e)
	if err != nil {
		return err
	}
	if err := c.apply(inc, e); err != nil {
		return fmt.Errorf("entry %d (%s): %w", e.Seq, e.Type, err)
	}
	trackTargets(inc, c, e)
	inc.Seq = e.Seq
	inc.Head = e.Hash
	inc.UpdatedAt = e.At
	return nil
}

// appender turns changes into chained entries and applies them to the state
// they were decided on, so the state and the timeline cannot diverge.
type appender struct {
	inc     *Incident
	actor   string
	at      time.Time
	entries []Entry
}

func (a *appender) add(c Change) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode %s: %w", c.Type(), err)
	}
	e := Entry{
		IncidentID: a.inc.ID,
		Seq:        a.inc.Seq + 1,
		At:         a.at,
		Actor:      a.actor,
		Type:       c.Type(),
		Data:       data,
		PrevHash:   a.inc.Head,
	}
	e.Hash = e.ComputeHash()
	if err := Apply(a.inc, &e); err != nil {
		return err
	}
	a.entries = append(a.entries, e)
	return nil
}

// CheckAppend refuses entries that do not continue a stored timeline ending
// at entry seq with hash head, or a state inc that does not end where they
// end. The domain builds both correctly; stores call this before writing to
// catch a caller's bug before it reaches the record, where only a failing
// verify would find it.
func CheckAppend(id string, seq int64, head string, inc *Incident, entries []Entry) error {
	for i := range entries {
		e := &entries[i]
		switch {
		case e.IncidentID != id:
			return fmt.Errorf("entry %d belongs to incident %q, not %s", e.Seq, e.IncidentID, id)
		case e.Seq != seq+1:
			return fmt.Errorf("entry %d does not continue the timeline, which ends at entry %d", e.Seq, seq)
		case e.PrevHash != head:
			return fmt.Errorf("entry %d does not chain to entry %d: its prev_hash is %.12s…, the head is %.12s…", e.Seq, seq, e.PrevHash, head)
		case e.Hash != e.ComputeHash():
			return fmt.Errorf("entry %d carries a hash that its content does not give", e.Seq)
		}
		seq, head = e.Seq, e.Hash
	}
	if inc.ID != id {
		return fmt.Errorf("the state is of incident %q", inc.ID)
	}
	if inc.Seq != seq || inc.Head != head {
		return fmt.Errorf("the state is at entry %d, the timeline at entry %d", inc.Seq, seq)
	}
	return nil
}
