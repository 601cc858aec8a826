package main

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/client"
)

func (c *cli) sourceCmd() *cobra.Command {
	cmd := group("source", "Alert sources and their keys: add, ls, rm", c.sourceAddCmd(), c.sourceLsCmd(), c.sourceRmCmd())
	cmd.Long = `An alert source is a tool that sends sitrep its alerts: Prometheus
Alertmanager, Grafana, anything that speaks the PagerDuty Events API v2,
any program that posts JSON, syslog or e-mail. Each source has its own key;
pointing the tool at sitrep needs no code.`
	cmd.Example = `  sitrep source add prometheus --kind alertmanager
  sitrep source add firewalls --kind syslog --allow 10.20.0.0/16
  sitrep source ls`
	return cmd
}

func (c *cli) sourceAddCmd() *cobra.Command {
	var kind string
	var allow []string
	cmd := &cobra.Command{
		Use:   "add NAME --kind " + strings.Join(sitrep.SourceKinds, "|") + " [--allow CIDR…]",
		Short: "Add an alert source (administrators); its key is shown once",
		Long: `Add an alert source and print where to point the tool, with the source's
key. The key is shown this once and stored only hashed: copy it now.

  generic       POST JSON alerts to the URL printed (the key is in it)
  alertmanager  a webhook receiver with the URL printed
  grafana       a webhook contact point with the URL printed
  pagerduty     the Events API v2 URL printed, with the key as routing key
  syslog        the server's syslog listener (sitrep serve --syslog-udp and
                --syslog-tcp HOST:PORT); the sender's network says which
                source a message is from: the most specific --allow range of
                all syslog sources wins, a syslog source without ranges takes
                the rest
  email         the server's SMTP listener (sitrep serve --smtp HOST:PORT):
                mail to KEY@HOST (any domain, and KEY+anything@ too)

--allow limits the senders to network ranges (repeat it, or separate the
ranges with commas); without it any address may send with the key.`,
		Example: `  sitrep source add prometheus --kind alertmanager
  sitrep source add pd-bridge --kind pagerduty
  sitrep source add firewalls --kind syslog --allow 10.20.0.0/16 --allow 192.0.2.7/32
  sitrep source add siem --kind generic -o json`,
		Args: args(1, "NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := requireFlag(cmd, "kind"); err != nil {
				return err
			}
			s, err := c.client().CreateSource(cmd.Context(), a[0], kind, allow)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(s)
			}
			c.printNewSource(s)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "", "how its alerts come in: "+strings.Join(sitrep.SourceKinds, ", ")+" (required)")
	f.StringSliceVar(&allow, "allow", nil, "network range (CIDR) allowed to send; repeatable")
	return cmd
}

// printNewSource says where to point the tool, in the terms of that tool.
func (c *cli) printNewSource(s *client.NewSource) {
	src := s.Source
	c.printf("Added source %s (%s).", src.Name, src.Kind)
	if len(src.Allow) > 0 {
		c.printf(" Allowed from: %s.", joinComma(src.Allow))
	}
	c.printf("\n\n")
	switch src.Kind {
	case "pagerduty":
		c.printf("Point the sender's PagerDuty Events API v2 URL at:\n\n    %s\n\n", s.URL)
		c.printf("with this routing (integration) key, shown only now:\n\n    %s\n", s.Key)
		return
	case "syslog":
		host := serverHost(c.serverURL())
		c.printf("Point the senders' syslog at this server's syslog listener: %s, on the port given to\n", host)
		c.printf("`sitrep serve --syslog-udp` or `--syslog-tcp` (SITREP_SYSLOG_UDP, SITREP_SYSLOG_TCP), which the\n")
		c.printf("server prints when it starts (\"syslog tcp listening on HOST:PORT\").\n\n")
		if len(src.Allow) > 0 {
			c.printf("Messages from %s are this source's, unless a syslog source with a\nnarrower range claims them.\n\n", joinComma(src.Allow))
		} else {
			c.printf("Messages from any address that no syslog source's ranges claim are this source's.\n\n")
		}
		c.printf("Try it:\n\n    logger --tcp --server %s --port PORT \"test alert\"\n\n", host)
		c.printf("Syslog senders need no key: they are known by their network.\n")
	case "email":
		host := serverHost(c.serverURL())
		if ip, err := netip.ParseAddr(host); err == nil {
			host = "[" + ip.String() + "]" // an address literal, as e-mail writes it
		}
		addr := s.Key + "@" + host
		c.printf("Mail alerts to this address, shown only now (the key is in it):\n\n    %s\n\n", addr)
		c.printf("through this server's SMTP listener: the address given to `sitrep serve --smtp`\n")
		c.printf("(SITREP_SMTP), which the server prints when it starts (\"smtp listening on HOST:PORT\").\n")
		c.printf("Any domain after the @ will do, and %s+anything@ too.\n\n", s.Key)
		c.printf("Try it:\n\n    swaks --server %s --port PORT --to '%s' --header 'Subject: test alert'\n\n", serverHost(c.serverURL()), addr)
	default:
		c.printf("Point %s at this URL, shown only now (the key is in it):\n\n    %s\n\n", toolName(src.Kind), s.URL)
		switch src.Kind {
		case "alertmanager":
			c.printf("In alertmanager.yml:\n\n    receivers:\n      - name: sitrep\n        webhook_configs:\n          - url: %s\n\n", s.URL)
		case "grafana":
			c.printf("In Grafana: Alerting › Contact points › Add › Integration: Webhook, URL as above.\n\n")
		case "generic":
			c.printf("Try it:\n\n    curl -H 'Content-Type: application/json' -d '{\"summary\":\"test alert\",\"severity\":\"warning\"}' %s\n\n", s.URL)
		}
	}
	c.printf("Key, shown only now: %s\n", s.Key)
}

// serverHost is the host name of a server URL, the name senders reach it
// by (the listeners are on the same host).
func serverHost(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Hostname() == "" {
		return "HOST"
	}
	return u.Hostname()
}

func toolName(kind string) string {
	switch kind {
	case "alertmanager":
		return "Alertmanager's webhook receiver"
	case "grafana":
		return "a Grafana webhook contact point"
	}
	return "the tool"
}

func (c *cli) sourceLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List alert sources",
		Args:    noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			srcs, err := c.client().Sources(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"sources": nonNil(srcs)})
			}
			if len(srcs) == 0 {
				c.printf("No alert sources. Add one: sitrep source add NAME --kind KIND\n")
				return nil
			}
			t := c.table("NAME", "KIND", "ALLOWED FROM", "ADDED", "BY")
			for _, s := range srcs {
				allow := "any address"
				if len(s.Allow) > 0 {
					allow = strings.Join(s.Allow, ",")
				}
				t.row(s.Name, s.Kind, safe(allow), when(s.CreatedAt), s.CreatedBy)
			}
			return t.flush()
		},
	}
}

func (c *cli) sourceRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove an alert source (administrators); its alerts stay",
		Long: `Remove an alert source: its key stops working at once. The alerts it
sent stay, and so does every incident they are on.`,
		Example: `  sitrep source rm prometheus`,
		Args:    args(1, "NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := c.client().DeleteSource(cmd.Context(), a[0]); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]string{"removed": a[0]})
			}
			c.printf("Removed source %s. Its key no longer works; its alerts stay.\n", a[0])
			return nil
		},
	}
}
