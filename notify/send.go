package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// MailConfig is how e-mail goes out: through one SMTP relay.
type MailConfig struct {
	// Relay is the SMTP relay's HOST:PORT.
	Relay string
	// User and Password authenticate to the relay when User is set.
	User     string
	Password string
	// StartTLS requires STARTTLS before anything else is sent; without it
	// the connection stays plain (a relay on the same host or network).
	StartTLS bool
	// From is the sender address.
	From string
	// Domain is the message-ID's domain; default: From's domain.
	Domain string
}

// Validate checks the configuration.
func (c MailConfig) Validate() error {
	host, port, err := net.SplitHostPort(c.Relay)
	if err != nil || host == "" {
		return fmt.Errorf("--smtp-relay %q: give HOST:PORT, such as mail.example.com:587", c.Relay)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("--smtp-relay %q: the port must be 1–65535", c.Relay)
	}
	if c.From == "" {
		return errors.New("--mail-from is needed with --smtp-relay: the address notifications come from")
	}
	if a, err := mail.ParseAddress(c.From); err != nil || a.Address == "" {
		return fmt.Errorf("--mail-from %q is not an e-mail address", c.From)
	}
	if c.Password != "" && c.User == "" {
		return errors.New("--smtp-password needs --smtp-user")
	}
	return nil
}

// permanent marks an error that retrying cannot fix: the delivery fails at
// once with its reason.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// IsPermanent reports whether err is a failure that retrying cannot fix.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// sendMail sends one e-mail through the relay. messageID is the same on
// every retry, so that a receiver sees a duplicate as one message.
func sendMail(ctx context.Context, cfg *MailConfig, to, messageID string, e Email) error {
	if cfg == nil {
		return permanent{errors.New("e-mail is not configured on this server: start it with --smtp-relay and --mail-from")}
	}
	host, portText, _ := net.SplitHostPort(cfg.Relay)
	port, _ := strconv.Atoi(portText)
	m := gomail.NewMsg()
	if err := m.From(cfg.From); err != nil {
		return permanent{fmt.Errorf("sender %q: %w", cfg.From, err)}
	}
	if err := m.To(to); err != nil {
		return permanent{fmt.Errorf("recipient %q: %w", to, err)}
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(messageID)
	m.SetDate()
	m.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, e.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)

	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(30 * time.Second), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithDialContextFunc(dialUntilDone(ctx))}
	if cfg.StartTLS {
		opts[2] = gomail.WithTLSPolicy(gomail.TLSMandatory)
	}
	if cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(cfg.User), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return permanent{fmt.Errorf("smtp client for %s: %w", cfg.Relay, err)}
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return permanent{fmt.Errorf("smtp relay %s refused the message: %w", cfg.Relay, err)}
		}
		return fmt.Errorf("smtp relay %s: %w", cfg.Relay, err)
	}
	return nil
}

// dialUntilDone returns a dialer of connections that close when ctx (the
// delivery's) ends: a send blocked on a silent relay ends with the
// delivery's time limit, or at once when the server stops, instead of
// waiting for a read timeout.
func dialUntilDone(ctx context.Context) gomail.DialContextFunc {
	return func(dctx context.Context, network, address string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dctx, network, address)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { c.Close() })
		return c, nil
	}
}

// maxWebhookAnswer is how much of a webhook's answer is read: enough for an
// error message to quote.
const maxWebhookAnswer = 4096

// postWebhook posts body to url. Redirects are not followed: a webhook URL
// that moved is a configuration to fix, and following one would send the
// delivery where its owner did not say.
func postWebhook(ctx context.Context, hc *http.Client, url string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanent{fmt.Errorf("webhook %s: %w", RedactURL(url), err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sitrep-notify")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", RedactURL(url), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxWebhookAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook %s answered %s: %s", RedactURL(url), resp.Status, clip(string(bytes.TrimSpace(answer)), 200))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return err
	}
	return permanent{err}
}

// webhookClient returns the HTTP client of webhook deliveries.
func webhookClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
