package app

import (
	"net/http"

	"github.com/sitrep-ir/sitrep/status"
)

// statusPage is the public status page's handler: /status and
// /status/feed.atom, served with no sign-in.
func (a *App) statusPage() (http.Handler, error) {
	return status.New(status.Config{
		Incidents: a.store,
		Logger:    a.log.With("component", "status"),
		Clock:     a.svc.Clock,
		PublicURL: a.cfg.PublicURL,
	})
}
