package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sitrep-ir/sitrep"
)

func (c *cli) checkinCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "checkin ID",
		Short: "Check in to an incident: you are on scene",
		Long: `Check in to an incident before you act on it. Who is on scene is always
known (ICS accountability), and only people checked in can take a role,
a task or command.`,
		Example: `  sitrep checkin IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().CheckIn(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(res)
			}
			inc := res.Incident
			c.printf("Checked in to %s: you are on scene. Command is %s.\n", inc.ID, inc.Command)
			c.printWarnings(inc)
			return nil
		},
	}
}

func (c *cli) checkoutCmd() *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:   "checkout ID [--user USER]",
		Short: "Check out of an incident, or (Command) release someone",
		Long: `Check out of an incident when you are released (demobilised). Your roles
go back to Command and your open tasks back to their section. Command
releases someone else with --user; Command itself checks out only after
transferring command.`,
		Example: `  sitrep checkout IR-2026-0001
  sitrep checkout IR-2026-0001 --user carol`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().CheckOut(cmd.Context(), incidentID(a[0]), user)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "release this person instead of yourself (Command)")
	return cmd
}

func (c *cli) inviteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "invite ID USER",
		Short: "Name someone on a confidential incident so they can see it (Command)",
		Example: `  sitrep invite IR-2026-0007 dana
  sitrep checkin IR-2026-0007        # then, as dana`,
		Args: args(2, "ID USER"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().NameMember(cmd.Context(), incidentID(a[0]), a[1])
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
}

func (c *cli) assignCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "assign ID ROLE USER",
		Short: "Delegate a role to someone checked in (Command)",
		Long: `Delegate an ICS role to a person checked in to the incident. Only Command
assigns roles; anyone else is refused (freelancing).

Roles: information (the Information Officer, the one voice), safety,
liaison, and the sections operations, planning, logistics, finance. Any
other name of lower-case letters, digits and '-' makes a new role, such
as operations-group-a.`,
		Example: `  sitrep assign IR-2026-0001 information bob
  sitrep assign IR-2026-0001 operations carol`,
		Args: args(3, "ID ROLE USER"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().Assign(cmd.Context(), incidentID(a[0]), a[1], a[2])
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
}

func (c *cli) unassignCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "unassign ID ROLE",
		Short:   "Return a role to Command (Command)",
		Example: `  sitrep unassign IR-2026-0001 operations`,
		Args:    args(2, "ID ROLE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().Unassign(cmd.Context(), incidentID(a[0]), a[1])
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
}

func (c *cli) transferCmd() *cobra.Command {
	var to, briefing, reason string
	var withdraw bool
	cmd := &cobra.Command{
		Use:   "transfer ID --to USER --briefing TEXT | transfer ID --withdraw [--reason TEXT]",
		Short: "Offer command to someone checked in, with a briefing (Command)",
		Long: `Offer command of an incident to a person checked in to it, with a
briefing: the situation, the organisation, what is being done. Command
passes when that person runs 'sitrep accept-command ID'. Everyone else on
scene is then told and acknowledges with 'sitrep ack ID'; 'sitrep show'
lists who has not.

--withdraw takes back an offer not yet accepted.`,
		Example: `  sitrep transfer IR-2026-0001 --to bob --briefing "Laptop isolated; carol runs operations; next update to execs at 10:00"
  sitrep transfer IR-2026-0001 --withdraw --reason "bob was called away"`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id := incidentID(a[0])
			f := cmd.Flags()
			if withdraw {
				if changed(f, "to") || changed(f, "briefing") {
					return usagef("transfer: give --withdraw alone, or --to and --briefing")
				}
				res, err := c.client().WithdrawOffer(cmd.Context(), id, reason)
				if err != nil {
					return err
				}
				return c.printResult(res)
			}
			if changed(f, "reason") {
				return usagef("transfer: --reason goes with --withdraw; an offer carries a --briefing")
			}
			if err := requireFlag(cmd, "to", "briefing"); err != nil {
				return err
			}
			res, err := c.client().OfferCommand(cmd.Context(), id, to, briefing)
			if err != nil {
				return err
			}
			return c.printResult(res, "Command of "+id+" passes when "+to+" runs: sitrep accept-command "+id)
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the person to take command (checked in)")
	f.StringVar(&briefing, "briefing", "", "the transfer-of-command briefing")
	f.BoolVar(&withdraw, "withdraw", false, "withdraw the pending offer")
	f.StringVar(&reason, "reason", "", "why the offer is withdrawn")
	return cmd
}

func (c *cli) acceptCommandCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "accept-command ID",
		Short:   "Accept command offered to you",
		Example: `  sitrep accept-command IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().AcceptCommand(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(res)
			}
			inc := res.Incident
			c.printf("You are Command of %s.\n", inc.ID)
			if an := inc.Announcement; an != nil {
				if len(an.Pending) > 0 {
					c.printf("Awaiting acknowledgement from: %s\n", strings.Join(an.Pending, ", "))
				} else {
					c.printf("No one else is on scene: nothing to acknowledge.\n")
				}
			}
			c.printWarnings(inc)
			return nil
		},
	}
}

func (c *cli) ackCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ack ID",
		Short:   "Acknowledge the latest transfer of command",
		Example: `  sitrep ack IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			res, err := c.client().Acknowledge(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(res)
			}
			inc := res.Incident
			c.printf("Acknowledged: %s is Command of %s.\n", inc.Command, inc.ID)
			if an := inc.Announcement; an != nil && len(an.Pending) > 0 {
				c.printf("Still awaiting acknowledgement from: %s\n", strings.Join(an.Pending, ", "))
			}
			c.printWarnings(inc)
			return nil
		},
	}
}

func (c *cli) passwdCmd() *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "passwd NAME [--password-stdin]",
		Short: "Set the password someone signs in to the web UI with",
		Long: `Set the password NAME signs in to the web UI with: your own, or anyone's
for an administrator. It is asked for twice on the terminal, without
echo; with --password-stdin it is read from standard input instead (one
line), for scripts. Every web session of NAME ends. Programs keep using
API tokens.`,
		Example: `  sitrep user passwd admin
  printf '%s\n' "$PASSWORD" | sitrep user passwd alice --password-stdin`,
		Args: args(1, "NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			pw, err := c.readPassword(fromStdin)
			if err != nil {
				return err
			}
			if err := sitrep.ValidatePassword(pw); err != nil {
				return err
			}
			if err := c.client().SetPassword(cmd.Context(), a[0], pw); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]string{"user": a[0], "password": "set"})
			}
			c.printf("Password of %s set. Sign in to the web UI at %s/login\n", a[0], strings.TrimRight(c.server, "/"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

// readPassword reads a new password: one line of standard input with
// --password-stdin, else twice from the terminal without echo.
func (c *cli) readPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(c.stdin, sitrep.MaxPassword+3)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			return "", usagef("user passwd: standard input holds no password")
		}
		return line, nil
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("user passwd: standard input is not a terminal: give the password on standard input with --password-stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(c.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	pw, err := ask("New password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", usagef("user passwd: the two passwords differ; nothing was changed")
	}
	return pw, nil
}
