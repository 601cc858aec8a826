// Command sitrep is the one binary of sitrep: `sitrep serve` runs the server,
// and every other command is a client of a server's API, in the vocabulary
// of the Incident Command System.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sitrep-ir/sitrep"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the server refused, or the command failed
	exitUsage = 2 // the command line is wrong
)

// run runs the command line args and returns the exit code. It never
// panics on input and never prints a Go stack: every error becomes one line
// "sitrep: …" on stderr.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

// runContext is run with a context that ends the command (tests end
// `timeline --follow` with it; run ends it on SIGINT and SIGTERM).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	path := root.Name()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	var ue *usageError
	if errors.As(err, &ue) || !c.started {
		// Before the command started, every error is cobra's parsing of
		// the command line: unknown commands and flags, missing arguments.
		fmt.Fprintf(stderr, "sitrep: %s\nRun '%s --help' for usage.\n", oneLine(err.Error()), path)
		return exitUsage
	}
	fmt.Fprintln(stderr, "sitrep: "+c.explain(err))
	return exitError
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// explain turns an error into the line printed after "sitrep: ": the
// server's words, the ICS rule that refused the request, and a hint when
// the cause is on this side (no server, no token).
func (c *cli) explain(err error) string {
	msg := oneLine(err.Error())
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	e := sitrep.AsError(err)
	if e == nil {
		// Not reaching the server at all is most often the wrong address.
		var op *net.OpError
		var dns *net.DNSError
		if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
			msg += " (is `sitrep serve` running there? set --server or SITREP_SERVER)"
		}
		return msg
	}
	if e.Rule != "" {
		msg += " (rule: " + e.Rule + ")"
	}
	if e.Kind == sitrep.EUnauthorized && c.tokenValue() == "" {
		msg += " (no token given: set --token or SITREP_TOKEN)"
	}
	return msg
}

// oneLine keeps an error on one line of the terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
