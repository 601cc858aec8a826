package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// page is what every full page's layout needs.
type page struct {
	Title string
	Me    *sitrep.User
	Nav   string // the section of the site, for the navigation
	Data  any
}

// parseTemplates parses the layout with each page. Every page template
// defines "content"; fragments are templates of the pages they belong to.
func parseTemplates(st *staticFiles) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":     st.asset,
		"age":       age,
		"when":      when,
		"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"roleTitle": roleTitle,
		"join":      strings.Join,
		"thousands": thousands,
		"sevWord":   sevWord,
		"external":  sitrep.IsExternalAudience,
		"deref":     func(t *time.Time) time.Time { return *t },
		"shift":     shift,
	}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		if pages[name], err = t.ParseFS(templateFS, n); err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
	}
	return pages, nil
}

// render writes the page named name with data inside the layout.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, u *sitrep.User, title string, data any) {
	p := page{Title: title, Me: u, Nav: name, Data: data}
	s.execute(w, r, code, s.pages[name], "layout", p)
}

// fragment writes the template named frag of page name alone.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, name, frag string, data any) {
	s.execute(w, r, http.StatusOK, s.pages[name], frag, data)
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request, code int, t *template.Template, name string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render page", "path", r.URL.Path, "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, r, code, buf.Bytes())
}

// errorPage shows message with the status code.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, u *sitrep.User, code int, message string) {
	s.render(w, r, code, "error", u, http.StatusText(code), struct {
		Code    int
		Status  string
		Message string
	}{code, http.StatusText(code), message})
}

// boardData is the incident board.
type boardData struct {
	Rows    []boardRow
	Version string // see boardVersion
	Pending int    // alerts waiting on the triage desk
	Writer  bool
}

func (s *Server) boardData(r *http.Request, u *sitrep.User) (*boardData, error) {
	incs, err := s.svc.Incidents(r.Context(), u, sitrep.IncidentFilter{Open: true})
	if err != nil {
		return nil, err
	}
	d := &boardData{Rows: boardRowsOf(incs, s.svc.Clock.Now()), Version: boardVersion(incs), Writer: u.Role != sitrep.OrgViewer}
	alerts, err := s.svc.Alerts(r.Context(), u, sitrep.AlertFilter{Triage: sitrep.TriagePending, Open: true})
	if err == nil {
		d.Pending = len(alerts)
	} else if sitrep.ErrorKind(err) != sitrep.EInternal {
		return nil, err
	}
	return d, nil
}

func (s *Server) board(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	d, err := s.boardData(r, u)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "board", u, "Incident board", d)
	return nil
}

func (s *Server) boardRows(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	d, err := s.boardData(r, u)
	if err != nil {
		return err
	}
	s.fragment(w, r, "board", "board-rows", d)
	return nil
}

// incidentView loads incident id for u, with the latest entries.
func (s *Server) incidentView(r *http.Request, u *sitrep.User, id string) (*incidentView, error) {
	inc, err := s.svc.Incident(r.Context(), u, id)
	if err != nil {
		return nil, err
	}
	v := incidentViewOf(inc, u, s.svc.Clock.Now())
	after := max(inc.Seq-timelineShown, 0)
	entries, err := s.svc.Timeline(r.Context(), u, id, after, timelineShown)
	if err != nil {
		return nil, err
	}
	v.Entries, v.Earlier = sitrep.ViewEntries(entries), after
	return v, nil
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	v, err := s.incidentView(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "incident", u, v.Inc.ID+" "+v.Inc.Title, v)
	return nil
}

// incidentState is the page's live part: everything but the timeline.
func (s *Server) incidentState(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	inc, err := s.svc.Incident(r.Context(), u, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.fragment(w, r, "incident", "incident-state", incidentViewOf(inc, u, s.svc.Clock.Now()))
	return nil
}

// incidentTimeline is the entries after ?after=N, for the page to append.
func (s *Server) incidentTimeline(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		return sitrep.Invalid("after", "after must be a timeline sequence number")
	}
	entries, err := s.svc.Timeline(r.Context(), u, r.PathValue("id"), after, timelineShown)
	if err != nil {
		return err
	}
	s.fragment(w, r, "incident", "timeline-entries", sitrep.ViewEntries(entries))
	return nil
}

// declareData is the declare form, with what was typed when it is shown
// again after a refusal.
type declareData struct {
	In         sitrep.DeclareInput
	Severities []int
	Error      string
}

func (s *Server) declarePage(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	s.render(w, r, http.StatusOK, "declare", u, "Declare an incident", declareData{In: sitrep.DeclareInput{Severity: sitrep.DefaultSeverity}, Severities: []int{1, 2, 3, 4}})
	return nil
}

func (s *Server) declare(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	f, err := readForm(w, r)
	if err != nil {
		return err
	}
	in, err := declareInput(f)
	if err == nil {
		var inc *sitrep.Incident
		if inc, _, err = s.svc.Declare(r.Context(), u, in); err == nil {
			http.Redirect(w, r, "/incidents/"+inc.ID, http.StatusSeeOther)
			return nil
		}
	}
	if status(err) >= 500 {
		return err
	}
	s.render(w, r, status(err), "declare", u, "Declare an incident", declareData{In: in, Severities: []int{1, 2, 3, 4}, Error: sitrep.ErrorMessage(err)})
	return nil
}

// triageData is the triage desk.
type triageData struct {
	Alerts    []*sitrep.Alert
	Incidents []*sitrep.Incident // open ones, to attach to
	Writer    bool
	Error     string
}

func (s *Server) triageData(r *http.Request, u *sitrep.User) (*triageData, error) {
	alerts, err := s.svc.Alerts(r.Context(), u, sitrep.AlertFilter{Triage: sitrep.TriagePending})
	if err != nil {
		return nil, err
	}
	incs, err := s.svc.Incidents(r.Context(), u, sitrep.IncidentFilter{Open: true})
	if err != nil {
		return nil, err
	}
	return &triageData{Alerts: alerts, Incidents: incs, Writer: u.Role != sitrep.OrgViewer}, nil
}

func (s *Server) triagePage(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	d, err := s.triageData(r, u)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "triage", u, "Triage desk", d)
	return nil
}

func (s *Server) triageAction(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	f, err := readForm(w, r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("alert"), 10, 64)
	if err != nil || id < 1 {
		return sitrep.Errorf(sitrep.ENotFound, "alert %q not found", clip(r.PathValue("alert"), 20))
	}
	var inc *sitrep.Incident
	switch r.PathValue("action") {
	case "declare":
		var in sitrep.DeclareInput
		if in, err = declareInput(f); err == nil {
			inc, _, err = s.svc.DeclareFromAlert(r.Context(), u, id, in)
		}
	case "attach":
		inc, _, err = s.svc.AttachAlertTo(r.Context(), u, id, f.Get("incident"))
	case "suppress":
		err = s.svc.SuppressAlert(r.Context(), u, id)
	default:
		return sitrep.Errorf(sitrep.ENotFound, "the triage desk has no action %q", clip(r.PathValue("action"), 20))
	}
	if err == nil {
		to := "/triage"
		if inc != nil {
			to = "/incidents/" + inc.ID
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	if status(err) >= 500 {
		return err
	}
	d, derr := s.triageData(r, u)
	if derr != nil {
		return derr
	}
	d.Error = sitrep.ErrorMessage(err)
	s.render(w, r, status(err), "triage", u, "Triage desk", d)
	return nil
}

// incidentAction runs the command a form of the incident page posts. On
// success it returns to the page; a refusal shows the page again with the
// refusal's own words.
func (s *Server) incidentAction(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	f, err := readForm(w, r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	cmd, err := command(r.PathValue("action"), r.PathValue("task"), r.PathValue("draft"), f)
	if err == nil {
		_, _, err = s.svc.Do(r.Context(), u, id, cmd)
	}
	if err == nil {
		http.Redirect(w, r, "/incidents/"+id, http.StatusSeeOther)
		return nil
	}
	if code := status(err); code >= 500 || code == http.StatusNotFound && sitrep.AsError(err).Field == "id" {
		return err
	}
	v, verr := s.incidentView(r, u, id)
	if verr != nil {
		return verr
	}
	v.Error = sitrep.ErrorMessage(err)
	if e := sitrep.AsError(err); e != nil {
		v.ErrorRule = e.Rule
	}
	s.render(w, r, status(err), "incident", u, v.Inc.ID+" "+v.Inc.Title, v)
	return nil
}

// age says how long ago d was, in the two largest units.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// when formats a time for people: UTC, to the minute.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// thousands writes n with thin separators: 1 234 567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteRune('\u202f')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sevWord names a severity.
func sevWord(sev int) string {
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

// reportView is the reports page: the Incident Report and the Response
// Report as they stand, and the form to write them for those who may.
type reportView struct {
	Inc     *sitrep.Incident
	Rep     *sitrep.Report
	CanEdit bool
	// Form is what the form shows: the report as saved, or what was typed
	// when a save was refused. It always has a few empty follow-up rows.
	Form      reportForm
	Saved     bool
	Error     string
	ErrorRule string
}

type reportForm struct {
	Narrative, WhatWorked, NeedsImprovement string
	FollowUps                               []sitrep.FollowUp
}

// spareFollowUps is how many empty follow-up rows the form offers.
const spareFollowUps = 3

func (s *Server) reportView(r *http.Request, u *sitrep.User, id string) (*reportView, error) {
	inc, err := s.svc.Incident(r.Context(), u, id)
	if err != nil {
		return nil, err
	}
	rep, err := s.svc.Report(r.Context(), u, id)
	if err != nil {
		return nil, err
	}
	v := &reportView{Inc: inc, Rep: rep, CanEdit: inc.Can(u, sitrep.EditReport{}.Action())}
	v.Form = reportForm{Narrative: inc.Report.Narrative, WhatWorked: inc.Report.WhatWorked,
		NeedsImprovement: inc.Report.NeedsImprovement, FollowUps: inc.Report.FollowUps}
	return v, nil
}

func (v *reportView) render(s *Server, w http.ResponseWriter, r *http.Request, u *sitrep.User, code int) {
	v.Form.FollowUps = append(slices.Clone(v.Form.FollowUps), make([]sitrep.FollowUp, spareFollowUps)...)
	s.render(w, r, code, "report", u, "Reports of "+v.Inc.ID, v)
}

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	v, err := s.reportView(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Saved = r.URL.Query().Get("saved") != ""
	v.render(s, w, r, u, http.StatusOK)
	return nil
}

// editReport saves the report form through EditReport; a refusal shows the
// form again with what was typed.
func (s *Server) editReport(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	f, err := readForm(w, r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	cmd, err := reportEdit(f)
	if err == nil {
		_, _, err = s.svc.Do(r.Context(), u, id, cmd)
	}
	if err == nil {
		http.Redirect(w, r, "/incidents/"+id+"/report?saved=1", http.StatusSeeOther)
		return nil
	}
	if code := status(err); code >= 500 || code == http.StatusNotFound && sitrep.AsError(err).Field == "id" {
		return err
	}
	v, verr := s.reportView(r, u, id)
	if verr != nil {
		return verr
	}
	if !cmd.AcceptDraft && cmd.Narrative != nil {
		v.Form = reportForm{Narrative: *cmd.Narrative, WhatWorked: *cmd.WhatWorked, NeedsImprovement: *cmd.NeedsImprovement, FollowUps: *cmd.FollowUps}
	}
	v.Error = sitrep.ErrorMessage(err)
	if e := sitrep.AsError(err); e != nil {
		v.ErrorRule = e.Rule
	}
	v.render(s, w, r, u, status(err))
	return nil
}

// shift says how long someone was on shift, from seconds.
func shift(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	if d < time.Minute {
		return fmt.Sprintf("%ds", seconds)
	}
	return age(d)
}
