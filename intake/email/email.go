// Package email parses an e-mail alert — the raw RFC 5322 message an SMTP
// server receives in DATA, dot-unstuffed — into a sitrep.AlertEvent and the
// Message it was read from.
//
// The subject is the summary. Headers are decoded whether they come as RFC
// 2047 encoded words (=?UTF-8?B?…?=, =?ISO-8859-1?Q?…?=) or, as many senders
// (swaks among them) do without SMTPUTF8, as raw UTF-8; raw 8-bit text that
// is not UTF-8 is read as Latin-1. The body text is the first text/plain
// part, else the first text/html part stripped to text. Attachments are kept
// as metadata (name, type, size) with their first bytes, up to a limit.
package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decoders for ISO-8859-*, Windows-125*, … bodies and headers
	"github.com/emersion/go-message/mail"

	"github.com/sitrep-ir/sitrep"
)

// Limits of what Parse keeps of a message. Past them it still reads the
// message (and counts attachment sizes) but keeps no more.
const (
	// DefaultMaxBytes is the message size limit when Parse is given none.
	DefaultMaxBytes = 10 << 20
	// MaxText is the most body text kept.
	MaxText = 256 << 10
	// MaxAttachments is the most attachments whose metadata is kept.
	MaxAttachments = 32
	// MaxAttachmentBytes is the most attachment data kept, all attachments
	// together.
	MaxAttachmentBytes = 1 << 20
	// maxDepth bounds multipart nesting: deeper parts are not read.
	maxDepth = 8
	// maxParts bounds the parts read.
	maxParts = 256
)

// Message is what Parse read of an e-mail.
type Message struct {
	// From is the sender's address, lower-cased; FromName its display name.
	From     string
	FromName string
	// To lists the addresses of To and Cc.
	To        []string
	Subject   string
	Date      time.Time
	MessageID string
	// InReplyTo and References are the message IDs of the thread, without
	// angle brackets; ThreadRoot is the first of References (else of
	// InReplyTo), empty for a message that starts a thread.
	InReplyTo  []string
	References []string
	ThreadRoot string
	// Text is the body text, from text/plain or else from text/html.
	Text string
	// TextFromHTML is true when Text was stripped from an HTML part.
	TextFromHTML bool
	Attachments  []Attachment
	// MoreAttachments counts the attachments past MaxAttachments.
	MoreAttachments int
}

// Attachment is the metadata of an attached file and its first bytes.
type Attachment struct {
	Name string
	// Type is the media type, such as application/pdf.
	Type string
	// Size is the decoded size in bytes.
	Size int64
	// Data is the content, cut when the message's attachments together are
	// over MaxAttachmentBytes (Truncated says so).
	Data      []byte
	Truncated bool
}

// Parse reads one raw message of at most maxBytes (DefaultMaxBytes when
// maxBytes ≤ 0) from r.
//
// The event's summary is the subject (or, without one, the first line of the
// text); its labels are from and to. The severity comes from a tag at the
// start of the subject ([CRITICAL], [WARNING], … in the words of
// sitrep.SeverityFromText), else X-Priority (1 → 1, 2 → 2, 4–5 → 4),
// Importance or Priority; a tag [RESOLVED], [RECOVERY], [OK] or [CLEARED]
// makes the event a resolve.
//
// The dedup key ties a thread together: a reply (In-Reply-To or References)
// gets the key of its thread root's Message-ID; any other message a key
// derived from its sender and its subject normalised — Re:/Fwd:-style
// prefixes and [tags] stripped, case and spacing ignored — so that the same
// alert mailed again, escalated ([WARNING] → [CRITICAL]) or resolved
// ([RESOLVED]) is one alert.
//
// Bad input gives a *sitrep.Error of kind EInvalid: a message over the
// limit, a header that cannot be read, a message with neither subject nor
// text. A body that breaks off (a multipart without its end, bad base64) is
// kept as far as it could be read. A failing r gives its error, wrapped.
func Parse(r io.Reader, maxBytes int64) (sitrep.AlertEvent, Message, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return sitrep.AlertEvent{}, Message{}, fmt.Errorf("read e-mail message: %w", err)
	}
	if int64(len(raw)) > maxBytes {
		return sitrep.AlertEvent{}, Message{}, sitrep.Invalid("", "the message is over the limit of %d bytes", maxBytes)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return sitrep.AlertEvent{}, Message{}, sitrep.Invalid("", "the message is empty")
	}

	e, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: maxBytes})
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		reason := strings.TrimPrefix(strings.TrimSpace(err.Error()), "message: ")
		return sitrep.AlertEvent{}, Message{}, sitrep.Invalid("header", "the message header cannot be read: %s", reason)
	}
	h := mail.Header{Header: e.Header}
	if len(h.Map()) == 0 {
		return sitrep.AlertEvent{}, Message{}, sitrep.Invalid("header", "the message has no header")
	}
	m, prio := readHeader(h)
	readBody(e, &m)

	ev, err := event(&m, prio)
	if err != nil {
		return sitrep.AlertEvent{}, Message{}, err
	}
	ev.Raw = text(string(raw[:min(len(raw), sitrep.MaxAlertRaw)]))
	ev.Normalize()
	return ev, m, nil
}

// readHeader reads what sitrep uses of the message header, and the
// severity its priority headers give.
func readHeader(h mail.Header) (Message, int) {
	var m Message
	m.Subject = headerText(h, "Subject")
	if from := addresses(h, "From"); len(from) > 0 {
		m.From, m.FromName = from[0].address, from[0].name
	}
	for _, key := range []string{"To", "Cc"} {
		for _, a := range addresses(h, key) {
			m.To = append(m.To, a.address)
		}
	}
	if d, err := h.Date(); err == nil && !d.IsZero() {
		m.Date = d.UTC()
	}
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	m.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	m.References = msgIDs(h.Get("References"))
	switch {
	case len(m.References) > 0:
		m.ThreadRoot = m.References[0]
	case len(m.InReplyTo) > 0:
		m.ThreadRoot = m.InReplyTo[0]
	}
	return m, headerSeverity(h)
}

// headerText decodes a header field: RFC 2047 encoded words, raw UTF-8, or
// raw Latin-1; folding and runs of white space become one space.
func headerText(h mail.Header, key string) string {
	v := h.Get(key)
	if dec, err := wordDecoder.DecodeHeader(v); err == nil {
		v = dec
	}
	return strings.Join(strings.Fields(text(v)), " ")
}

// wordDecoder decodes RFC 2047 encoded words with go-message's charsets.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	if message.CharsetReader == nil {
		return nil, fmt.Errorf("unknown charset %q", charset)
	}
	return message.CharsetReader(strings.ToLower(charset), input)
}}

type address struct{ name, address string }

// addresses reads an address list, falling back to the bare addresses in it
// when it does not parse (raw 8-bit display names, odd quoting).
func addresses(h mail.Header, key string) []address {
	var out []address
	v := h.Get(key)
	if !utf8.ValidString(v) {
		v = text(v) // raw Latin-1 display names: the address parser wants UTF-8
	}
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			out = append(out, address{text(a.Name), strings.ToLower(text(a.Address))})
		}
		return out
	}
	v = headerText(h, key)
	for _, m := range bareAddress.FindAllString(v, 8) {
		out = append(out, address{"", strings.ToLower(strings.Trim(m, "<>"))})
	}
	return out
}

var bareAddress = regexp.MustCompile(`[^\s<>,;"]+@[^\s<>,;"]+`)

// msgIDs returns the message IDs in a header value, without brackets.
func msgIDs(v string) []string {
	var ids []string
	for _, m := range msgID.FindAllString(v, 64) {
		ids = append(ids, text(m[1:len(m)-1]))
	}
	return ids
}

var msgID = regexp.MustCompile(`<[^<>\s]{1,998}>`)

// readBody walks the parts: the first text/plain part is the text, the
// first text/html one the text when there is no plain one, the rest
// attachments. It keeps whatever it read before a part broke off.
func readBody(e *message.Entity, m *Message) {
	var html string
	haveText, haveHTML := false, false
	attachBudget := MaxAttachmentBytes
	parts := 0
	_ = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		parts++
		if parts > maxParts || len(path) > maxDepth {
			return errStop
		}
		mediaType, params, _ := part.Header.ContentType()
		if mediaType == "" {
			mediaType = "text/plain"
		}
		if strings.HasPrefix(mediaType, "multipart/") {
			return nil // Walk goes into it
		}
		disp, dparams, _ := part.Header.ContentDisposition()
		inline := disp == "inline" || (disp != "attachment" && strings.HasPrefix(mediaType, "text/"))
		switch {
		case inline && mediaType == "text/plain" && !haveText:
			m.Text, haveText = readText(part.Body), true
		case inline && mediaType == "text/html" && !haveHTML:
			html, haveHTML = readText(part.Body), true
		case inline && strings.HasPrefix(mediaType, "text/") && disp == "":
			// Another text part of an alternative: not an attachment.
			_, _ = io.Copy(io.Discard, part.Body)
		default:
			a := Attachment{Name: dparams["filename"], Type: mediaType}
			if a.Name == "" {
				a.Name = params["name"]
			}
			if dec, err := wordDecoder.DecodeHeader(a.Name); err == nil {
				a.Name = dec
			}
			a.Name = text(a.Name)
			data, _ := io.ReadAll(io.LimitReader(part.Body, int64(attachBudget)))
			rest, _ := io.Copy(io.Discard, part.Body)
			a.Size = int64(len(data)) + rest
			if len(m.Attachments) >= MaxAttachments {
				m.MoreAttachments++
				return nil
			}
			attachBudget -= len(data)
			a.Data, a.Truncated = data, rest > 0
			m.Attachments = append(m.Attachments, a)
		}
		return nil
	})
	if !haveText && haveHTML {
		m.Text, m.TextFromHTML = htmlToText(html), true
	}
	m.Text = strings.TrimSpace(m.Text)
}

var errStop = errors.New("stop walking")

// readText reads a text part, at most MaxText bytes of it. Its charset was
// converted to UTF-8 already unless it is unknown, in which case (as for
// 8-bit text that claims no charset) text decides.
func readText(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, MaxText))
	_, _ = io.Copy(io.Discard, r)
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return text(s)
}

// event builds the alert event of a read message.
func event(m *Message, prio int) (sitrep.AlertEvent, error) {
	ev := sitrep.AlertEvent{Action: sitrep.ActionTrigger, Summary: m.Subject, OccurredAt: m.Date, Labels: map[string]string{}}
	if strings.TrimSpace(ev.Summary) == "" {
		ev.Summary = firstLine(m.Text)
	}
	if ev.Summary == "" {
		return ev, sitrep.Invalid("subject", "the message has no subject and no text")
	}
	if m.From != "" {
		ev.Labels["from"] = m.From
	}
	if len(m.To) > 0 {
		ev.Labels["to"] = strings.Join(m.To, ", ")
	}
	tags, rest := subjectTags(m.Subject)
	for _, tag := range tags {
		switch strings.ToLower(tag) {
		case "resolved", "recovery", "recovered", "ok", "cleared":
			ev.Action = sitrep.ActionResolve
		default:
			if ev.Severity == 0 {
				ev.Severity = sitrep.SeverityFromText(tag)
			}
		}
	}
	if ev.Severity == 0 {
		ev.Severity = prio
	}
	if m.ThreadRoot != "" {
		ev.DedupKey = "email-thread-" + hash(m.ThreadRoot)
	} else {
		key := strings.ToLower(strings.Join(strings.Fields(rest), " "))
		if key == "" {
			key = strings.ToLower(strings.Join(strings.Fields(ev.Summary), " "))
		}
		ev.DedupKey = "email-" + hash(m.From+"\x00"+key)
	}
	return ev, nil
}

// subjectTags splits the tags and reply prefixes at the start of a subject
// from the rest: "Re: [CRITICAL][db] disk full" gives [CRITICAL db] and
// "disk full".
func subjectTags(subject string) (tags []string, rest string) {
	rest = strings.TrimSpace(subject)
	for {
		if m := replyPrefix.FindString(rest); m != "" {
			rest = strings.TrimSpace(rest[len(m):])
			continue
		}
		if strings.HasPrefix(rest, "[") {
			if end := strings.IndexByte(rest, ']'); end > 0 {
				tags = append(tags, strings.TrimSpace(rest[1:end]))
				rest = strings.TrimSpace(rest[end+1:])
				continue
			}
		}
		return tags, rest
	}
}

// replyPrefix matches the reply and forward prefixes of mail clients in
// several languages: Re, Fwd, Fw, AW, WG, SV, VS, Antw, TR, RV, with an
// optional count (Re[2]:).
var replyPrefix = regexp.MustCompile(`(?i)^(re|fwd?|aw|wg|sv|vs|antw|tr|rv)(\[\d+\])?\s*:`)

// headerSeverity reads the priority headers mail clients and SIEMs set:
// X-Priority ("1 (Highest)" … "5 (Lowest)"), Importance (high, low),
// Priority (urgent, non-urgent) and X-MSMail-Priority (High, Low). Normal
// priority, what every client sends by default, says nothing: 0.
func headerSeverity(h mail.Header) int {
	if v := strings.TrimSpace(h.Get("X-Priority")); v != "" {
		switch v[0] {
		case '1':
			return 1
		case '2':
			return 2
		case '4', '5':
			return 4
		}
	}
	for _, key := range []string{"Importance", "Priority", "X-MSMail-Priority"} {
		switch strings.ToLower(strings.TrimSpace(h.Get(key))) {
		case "urgent":
			return 1
		case "high":
			return 2
		case "low", "non-urgent":
			return 4
		}
	}
	return 0
}

// firstLine is the first line of s that is not blank.
func firstLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// text makes s readable and storable: UTF-8 as it is; 8-bit text that is not
// UTF-8 read as Latin-1 (the charset of most such senders); NUL bytes
// dropped.
func text(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(rune(s[0])) // Latin-1: the byte is the code point
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}
