// Package status is the public status page: what the organisation has said
// in public about its incidents, for anyone, with no sign-in, as a small
// HTML page and an Atom feed (RFC 4287).
//
// The page shows published communications to the public audiences
// (Config.Audiences: by default customers, external, press and public) of
// incidents that are neither confidential nor exercises, grouped by
// incident, the incident with the latest update first. Of an incident it
// shows only its ID, its severity and phase in words, the times of its
// first and last public update and the text of those updates: never its
// title, notes, people, assets, labels or alerts. What the Information
// Officer wrote for the public is the whole of what the page says.
//
// Statements to regulators are external but not public, and so are not
// shown unless Config.Audiences names them. An audience inside the
// organisation (sitrep.IsExternalAudience is false) is never shown, whatever
// the configuration says.
//
// The page is built at most once per Config.Refresh from the most recently
// declared incidents (Config.Scan), keeps at most Config.MaxIncidents
// incidents and Config.MaxUpdates updates of each, and is served with
// Cache-Control, an ETag and Last-Modified, answering 304 to a client that
// has it already: a crowd refreshing the page during an outage costs one
// read of the store per Refresh.
package status

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Defaults of Config.
const (
	DefaultTitle        = "Service status"
	DefaultScan         = 200
	DefaultMaxIncidents = 20
	DefaultMaxUpdates   = 10
	DefaultRefresh      = 10 * time.Second
)

// DefaultAudiences are the audiences whose communications are public.
var DefaultAudiences = []string{"customers", "external", "press", "public"}

// Incidents lists incidents, most recently declared first (a sitrep.Store).
type Incidents interface {
	Incidents(ctx context.Context, f sitrep.IncidentFilter) ([]*sitrep.Incident, error)
}

// Config is what the status page shows and how.
type Config struct {
	// Incidents is where incidents are read from.
	Incidents Incidents
	Logger    *slog.Logger
	// Clock tells the time of a page with no update at all; default the
	// system clock.
	Clock sitrep.Clock
	// Title heads the page and names the feed; default DefaultTitle.
	Title string
	// PublicURL is the base URL readers reach the server at, for the
	// feed's links and IDs; default: the scheme and host of the request.
	PublicURL string
	// Audiences are the audiences shown; default DefaultAudiences. Those
	// inside the organisation are left out.
	Audiences []string
	// Scan is how many of the most recently declared incidents are read;
	// default DefaultScan.
	Scan int
	// MaxIncidents and MaxUpdates bound the page: incidents shown, and
	// updates shown of each (the newest).
	MaxIncidents int
	MaxUpdates   int
	// Refresh is how long a built page is served before it is built
	// again, and the max-age clients and proxies may keep it; default
	// DefaultRefresh.
	Refresh time.Duration
}

// Page is what the status page shows.
type Page struct {
	Title     string
	Incidents []Incident
	// Updated is the time of the newest update shown (zero: none).
	Updated time.Time
}

// Incident is one incident as the public sees it.
type Incident struct {
	ID       string
	Severity string // in words: critical, high, moderate, low
	Phase    string // in words: investigating, containing, fixing, recovering, resolved
	Resolved bool
	First    time.Time // first public update
	Last     time.Time // latest public update
	// Updates are the newest public updates, newest first.
	Updates []Update
	// More counts the older updates left out.
	More int
}

// Update is one public statement.
type Update struct {
	Seq  int64
	At   time.Time
	Text string
}

// Handler serves GET /status and GET /status/feed.atom.
type Handler struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu    sync.Mutex
	page  *Page
	built time.Time
}

// New returns the status page's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Incidents == nil {
		return nil, fmt.Errorf("status page: no incidents to read")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = sitrep.SystemClock{}
	}
	cfg.Title = cmp.Or(strings.TrimSpace(cfg.Title), DefaultTitle)
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("status page: public URL %q: want http:// or https:// and a host", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	if cfg.Audiences == nil {
		cfg.Audiences = DefaultAudiences
	}
	cfg.Audiences = slices.DeleteFunc(slices.Clone(cfg.Audiences), func(a string) bool { return !sitrep.IsExternalAudience(a) })
	if cfg.Scan <= 0 {
		cfg.Scan = DefaultScan
	}
	if cfg.MaxIncidents <= 0 {
		cfg.MaxIncidents = DefaultMaxIncidents
	}
	if cfg.MaxUpdates <= 0 {
		cfg.MaxUpdates = DefaultMaxUpdates
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /status", h.html)
	h.mux.HandleFunc("GET /status/{$}", h.html)
	h.mux.HandleFunc("GET /status/feed.atom", h.atom)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Page returns the page as it is served now: built at most once per
// Config.Refresh.
func (h *Handler) Page(ctx context.Context) (*Page, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.page != nil && now.Sub(h.built) < h.cfg.Refresh {
		return h.page, nil
	}
	incs, err := h.cfg.Incidents.Incidents(ctx, sitrep.IncidentFilter{Limit: h.cfg.Scan})
	if err != nil {
		return nil, fmt.Errorf("status page: list incidents: %w", err)
	}
	h.page, h.built = Build(h.cfg.Title, incs, h.cfg.Audiences, h.cfg.MaxIncidents, h.cfg.MaxUpdates), now
	return h.page, nil
}

// Build makes the page of incs: the communications to audiences of the
// incidents neither confidential nor exercises, at most maxIncidents
// incidents with the latest updates and maxUpdates updates of each.
func Build(title string, incs []*sitrep.Incident, audiences []string, maxIncidents, maxUpdates int) *Page {
	p := &Page{Title: title, Incidents: []Incident{}}
	for _, inc := range incs {
		if inc.Confidential || inc.Exercise {
			continue
		}
		var ups []Update
		for _, c := range inc.Communications {
			if c.Exercise || !sitrep.IsExternalAudience(c.Audience) || !slices.Contains(audiences, c.Audience) {
				continue
			}
			ups = append(ups, Update{Seq: c.Seq, At: c.At.UTC(), Text: c.Text})
		}
		if len(ups) == 0 {
			continue
		}
		slices.SortFunc(ups, func(a, b Update) int { return cmp.Or(b.At.Compare(a.At), cmp.Compare(b.Seq, a.Seq)) })
		pi := Incident{
			ID: inc.ID, Severity: SeverityWord(inc.Severity), Phase: PhaseWord(inc.Phase),
			Resolved: inc.Phase == sitrep.PhasePostMortem || inc.Phase == sitrep.PhaseClosed,
			First:    ups[len(ups)-1].At, Last: ups[0].At,
		}
		if len(ups) > maxUpdates {
			pi.More, ups = len(ups)-maxUpdates, ups[:maxUpdates]
		}
		pi.Updates = ups
		p.Incidents = append(p.Incidents, pi)
	}
	slices.SortStableFunc(p.Incidents, func(a, b Incident) int { return cmp.Or(b.Last.Compare(a.Last), strings.Compare(b.ID, a.ID)) })
	if len(p.Incidents) > maxIncidents {
		p.Incidents = p.Incidents[:maxIncidents]
	}
	if len(p.Incidents) > 0 {
		p.Updated = p.Incidents[0].Last
	}
	return p
}

// SeverityWord names a severity for the public.
func SeverityWord(sev int) string {
	switch sev {
	case 1:
		return "critical"
	case 2:
		return "high"
	case 3:
		return "moderate"
	case 4:
		return "low"
	}
	return "unknown"
}

// PhaseWord says where an incident stands, in the words status pages use.
func PhaseWord(p sitrep.Phase) string {
	switch p {
	case sitrep.PhaseIdentification:
		return "investigating"
	case sitrep.PhaseContainment:
		return "containing"
	case sitrep.PhaseEradication:
		return "fixing"
	case sitrep.PhaseRecovery:
		return "recovering"
	case sitrep.PhasePostMortem, sitrep.PhaseClosed:
		return "resolved"
	}
	return "unknown"
}

// base returns the base URL of links: the configured one, or the request's.
func (h *Handler) base(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return h.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) html(w http.ResponseWriter, r *http.Request) {
	p, err := h.Page(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	var b bytes.Buffer
	if err := pageHTML.Execute(&b, map[string]any{"Page": p, "Feed": "/status/feed.atom"}); err != nil {
		h.fail(w, fmt.Errorf("status page: render: %w", err))
		return
	}
	h.serve(w, r, "text/html; charset=utf-8", p.Updated, b.Bytes())
}

func (h *Handler) atom(w http.ResponseWriter, r *http.Request) {
	p, err := h.Page(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	body, err := renderFeed(p, h.base(r), h.cfg.Clock)
	if err != nil {
		h.fail(w, fmt.Errorf("status page: feed: %w", err))
		return
	}
	h.serve(w, r, "application/atom+xml; charset=utf-8", p.Updated, body)
}

// serve writes body with its validators; http.ServeContent answers the
// conditional requests (If-None-Match, If-Modified-Since) with 304.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, contentType string, modified time.Time, body []byte) {
	sum := sha256.Sum256(body)
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	hd.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(h.cfg.Refresh/time.Second)))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	http.ServeContent(w, r, "", modified, bytes.NewReader(body))
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.log.Error("status page", "err", err)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "The status page cannot be shown just now; please try again in a moment.", http.StatusServiceUnavailable)
}
