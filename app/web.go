package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/web"
)

// apiPrefixes are the paths the API answers; the web UI has the rest.
var apiPrefixes = []string{"/api/", "/intake/", "/v2/", "/ack/", "/healthz", "/readyz", "/metrics"}

// sessionSweep is how often ended web sessions are removed from the store.
const sessionSweep = time.Hour

// livePoll is how often the live hub looks for other replicas' changes
// (0: web.PollInterval). Tests lengthen it to show that notifications
// alone deliver them.
var livePoll time.Duration

// webParts are the web UI's running pieces.
type webParts struct {
	hub  *web.Hub
	stop context.CancelFunc
	done chan struct{}
}

// mountWeb builds the web UI beside the API and returns the handler of
// both. Every append reaches the UI's live hub after the metrics that
// Service.Appended already feeds; when the store announces every replica's
// appends (PostgreSQL), the hub follows those too.
func (a *App) mountWeb(apiHandler http.Handler) (http.Handler, error) {
	hub := web.NewHub(a.store, a.log.With("component", "web.live"), livePoll)
	ui, err := web.New(web.Config{Service: a.svc, Hub: hub, Logger: a.log.With("component", "web"), PublicURL: a.cfg.PublicURL, Registry: a.registry})
	if err != nil {
		return nil, fmt.Errorf("web UI: %w", err)
	}
	prev := a.svc.Appended
	a.svc.Appended = func(es []sitrep.Entry) {
		if prev != nil {
			prev(es)
		}
		hub.Publish(es)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.web = &webParts{hub: hub, stop: cancel, done: make(chan struct{})}
	notifier, _ := a.store.(web.TimelineNotifier)
	go func() {
		defer close(a.web.done)
		go hub.Run(ctx)
		if notifier != nil {
			// Stopping waits for the listener to close its connection.
			listened := make(chan struct{})
			go func() {
				defer close(listened)
				hub.Listen(ctx, notifier)
			}()
			defer func() { <-listened }()
		}
		t := time.NewTicker(sessionSweep)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := a.svc.ExpireSessions(ctx); err != nil {
					a.log.Warn("remove ended web sessions", "err", err)
				} else if n > 0 {
					a.log.Debug("removed ended web sessions", "count", n)
				}
			}
		}
	}()

	mux := http.NewServeMux()
	for _, p := range apiPrefixes {
		mux.Handle(p, apiHandler)
	}
	statusPage, err := a.statusPage()
	if err != nil {
		return nil, err
	}
	mux.Handle("/status", statusPage)
	mux.Handle("/status/", statusPage)
	mux.Handle("/", ui)
	return mux, nil
}

// stopWeb ends the live event streams, which would otherwise keep the
// server's graceful shutdown waiting, and the UI's background work.
func (a *App) stopWeb() {
	if a.web == nil {
		return
	}
	a.web.hub.Close()
	a.web.stop()
	<-a.web.done
}
