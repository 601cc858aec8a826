package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/notify"
)

func newServeCmd() *cobra.Command {
	var cfg app.Config
	var logLevel, logFormat string
	var mailCfg notify.MailConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the sitrep server: API, web UI and intake",
		Long: `Run the sitrep server.

With no flags it listens on 127.0.0.1:8080 and keeps everything in the
SQLite file ./sitrep.db, created on first start. On that first start it
creates the administrator and prints its API token once.

Alerts come in over HTTP on the same address. The syslog and SMTP
listeners are opt-in: --syslog-udp, --syslog-tcp and --smtp take an address
each (HOST:PORT). Syslog senders are told apart by their network (the
--allow ranges of sources of kind syslog), e-mail by the recipient: mail to
KEY@any.domain, KEY being an e-mail source's key. Neither listener has TLS
or a login of its own: bind them to a network only senders of alerts reach.

Notifications reach people by the contact methods they add (sitrep user
contact add): e-mail goes out through --smtp-relay from --mail-from;
webhooks need nothing more. A page that nobody acknowledges within
--page-ack-timeout is repeated --page-repeats times, then escalated.

Every flag can also be set by an environment variable: SITREP_ADDR,
SITREP_DB, SITREP_PLANS, SITREP_PUBLIC_URL, SITREP_SYSLOG_UDP,
SITREP_SYSLOG_TCP, SITREP_SMTP, SITREP_LOG_LEVEL, SITREP_LOG_FORMAT.
SITREP_BOOTSTRAP_TOKEN sets the administrator's first token instead of a
random one (for automation).`,
		Example: `  sitrep serve
  sitrep serve --addr 0.0.0.0:8080 --db postgres://sitrep@db.internal/sitrep
  sitrep serve --syslog-udp 0.0.0.0:514 --syslog-tcp 0.0.0.0:514 --smtp 0.0.0.0:2525`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			logger, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			cfg.BootstrapToken = os.Getenv("SITREP_BOOTSTRAP_TOKEN")
			if mailCfg.Relay != "" || mailCfg.From != "" {
				cfg.Notify.Mail = &mailCfg
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", app.DefaultAddr, "HTTP listen address (HOST:PORT)")
	f.StringVar(&cfg.DB, "db", app.DefaultDB, "store: sqlite:PATH or postgres://USER@HOST/DB")
	f.StringVar(&cfg.Plans, "plans", "./plans", "directory of pre-incident plans")
	f.StringVar(&cfg.PublicURL, "public-url", "", "base URL senders and browsers reach this server at, when not the listen address")
	f.StringVar(&cfg.SyslogUDP, "syslog-udp", "", "syslog UDP listen address (HOST:PORT); off when empty")
	f.StringVar(&cfg.SyslogTCP, "syslog-tcp", "", "syslog TCP listen address (HOST:PORT); off when empty")
	f.StringVar(&cfg.SMTP, "smtp", "", "SMTP listen address for e-mail alerts (HOST:PORT); off when empty")
	f.StringVar(&mailCfg.Relay, "smtp-relay", "", "notifications: SMTP relay (HOST:PORT) outgoing e-mail goes through; no e-mail when empty")
	f.StringVar(&mailCfg.User, "smtp-user", "", "notifications: user name at the SMTP relay")
	f.StringVar(&mailCfg.Password, "smtp-password", "", "notifications: password at the SMTP relay (set SITREP_SMTP_PASSWORD rather than the flag)")
	f.BoolVar(&mailCfg.StartTLS, "smtp-starttls", false, "notifications: require STARTTLS with the SMTP relay")
	f.StringVar(&mailCfg.From, "mail-from", "", "notifications: the address e-mail comes from")
	f.DurationVar(&cfg.Notify.AckTimeout, "page-ack-timeout", notify.DefaultAckTimeout, "notifications: how long a page waits for its acknowledgement before it is repeated or escalated")
	f.IntVar(&cfg.Notify.Repeats, "page-repeats", notify.DefaultRepeats, "notifications: how often an unanswered page is repeated before it escalates to the next person")
	f.StringSliceVar(&cfg.Notify.Roster, "page-roster", nil, "notifications: who is paged when an incident is declared, in order (comma-separated user names); default the administrators")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// bindEnv sets every flag not given on the command line from its
// environment variable SITREP_<FLAG>, with '-' as '_'.
func bindEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "SITREP_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// serve runs the server until SIGINT or SIGTERM.
func serve(ctx context.Context, cfg app.Config, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		a.Stop(context.Background())
		return err
	}
	url := a.URL()
	if tok := a.AdminToken(); tok != "" {
		fmt.Fprintf(out, `First start: created the administrator %q. Its API token is shown only now:

    %s

In another terminal:

    export SITREP_SERVER=%s SITREP_TOKEN=%s
    sitrep declare --title "What is happening"

For the web UI at %s, give the administrator a password:

    sitrep user passwd %s

`, nameOr(cfg.BootstrapAdmin, "admin"), tok, url, tok, url, nameOr(cfg.BootstrapAdmin, "admin"))
	}
	for _, l := range []struct{ name, addr string }{
		{"syslog udp", a.SyslogUDPAddr()}, {"syslog tcp", a.SyslogTCPAddr()}, {"smtp", a.SMTPAddr()},
	} {
		if l.addr != "" {
			fmt.Fprintf(out, "%s listening on %s\n", l.name, l.addr)
		}
	}
	fmt.Fprintf(out, "sitrep listening on %s\n", url)
	select {
	case <-ctx.Done():
	case err := <-waitErr(a):
		if err != nil {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return a.Stop(shutdown)
}

func waitErr(a *app.App) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- a.Wait() }()
	return ch
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
