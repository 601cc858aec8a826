package main

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/client"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build information is used.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	return client.Version()
}

func (c *cli) userCmd() *cobra.Command {
	var role, email string
	add := &cobra.Command{
		Use:   "add NAME [--role admin|responder|viewer] [--email ADDR]",
		Short: "Add a user (administrators)",
		Long: `Add a person (or a program) to sitrep. Responders declare and work
incidents, viewers read, administrators also manage users and see every
incident. Names are 1–64 lower-case letters, digits, '.', '_' or '-'.`,
		Example: `  sitrep user add alice --email alice@example.com
  sitrep user add auditor --role viewer
  sitrep token create --user alice`,
		Args: args(1, "NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			u, err := c.client().CreateUser(cmd.Context(), a[0], sitrep.OrgRole(role), email)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(u)
			}
			c.printf("Added %s (%s). Give them a token: sitrep token create --user %s\n", u.Name, u.Role, u.Name)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", string(sitrep.OrgResponder), "admin, responder or viewer")
	add.Flags().StringVar(&email, "email", "", "e-mail address")
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List users",
		Args:    noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			users, err := c.client().Users(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"users": nonNil(users)})
			}
			t := c.table("NAME", "ROLE", "EMAIL", "SINCE")
			for _, u := range users {
				t.row(u.Name, string(u.Role), orDash(safe(u.Email)), when(u.CreatedAt))
			}
			return t.flush()
		},
	}
	return group("user", "Users: add, ls, passwd, contact", add, ls, c.passwdCmd(), c.contactCmd())
}

func (c *cli) tokenCmd() *cobra.Command {
	var user, label string
	create := &cobra.Command{
		Use:   "create [--user NAME] [--label TEXT]",
		Short: "Make an API token; it is shown once",
		Long: `Make an API token for yourself, or (administrators) for someone else.
The token is printed once and stored only hashed: copy it now.`,
		Example: `  sitrep token create --user alice --label "alice's laptop"
  export SITREP_TOKEN=$(sitrep token create -o json | jq -r .token)`,
		Args: noArgs(": give the user with --user NAME"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := c.client().CreateToken(cmd.Context(), user, label)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(t)
			}
			c.printf("Token for %s (id %s), shown only now:\n\n    %s\n\n", t.User, t.ID, t.Secret)
			c.printf("Use it with:  export SITREP_TOKEN=%s\n", t.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "whose token (default: yours)")
	create.Flags().StringVar(&label, "label", "", "what the token is for")
	return group("token", "API tokens: create", create)
}

func (c *cli) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who your token belongs to",
		Args:  noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := c.client().Me(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(u)
			}
			c.printf("%s (%s) on %s\n", u.Name, u.Role, c.serverURL())
			return nil
		},
	}
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print sitrep's version",
		Args:  noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
				Commit  string `json:"commit,omitempty"`
			}{buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, commit()}
			if c.json() {
				return c.printJSON(v)
			}
			c.printf("sitrep %s (%s %s/%s", v.Version, v.Go, v.OS, v.Arch)
			if v.Commit != "" {
				c.printf(", commit %s", v.Commit)
			}
			c.printf(")\n")
			return nil
		},
	}
}

// commit returns the VCS revision the binary was built from, if recorded.
func commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return ""
}
