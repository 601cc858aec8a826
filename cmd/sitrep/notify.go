package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep/notify"
)

// contactCmd is `sitrep user contact`: the ways sitrep reaches a person.
func (c *cli) contactCmd() *cobra.Command {
	var format string
	add := &cobra.Command{
		Use:   "add USER email ADDRESS | add USER webhook URL [--format json|slack|teams]",
		Short: "Add a way to reach someone: an e-mail address or a webhook",
		Long: `Add a way sitrep reaches USER when they are paged or told something:
an e-mail address (sent through the server's --smtp-relay), or a webhook
URL. A webhook is sitrep's own JSON, signed with a secret shown only now
(--format json, the default), or a chat channel's incoming webhook: Slack
and the tools that copy its form (--format slack), Microsoft Teams
Workflows (--format teams). People add their own; administrators anyone's.`,
		Example: `  sitrep user contact add alice email alice@example.com
  sitrep user contact add alice webhook https://hooks.slack.com/services/T0/B0/XXXX --format slack
  sitrep user contact add pager-bot webhook https://bot.example.com/sitrep`,
		Args: args(3, "USER, email or webhook, and the address"),
		RunE: func(cmd *cobra.Command, a []string) error {
			in := notify.ContactInput{Kind: a[1], Address: a[2], Format: format}
			ct, err := c.client().AddContact(cmd.Context(), a[0], in)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(ct)
			}
			c.printf("Added contact %d of %s: %s %s", ct.ID, ct.User, ct.Kind, safe(ct.Address))
			if ct.Format != "" {
				c.printf(" (%s)", ct.Format)
			}
			c.printf("\n")
			if ct.Secret != "" {
				c.printf(`
Its deliveries are signed with this secret, shown only now:

    %s

A delivery carries %s: sha256=HEX, the HMAC-SHA256 of the secret over
the %s header, a '.', and the body. Refuse old timestamps.
`, ct.Secret, notify.HeaderSignature, notify.HeaderTimestamp)
			}
			return nil
		},
	}
	add.Flags().StringVar(&format, "format", "", "webhook form: json (signed, the default), slack or teams")
	ls := &cobra.Command{
		Use:     "ls USER",
		Aliases: []string{"list"},
		Short:   "List the ways sitrep reaches someone",
		Args:    args(1, "USER"),
		RunE: func(cmd *cobra.Command, a []string) error {
			cs, err := c.client().Contacts(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"contacts": nonNil(cs)})
			}
			if len(cs) == 0 {
				c.printf("%s has no contact methods: nothing reaches them. Add one with: sitrep user contact add %s email ADDRESS\n", a[0], a[0])
				return nil
			}
			t := c.table("ID", "KIND", "ADDRESS", "FORMAT", "SINCE")
			for _, ct := range cs {
				t.row(strconv.FormatInt(ct.ID, 10), ct.Kind, safe(ct.Address), orDash(ct.Format), when(ct.CreatedAt))
			}
			return t.flush()
		},
	}
	rm := &cobra.Command{
		Use:     "rm USER ID",
		Aliases: []string{"remove"},
		Short:   "Remove a way to reach someone",
		Args:    args(2, "USER and the contact's ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(a[1], 10, 64)
			if err != nil || id < 1 {
				return usagef("contact %q is not a contact ID: give the ID `sitrep user contact ls %s` shows", clipText(a[1], 20), a[0])
			}
			if err := c.client().DeleteContact(cmd.Context(), a[0], id); err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"user": a[0], "contact": id, "removed": true})
			}
			c.printf("Removed contact %d of %s.\n", id, a[0])
			return nil
		},
	}
	return group("contact", "Ways to reach someone: add, ls, rm", add, ls, rm)
}

// notificationsCmd is `sitrep notifications ID`.
func (c *cli) notificationsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "notifications ID",
		Short: "Who was told what about an incident, and whether it arrived",
		Long: `List the notifications of an incident: who was told of what, by which
way, and their delivery status: queued, sent, failed (with the reason), or
acknowledged (by whom). Pages that nobody acknowledges are repeated and then
escalated; repeats and escalations are listed too.`,
		Example: `  sitrep notifications IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			ns, err := c.client().Notifications(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"notifications": nonNil(ns)})
			}
			if len(ns) == 0 {
				c.printf("No notifications on %s yet.\n", incidentID(a[0]))
				return nil
			}
			t := c.table("ID", "#", "TO", "BY", "WHAT", "STATUS", "DETAIL")
			for _, n := range ns {
				t.row(strconv.FormatInt(n.ID, 10), strconv.FormatInt(n.Seq, 10), n.Recipient, n.Channel, safe(clipText(n.Headline(), 60)), n.Status, safe(detail(n)))
			}
			return t.flush()
		},
	}
}

// detail says what a person needs to know of a notification's status.
func detail(n notify.Notification) string {
	var parts []string
	switch {
	case n.AckedAt != nil:
		parts = append(parts, fmt.Sprintf("by %s %s", n.AckedBy, when(*n.AckedAt)))
	case n.Status == notify.StatusFailed:
		parts = append(parts, clipText(n.LastError, 80))
	case n.Status == notify.StatusQueued && n.LastError != "":
		parts = append(parts, fmt.Sprintf("attempt %d failed: %s", n.Attempts, clipText(n.LastError, 60)))
	case n.SentAt != nil:
		parts = append(parts, when(*n.SentAt))
	}
	if n.NeedsAck && n.AckedAt == nil {
		if n.EscalatedAt != nil {
			parts = append(parts, "unanswered, escalated")
		} else if n.AckDue != nil {
			parts = append(parts, "to acknowledge by "+when(*n.AckDue))
		}
	}
	return orDash(strings.Join(parts, "; "))
}

// pageAckCmd is `sitrep page-ack NOTIFICATION`.
func (c *cli) pageAckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "page-ack NOTIFICATION",
		Short: "Acknowledge a page: it stops repeating and is not escalated",
		Long: `Acknowledge a page sent to you, by the notification number in the
message (the message's link does the same). The page stops repeating and
does not escalate to the next person. Acknowledging the page of a transfer
of command also acknowledges the transfer, as sitrep ack does.`,
		Example: `  sitrep page-ack 42`,
		Args:    args(1, "NOTIFICATION"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(strings.TrimPrefix(a[0], "#"), 10, 64)
			if err != nil || id < 1 {
				return usagef("%q is not a notification number: give the number in the message, such as 42", clipText(a[0], 20))
			}
			n, err := c.client().AcknowledgePage(cmd.Context(), id)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(n)
			}
			c.printf("Acknowledged notification %d: %s\n", n.ID, safe(n.Headline()))
			return nil
		},
	}
}
