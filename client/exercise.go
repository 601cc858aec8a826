package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sitrep-ir/sitrep/exercise"
)

// StartExercise starts running a scenario (the text of a scenario file,
// named file for problems) at speed times real time. An invalid scenario
// is an EInvalid error whose message lists every problem, one per line.
func (c *Client) StartExercise(ctx context.Context, file string, scenario []byte, speed float64) (*exercise.Status, error) {
	in := struct {
		Scenario string  `json:"scenario"`
		File     string  `json:"file,omitempty"`
		Speed    float64 `json:"speed,omitempty"`
	}{string(scenario), file, speed}
	var st exercise.Status
	if err := c.call(ctx, http.MethodPost, path("exercises"), nil, in, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Exercise returns an exercise's state.
func (c *Client) Exercise(ctx context.Context, id string) (*exercise.Status, error) {
	var st exercise.Status
	if err := c.call(ctx, http.MethodGet, path("exercises", id), nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// StopExercise ends a running exercise.
func (c *Client) StopExercise(ctx context.Context, id string) (*exercise.Status, error) {
	var st exercise.Status
	if err := c.call(ctx, http.MethodPost, path("exercises", id, "stop"), nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ExerciseReport returns an exercise's after-action report.
func (c *Client) ExerciseReport(ctx context.Context, id string) (*exercise.Report, error) {
	var r exercise.Report
	if err := c.call(ctx, http.MethodGet, path("exercises", id, "report"), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ExerciseReportMarkdown returns the after-action report rendered by the
// server as Markdown.
func (c *Client) ExerciseReportMarkdown(ctx context.Context, id string) (string, error) {
	body, err := c.send(ctx, http.MethodGet, path("exercises", id, "report"), url.Values{"format": {"md"}}, nil, "text/markdown")
	if err != nil {
		return "", err
	}
	return string(body), nil
}
