package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sitrep-ir/sitrep/client"
)

// defaultServer is where client commands look for a server when neither
// --server nor SITREP_SERVER says otherwise: `sitrep serve`'s default.
const defaultServer = "http://127.0.0.1:8080"

// cli holds one invocation's streams and global flags. A fresh one is made
// for every run, so that tests run commands side by side in one process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	server, token, output string
	// started is set once the command line parsed and the command began.
	started bool
}

func init() {
	// Commands are listed in the order an incident uses them, not
	// alphabetically. Set once here: cobra keeps it in a package variable.
	cobra.EnableCommandSorting = false
}

// Command groups of the help text, in the order an incident uses them.
var groups = []*cobra.Group{
	{ID: "triage", Title: "Alerts and the triage desk:"},
	{ID: "incident", Title: "Incidents:"},
	{ID: "people", Title: "People on scene and the chain of command:"},
	{ID: "work", Title: "Work, notes and communications:"},
	{ID: "record", Title: "The record and the post mortem:"},
	{ID: "admin", Title: "Server and accounts:"},
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sitrep",
		Short: "Run IT and security incidents with the Incident Command System",
		Long: `sitrep runs IT and security incidents with the Incident Command System.

Whoever declares an incident is its Command, and holds every role until
they delegate it. Check in before you act. Only Command assigns roles;
Command or a section's chief assigns tasks; only the Information Officer
talks to people about the incident. Every change goes on the incident's
hash-chained timeline.

Client commands talk to a sitrep server: --server or SITREP_SERVER
(default ` + defaultServer + `), with your token from --token or SITREP_TOKEN.`,
		Example: `  sitrep declare --title "Ransomware on FIN-LAPTOP-7" --kind malware --severity 2
  sitrep show IR-2026-0001
  sitrep assign IR-2026-0001 operations alice
  sitrep timeline IR-2026-0001 --follow`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if c.output != "text" && c.output != "json" {
				return usagef("-o %q: use text or json", c.output)
			}
			c.started = true
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	pf := root.PersistentFlags()
	pf.StringVar(&c.server, "server", "", "sitrep server URL (env SITREP_SERVER; default "+defaultServer+")")
	pf.StringVar(&c.token, "token", "", "API token (env SITREP_TOKEN)")
	pf.StringVarP(&c.output, "output", "o", "text", "output: text or json (the API's JSON)")

	root.AddGroup(groups...)
	add := func(group string, cmds ...*cobra.Command) {
		for _, cmd := range cmds {
			cmd.GroupID = group
			root.AddCommand(cmd)
		}
	}
	add("triage", c.alertCmd(), c.sourceCmd(), c.dispatchCmd())
	add("incident", c.declareCmd(), c.lsCmd(), c.showCmd(), c.editCmd(), c.phaseCmd())
	add("incident", c.planCmd(), c.exerciseCmd())
	add("people", c.checkinCmd(), c.checkoutCmd(), c.inviteCmd(), c.assignCmd(), c.unassignCmd(),
		c.transferCmd(), c.acceptCommandCmd(), c.ackCmd(), c.pageAckCmd())
	add("work", c.taskCmd(), c.noteCmd(), c.updateCmd(), c.approveCmd(), c.rejectCmd(), c.assetCmd())
	add("record", c.timelineCmd(), c.verifyCmd(), c.reportCmd(), c.notificationsCmd())
	add("admin", newServeCmd(), c.userCmd(), c.tokenCmd(), c.whoamiCmd(), c.versionCmd())
	add("admin", c.benchCmd())
	root.SetHelpCommandGroupID("admin")
	root.SetCompletionCommandGroupID("admin")
	// A Use line that shows its flags where they go needs no "[flags]".
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.DisableFlagsInUseLine = strings.Contains(cmd.Use, "--")
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// groupRun runs a command that only groups others: with no arguments it
// shows its help; anything else is an unknown command.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{msg: msg}
}

// group returns a command that only groups its subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: groupRun}
	cmd.AddCommand(subs...)
	return cmd
}

// args returns an Args check for exactly n positional arguments, named in
// the error.
func args(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) != n {
			return usagef("%s takes %s (%d argument%s), got %d", cmd.CommandPath(), names, n, plural(n), len(a))
		}
		return nil
	}
}

// atLeast returns an Args check for n or more positional arguments.
func atLeast(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < n {
			return usagef("%s takes %s, got %d argument%s", cmd.CommandPath(), names, len(a), plural(len(a)))
		}
		return nil
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// serverURL returns --server, else SITREP_SERVER, else the default.
func (c *cli) serverURL() string {
	if c.server != "" {
		return c.server
	}
	if v, ok := c.lookupEnv("SITREP_SERVER"); ok && v != "" {
		return v
	}
	return defaultServer
}

// tokenValue returns --token, else SITREP_TOKEN.
func (c *cli) tokenValue() string {
	if c.token != "" {
		return c.token
	}
	v, _ := c.lookupEnv("SITREP_TOKEN")
	return strings.TrimSpace(v)
}

// client returns a client of the server as the token's holder.
func (c *cli) client() *client.Client {
	return client.New(c.serverURL(), c.tokenValue(), client.WithUserAgent("sitrep-cli/"+buildVersion()))
}

// json reports whether the output is JSON.
func (c *cli) json() bool { return c.output == "json" }

// printJSON prints v indented, as the API sent it.
func (c *cli) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// printf prints human output.
func (c *cli) printf(format string, a ...any) { fmt.Fprintf(c.stdout, format, a...) }

// incidentID normalises an incident ID typed by a person: "ir-2026-0001"
// is IR-2026-0001. The server checks the rest.
func incidentID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 3 && strings.EqualFold(s[:3], "IR-") {
		return "IR-" + s[3:]
	}
	return s
}

// taskID parses a task number: "3" or "#3".
func taskID(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(s), "#"))
	if err != nil || n < 1 {
		return 0, usagef("task %q is not a task number: give the number `sitrep task ls ID` shows, such as 3", clipText(s, 20))
	}
	return n, nil
}

// text returns the free text of the remaining arguments, joined by spaces
// so that `sitrep note ID EDR isolated the laptop` needs no quotes. A single
// "-" reads the text from standard input.
func (c *cli) text(a []string, what string, limit int) (string, error) {
	if len(a) == 1 && a[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin, int64(limit)+1))
		if err != nil {
			return "", fmt.Errorf("read the %s from standard input: %w", what, err)
		}
		if len(b) > limit {
			return "", fmt.Errorf("the %s on standard input is longer than the limit of %d bytes", what, limit)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	s := strings.Join(a, " ")
	if strings.TrimSpace(s) == "" {
		return "", usagef("the %s is empty", what)
	}
	return s, nil
}

// requireFlag reports a usage error when a flag needed by the command was
// not given.
func requireFlag(cmd *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && !f.Changed {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usagef("%s needs %s", cmd.CommandPath(), strings.Join(missing, " and "))
	}
	return nil
}

// changed reports whether the flag was given on the command line.
func changed(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
