// Package notify reaches responders: it turns timeline entries into
// notifications (who is told of what), delivers them by e-mail over SMTP and
// by outgoing webhooks (sitrep's JSON signed with HMAC-SHA256, and the
// Slack- and Microsoft Teams-compatible message forms), and repeats and
// escalates pages that nobody acknowledges.
//
// # Who is told of what
//
//   - A declaration goes to the notify lists of the incident's plan at its
//     severity: the users of a list to the responders are paged, then the
//     roster if none answers; the users of the other lists are told; the
//     bare e-mail addresses of every list are e-mailed (without the title
//     when the incident is confidential; an exercise skips the lists of
//     external audiences). With no responders on the plan's lists, the
//     roster (Config.Roster, or the administrators) is paged: the first,
//     then the next while nobody acknowledges. Taking command answers it.
//   - A role assignment pages the person; a task given to someone pages
//     them; an offer of command pages the person offered it. Unanswered,
//     such a page escalates to whoever gave the order.
//   - A transfer of command pages everyone who must acknowledge it (ICS
//     rule 4); acknowledging the page is the acknowledgement on the record,
//     and `sitrep ack` answers the page.
//   - A phase change and an update to the responders tell everyone on
//     scene, needing no answer.
//
// Nobody is told of their own action; a confidential incident is told only
// to people who may see it; everything an exercise sends is marked EXERCISE.
//
// # Durability and exactly once
//
// The timeline is the outbox. Each incident has a cursor: the last entry
// already turned into notifications. Planning reads the entries after the
// cursor and, in one transaction of the store, inserts their notifications,
// inserts one River job per notification (InsertManyTx, in that same
// transaction) and moves the cursor. The transaction checks that the cursor
// is still where planning read it (under the cursor row's lock on
// PostgreSQL, under SQLite's one writer), so two processes planning one
// incident store its notifications once; the notifications' unique key
// (incident, entry, chain, step, round, channel, address) is the idempotency
// key that makes a repeated insert a no-op besides. The store's own writes
// of incidents are untouched: nothing is added to the hot path of the
// record, and the store does not need to know about notifications.
//
// Planning is started right after a commit (Service.Appended). If the
// process dies between the commit and the plan, the entries stay after the
// cursor, and the sweep (a River periodic job, run by one replica) plans
// them: nothing accepted is lost.
//
// A delivery job sends its notification only while it is queued, and
// records it sent right after. River runs a job on one worker at a time
// across all replicas; a job whose process died is run again after
// Config.RescueAfter, and a job interrupted by a stop is retried: both find
// the notification still queued if, and only if, it was not recorded sent.
// So the job and the record are exactly once. The send itself is at least
// once, honestly: a crash after the SMTP relay or the webhook accepted the
// message and before the record commits sends it again. Receivers can tell:
// an e-mail keeps its Message-ID and a webhook its X-Sitrep-Delivery header
// on every attempt.
//
// # Acknowledgement and escalation
//
// A page is due Config.AckTimeout after it was planned. The sweep finds
// pages due and neither acknowledged nor escalated; it sends the round again
// (Config.Repeats times) and then moves to the next person on the page's
// ladder, marking the round escalated in the same transaction as it inserts
// the next, so a round escalates once. Acknowledging any notification of a
// chain (the API, `sitrep page-ack`, or the signed link in the message)
// stops it.
package notify
