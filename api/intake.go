package api

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/webhook"
)

// The HTTP intake: the endpoints alerting tools post to. No bearer token is
// needed there: each source's own key authenticates its alerts, and the
// endpoint must be the one of the source's kind. An answer in the 2xx range
// is sent only after the alerts are stored, so a sender that got one may
// forget them; every other answer means nothing was stored. 4xx answers are
// final (Alertmanager and PagerDuty clients never retry them), 5xx answers
// are worth retrying.

// Ingester is sitrep.Ingester: what stores alert events durably.
type Ingester = sitrep.Ingester

// Why intake requests are refused: the values of the reason label of
// sitrep_intake_refused_total. A fixed set, so that senders cannot mint
// label values.
const (
	refusedNoKey     = "no_key"     // the request carried no key
	refusedBadKey    = "bad_key"    // the key is no source's
	refusedWrongKind = "wrong_kind" // the key's source is of another kind
	refusedAddress   = "address"    // the sender's address is not allowed
	refusedTooLarge  = "too_large"  // the body is over the limit
	refusedMedia     = "media_type" // the body is not JSON
	refusedInvalid   = "invalid"    // the body is not a valid alert
	refusedUnstored  = "not_stored" // the store could not take the alerts
	refusedDisabled  = "intake_off" // the server runs without an ingester
)

// intakeMetrics counts what the intake takes in and refuses.
type intakeMetrics struct {
	refused  *prometheus.CounterVec
	accepted *prometheus.CounterVec
	// acceptedBy holds the accepted series of the HTTP intake's kinds,
	// found once; read only after newIntakeMetrics.
	acceptedBy map[string]prometheus.Counter
}

// countAccepted counts n events stored from a source of kind.
func (m *intakeMetrics) countAccepted(kind string, n int) {
	c, ok := m.acceptedBy[kind]
	if !ok {
		c = m.accepted.WithLabelValues(kind)
	}
	c.Add(float64(n))
}

func newIntakeMetrics(reg prometheus.Registerer) *intakeMetrics {
	if reg == nil {
		return nil
	}
	m := &intakeMetrics{
		refused: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_intake_refused_total",
			Help: "Intake requests refused, by reason: no_key, bad_key, wrong_kind, address, too_large, media_type, invalid, not_stored, intake_off.",
		}, []string{"reason"})),
		accepted: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_intake_events_total",
			Help: "Alert events stored from the HTTP intake, by source kind.",
		}, []string{"kind"})),
	}
	// Every reason is exported from the start, at zero, so that a rate
	// over it works before the first refusal.
	for _, r := range []string{refusedNoKey, refusedBadKey, refusedWrongKind, refusedAddress, refusedTooLarge, refusedMedia, refusedInvalid, refusedUnstored, refusedDisabled} {
		m.refused.WithLabelValues(r)
	}
	m.acceptedBy = map[string]prometheus.Counter{}
	for _, kind := range []string{"generic", "alertmanager", "grafana", "pagerduty"} {
		m.acceptedBy[kind] = m.accepted.WithLabelValues(kind)
	}
	return m
}

// intakeError is a refusal of an intake request: the error to answer and
// the reason to count.
type intakeError struct {
	reason string
	err    error
}

func (e *intakeError) Error() string { return e.err.Error() }
func (e *intakeError) Unwrap() error { return e.err }

func refuse(reason string, err error) error { return &intakeError{reason: reason, err: err} }

// reasonOf returns why err refused an intake request.
func reasonOf(err error) string {
	if ie, ok := errors.AsType[*intakeError](err); ok {
		return ie.reason
	}
	return refusedInvalid
}

// intakeFailed counts a refused request and answers it as a problem. The
// request's path is never logged: it holds the source's key.
func (a *API) intakeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if a.intakeMetrics != nil {
		a.intakeMetrics.refused.WithLabelValues(reasonOf(err)).Inc()
	}
	p := problemOf(err)
	if p.Status >= 500 {
		a.log.Error("intake request failed", "route", infoOf(w).route, "err", err)
	}
	writeProblem(w, p)
}

// intakeSource returns the source whose key the request carries, checked
// against the endpoint's kind and the sender's address.
func (a *API) intakeSource(r *http.Request, key, kind string) (*sitrep.Source, error) {
	if a.ingester == nil {
		return nil, refuse(refusedDisabled, sitrep.Errorf(sitrep.ENotFound, "alert intake over HTTP is not enabled on this server"))
	}
	if key == "" {
		return nil, refuse(refusedNoKey, sitrep.Errorf(sitrep.EUnauthorized, "a source key is required: POST to the URL `sitrep source add` printed"))
	}
	src, err := a.sources.get(key, func() (*sitrep.Source, error) { return a.svc.SourceByKey(r.Context(), key) })
	if err != nil {
		if sitrep.ErrorKind(err) == sitrep.EUnauthorized {
			return nil, refuse(refusedBadKey, sitrep.Errorf(sitrep.EUnauthorized, "the source key is not valid: it belongs to no alert source on this server"))
		}
		return nil, refuse(refusedUnstored, err)
	}
	if src.Kind != kind {
		return nil, refuse(refusedWrongKind, sitrep.Errorf(sitrep.EForbidden, "the key is of source %s, of kind %s: it sends to %s, not to the %s endpoint", src.Name, src.Kind, kindEndpoint(src.Kind), kind))
	}
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	if (err != nil && len(src.Allow) > 0) || (err == nil && !src.Allows(addr.Addr())) {
		return nil, refuse(refusedAddress, sitrep.Errorf(sitrep.EForbidden, "source %s does not allow alerts from this address", src.Name))
	}
	return src, nil
}

// sourceTTL is how long the intake keeps a source it looked up by its key.
// A request then costs no store query in the common case (it was a seventh
// of the CPU of a one-alert request), and a source removed, or its key
// changed, is refused by every replica within this time (at once by the
// one that removed it).
const sourceTTL = 2 * time.Second

// maxCachedSources bounds the cache; it starts afresh when full.
const maxCachedSources = 1024

// sourceCache keeps the sources found by key for sourceTTL. Only keys that
// name a source are kept, so that senders of wrong keys cannot fill it.
// The zero value is ready to use.
type sourceCache struct {
	mu sync.Mutex
	m  map[string]cachedSource
}

type cachedSource struct {
	src   *sitrep.Source
	until time.Time
}

// get returns the source of key, from the cache or from lookup.
func (c *sourceCache) get(key string, lookup func() (*sitrep.Source, error)) (*sitrep.Source, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.src, nil
	}
	src, err := lookup()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSources {
		c.m = make(map[string]cachedSource)
	}
	c.m[key] = cachedSource{src: src, until: now.Add(sourceTTL)}
	c.mu.Unlock()
	return src, nil
}

// forget empties the cache: a source removed through this server is
// refused at once here (other replicas refuse it within sourceTTL).
func (c *sourceCache) forget() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// kindEndpoint names where a source of kind sends, for refusals.
func kindEndpoint(kind string) string {
	switch kind {
	case "generic", "alertmanager", "grafana":
		return "/intake/" + kind + "/KEY"
	case "pagerduty":
		return "/v2/enqueue"
	}
	return "the server's " + kind + " listener"
}

// readIntakeBody reads the request body within the limit. JSON is what the
// intake takes; a body labelled otherwise is accepted when it is JSON all
// the same (Kibana's webhook sends JSON as form data).
func (a *API) readIntakeBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > a.maxBody {
		return nil, refuse(refusedTooLarge, tooLarge(a.maxBody))
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The length is known and within the limit, and net/http reads no
		// more than it: one buffer of the right size, read at once.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, refuse(refusedTooLarge, tooLarge(a.maxBody))
		}
		return nil, refuse(refusedInvalid, sitrep.Invalid("body", "body: could not be read: the request ended early"))
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" || checkJSONContentType(ct) == nil || webhook.LooksLikeJSON(body) {
		// Without a type, the parser says what is wrong with the body.
		return body, nil
	}
	return nil, refuse(refusedMedia, checkJSONContentType(ct))
}

// intakeAccepted answers POST /intake/…: how many events were taken in and
// the alerts they opened or counted on, each once, in the order of the
// events. Acknowledgements and resolves with no open alert are taken in
// but touch no alert.
type intakeAccepted struct {
	Accepted int     `json:"accepted"`
	Alerts   []int64 `json:"alerts"`
}

// ingest stores the events of src and returns the answer's body.
func (a *API) ingest(r *http.Request, src *sitrep.Source, events []sitrep.AlertEvent) (*intakeAccepted, error) {
	results, err := a.ingester.Ingest(r.Context(), src.Name, events)
	if err != nil {
		if sitrep.ErrorKind(err) == sitrep.EInvalid {
			return nil, refuse(refusedInvalid, err)
		}
		a.log.Error("store alerts", "source", src.Name, "events", len(events), "err", err)
		return nil, refuse(refusedUnstored, sitrep.Errorf(kindUnavailable, "the alerts could not be stored now: send them again"))
	}
	if a.intakeMetrics != nil {
		a.intakeMetrics.countAccepted(src.Kind, len(events))
	}
	out := &intakeAccepted{Accepted: len(events), Alerts: make([]int64, 0, len(results))}
	var seen map[int64]bool // for long answers; short ones are searched
	for _, res := range results {
		if res.Ignored || res.AlertID == 0 {
			continue
		}
		if len(results) <= 16 {
			if slices.Contains(out.Alerts, res.AlertID) {
				continue
			}
		} else {
			if seen == nil {
				seen = make(map[int64]bool, len(results))
			}
			if seen[res.AlertID] {
				continue
			}
			seen[res.AlertID] = true
		}
		out.Alerts = append(out.Alerts, res.AlertID)
	}
	return out, nil
}

// write answers with the body: the JSON encoding/json would write, built
// without its reflection.
func (out *intakeAccepted) write(w http.ResponseWriter, status int) {
	b := make([]byte, 0, 32+len(out.Alerts)*8)
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(out.Accepted), 10)
	b = append(b, `,"alerts":[`...)
	for i, id := range out.Alerts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	b = append(b, "]}\n"...)
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// webhookIntake answers the JSON webhooks of one kind: the key is in the
// path, or (for /intake/generic) in an Authorization: Bearer header or the
// key query parameter, for senders that cannot put it in the URL's path.
func webhookIntake(kind string, parse func([]byte) ([]sitrep.AlertEvent, error), status int) handlerFunc {
	return func(a *API, w http.ResponseWriter, r *http.Request) error {
		src, err := a.intakeSource(r, intakeKey(r), kind)
		if err != nil {
			a.intakeFailed(w, r, err)
			return nil
		}
		body, err := a.readIntakeBody(w, r)
		if err != nil {
			a.intakeFailed(w, r, err)
			return nil
		}
		events, err := parse(body)
		if err != nil {
			a.intakeFailed(w, r, refuse(refusedInvalid, err))
			return nil
		}
		out, err := a.ingest(r, src, events)
		if err != nil {
			a.intakeFailed(w, r, err)
			return nil
		}
		out.write(w, status)
		return nil
	}
}

// intakeKey returns the source key of a webhook request.
func intakeKey(r *http.Request) string {
	if k := r.PathValue("key"); k != "" {
		return k
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return r.URL.Query().Get("key")
}

// pagerDutyIntake answers the PagerDuty Events API v2 the way PagerDuty
// does, so that its clients need no change but the URL: the routing key is
// the source's key, the answers are PagerDuty's JSON, 202 when stored.
// A routing key that is no source's is refused with 401 (403 for a source
// of another kind or address), which PagerDuty clients treat as final like
// PagerDuty's own 400.
func pagerDutyIntake(parse func([]byte) (webhook.PagerDutyEvent, error), change bool) handlerFunc {
	return func(a *API, w http.ResponseWriter, r *http.Request) error {
		fail := func(reason string, status int, err error) error {
			if a.intakeMetrics != nil {
				a.intakeMetrics.refused.WithLabelValues(reason).Inc()
			}
			if status >= 500 {
				a.log.Error("intake request failed", "route", infoOf(w).route, "err", err)
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sitrep"`)
			}
			return writeJSON(w, status, webhook.PagerDutyRejected(err))
		}
		if a.ingester == nil {
			return fail(refusedDisabled, http.StatusNotFound, sitrep.Errorf(sitrep.ENotFound, "alert intake over HTTP is not enabled on this server"))
		}
		body, err := a.readIntakeBody(w, r)
		if err != nil {
			return fail(reasonOf(err), problemOf(err).Status, err)
		}
		ev, err := parse(body)
		if err != nil {
			return fail(refusedInvalid, http.StatusBadRequest, err)
		}
		src, err := a.intakeSource(r, ev.RoutingKey, "pagerduty")
		if err != nil {
			reason, status := reasonOf(err), problemOf(err).Status
			if reason == refusedBadKey {
				err = sitrep.Errorf(sitrep.EUnauthorized, "Invalid routing key: it belongs to no alert source on this server")
			}
			return fail(reason, status, err)
		}
		if _, err := a.ingest(r, src, []sitrep.AlertEvent{ev.Event}); err != nil {
			return fail(reasonOf(err), problemOf(err).Status, err)
		}
		if change {
			return writeJSON(w, http.StatusAccepted, webhook.PagerDutyChangeAccepted())
		}
		return writeJSON(w, http.StatusAccepted, webhook.PagerDutyAccepted(ev.Event.DedupKey))
	}
}
