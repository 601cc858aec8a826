// Package exercise runs rehearsals: tabletop exercises of a pre-incident
// plan, measured.
//
// A scenario is a YAML file (docs/exercises.md shows the format by example;
// the types below are its reference): which plan it rehearses, how the
// incident is to be declared, how long it runs, a list of timed injects and
// the actions the participants are expected to take, each with a deadline.
// An alert inject goes through the server's real intake from the built-in
// source "exercise", labelled with the exercise's ID, so the dispatch rules
// are rehearsed too; a message inject is written on the incident's timeline
// to a role ("a reporter from the local paper is on the phone").
//
// Parse reads a scenario strictly: an unknown key, a value of the wrong
// shape, a duplicate name or an impossible timing is a Problem with its
// file, line and column; Check then validates it against the plans in force
// (the plan exists, roles and phases are known). A Runner runs scenarios in
// the server, faster than real time if asked, and writes what matters to
// the incident's timeline (exercise.started, exercise.inject,
// exercise.ended); the after-action report (Compute) is computed from that
// timeline, the evidence, and the plan applied to the incident.
package exercise

import (
	"encoding/json"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// Limits on what a scenario may hold. Past them a scenario has problems; it
// never costs the server more than these bounds.
const (
	MaxFileSize     = 128 << 10 // bytes of one scenario file
	MaxInjects      = 200       // injects of one scenario
	MaxExpect       = 100       // expected actions of one scenario
	MaxParticipants = 50        // people a scenario names
	MaxRepeat       = 10000     // times one alert inject is sent
	MaxText         = 4000      // bytes of a message or a description
	MaxLine         = 200       // bytes of a title, a name or a sender
	MaxDuration     = 72 * time.Hour
	maxNodes        = 50000
)

// Speeds a scenario may run at.
const (
	MinSpeed = 1.0
	MaxSpeed = 10000.0
)

// How the exercise's incident is declared.
const (
	// DeclareDispatch: a dispatch rule declares it from an alert inject.
	DeclareDispatch = "dispatch"
	// DeclareManual: the participants declare it from the triage desk
	// (sitrep alert declare), from an alert inject.
	DeclareManual = "manual"
	// DeclareStart: the exercise declares it when it starts, with the
	// person who started it as Command.
	DeclareStart = "start"
)

// The actions an expectation can ask for (key do).
const (
	DoDeclare  = "declare"   // the incident is declared
	DoCommand  = "command"   // a person holds command (not the dispatch account)
	DoCheckIn  = "checkin"   // count people are checked in
	DoAssign   = "assign"    // role is delegated to someone
	DoPublish  = "publish"   // a communication is published (to audience)
	DoPhase    = "phase"     // the incident reaches phase (or a later one)
	DoTransfer = "transfer"  // command passes from one person to another
	DoTaskDone = "task-done" // a task (whose title contains contains) is done
	DoNote     = "note"      // a note (containing contains) is written
	DoAsset    = "asset"     // an asset (of kind) is linked
)

// Actions lists the expectation actions, in the order docs/exercises.md
// gives them.
var Actions = []string{DoDeclare, DoCommand, DoCheckIn, DoAssign, DoPublish, DoPhase, DoTransfer, DoTaskDone, DoNote, DoAsset}

// Triggers an expectation's deadline can run from, beside an inject's name.
const (
	AfterStart    = "start"    // the exercise's start (scenario time 0)
	AfterDeclared = "declared" // the incident's declaration
)

// Scenario is one exercise scenario: one file of the exercises directory.
type Scenario struct {
	// Name identifies the scenario: its file name without .yaml or .yml.
	Name string `json:"name"`
	// File is the path it was read from, as given.
	File string `json:"file,omitempty"`
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`

	// Title is the scenario's name for people (key title, required).
	Title string `json:"title"`
	// Description sets the scene for the participants (key description).
	Description string `json:"description,omitempty"`
	// Plan is the name of the plan rehearsed (key plan, required): the
	// incident is expected to run with it.
	Plan string `json:"plan"`
	// Kind and Severity are the incident's when the exercise declares it
	// (declare: start); Kind defaults to the plan's first kind, Severity to
	// the plan's (keys kind, severity).
	Kind     string `json:"kind,omitempty"`
	Severity int    `json:"severity,omitempty"`
	// Declare says how the incident is declared (key declare): dispatch
	// (the default when the scenario injects alerts), manual, or start
	// (the default without alerts).
	Declare string `json:"declare"`
	// Duration is the scenario's length in scenario time (key duration,
	// required): the exercise ends then.
	Duration Seconds `json:"duration"`
	// Participants are users named on the incident, so that they can see
	// it when the plan makes it confidential (key participants).
	Participants []string `json:"participants,omitempty"`
	// Injects are the scenario's events in time order (key injects).
	Injects []Inject `json:"injects"`
	// Expect are the actions the participants are expected to take, each
	// with a deadline (key expect).
	Expect []Expectation `json:"expect"`

	// pos is where each part is written in the file, for Check's problems.
	pos map[string]position
}

// Inject is one timed event of the scenario: an alert or a message.
type Inject struct {
	// Name identifies the inject within the scenario (key name, required).
	Name string `json:"name"`
	// At is when it happens, in scenario time from the start (key at).
	At Seconds `json:"at"`
	// Alert is a synthetic alert sent through the intake (key alert).
	Alert *AlertInject `json:"alert,omitempty"`
	// Message is a message to a role of the incident (key message).
	Message *MessageInject `json:"message,omitempty"`

	key string // where it is written, for problems: injects[i]
}

// AlertInject is a synthetic alert.
type AlertInject struct {
	// Summary is the alert's one-line text (key summary, required).
	Summary string `json:"summary"`
	// Severity is 1 (worst) to 4 (key severity; default: none said).
	Severity int `json:"severity,omitempty"`
	// Labels describe the alert as a real source would (key labels):
	// dispatch rules match on them.
	Labels map[string]string `json:"labels,omitempty"`
	// DedupKey folds repeats into one alert (key dedup_key; default the
	// inject's name). Exercise alerts never fold into real ones.
	DedupKey string `json:"dedup_key,omitempty"`
	// Action is trigger (the default) or resolve (key action).
	Action string `json:"action,omitempty"`
	// Repeat sends the alert this many times at once (key repeat; default
	// 1): a storm is one alert with a count.
	Repeat int `json:"repeat,omitempty"`
}

// MessageInject is a message to whoever holds a role of the incident.
type MessageInject struct {
	// To is the role (key to, required): command, an ICS role or one the
	// plan adds.
	To string `json:"to"`
	// From is who it is from in the scenario (key from).
	From string `json:"from,omitempty"`
	// Text is the message (key text, required).
	Text string `json:"text"`
}

// Expectation is an action the participants are expected to take by a
// deadline: Within after the trigger After.
type Expectation struct {
	// Name identifies it within the scenario (key name, required).
	Name string `json:"name"`
	// Title says it for people (key title; default made from the action),
	// e.g. "Information Officer named".
	Title string `json:"title,omitempty"`
	// Do is the action, one of Actions (key do, required).
	Do string `json:"do"`
	// Role is the role to assign (assign, required).
	Role string `json:"role,omitempty"`
	// Audience is the audience to publish to (publish; default any).
	Audience string `json:"audience,omitempty"`
	// Phase is the phase to reach (phase, required).
	Phase sitrep.Phase `json:"phase,omitempty"`
	// Contains is text the task's title or the note must contain,
	// ignoring case (task-done, note).
	Contains string `json:"contains,omitempty"`
	// Kind is the asset's kind (asset; default any).
	Kind string `json:"kind,omitempty"`
	// Count is how many people must be checked in at once (checkin;
	// default 1).
	Count int `json:"count,omitempty"`
	// By is the role the action must be taken by (key by), held by the
	// actor at the time; Command holds every role not delegated. It goes
	// with the actions a person takes in a role: publish, transfer,
	// task-done, note and asset.
	By string `json:"by,omitempty"`
	// After is what the deadline runs from (key after): start, declared
	// (the default), or an inject's name.
	After string `json:"after"`
	// Within is the deadline after the trigger (key within, required).
	Within Seconds `json:"within"`

	key string // where it is written, for problems: expect[i]
}

// Seconds is a span of scenario time, whole seconds in JSON.
type Seconds int64

// D returns s as a time.Duration.
func (s Seconds) D() time.Duration { return time.Duration(s) * time.Second }

// String writes s as scenario files do: 1h30m, 15m, 90s.
func (s Seconds) String() string { return sitrep.FormatScenarioTime(int64(s)) }

// Alerts reports whether the scenario injects any alert.
func (sc *Scenario) Alerts() bool {
	for _, in := range sc.Injects {
		if in.Alert != nil {
			return true
		}
	}
	return false
}

// FirstAlert returns the first alert inject, nil without one.
func (sc *Scenario) FirstAlert() *Inject {
	for i := range sc.Injects {
		if sc.Injects[i].Alert != nil {
			return &sc.Injects[i]
		}
	}
	return nil
}

// Inject returns the named inject, nil without one.
func (sc *Scenario) Inject(name string) *Inject {
	for i := range sc.Injects {
		if sc.Injects[i].Name == name {
			return &sc.Injects[i]
		}
	}
	return nil
}

// Spec returns the scenario's JSON form, which exercise.started records.
func (sc *Scenario) Spec() json.RawMessage {
	b, _ := json.Marshal(sc) // text, numbers and maps of text: it cannot fail
	return b
}

// DecodeSpec reads a scenario back from its JSON form.
func DecodeSpec(spec json.RawMessage) (*Scenario, error) {
	var sc Scenario
	if err := json.Unmarshal(spec, &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// Problem is one thing wrong in a scenario file, where it is.
type Problem = yamlcheck.Problem

// Problems is every problem of a scenario, sorted by file, line and
// column. As an error it lists them one per line.
type Problems = yamlcheck.Problems

// AsProblems returns the problems err holds, nil when it holds none.
func AsProblems(err error) Problems { return yamlcheck.AsProblems(err) }
