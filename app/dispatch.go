package app

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sitrep-ir/sitrep/dispatch"
)

// startDispatch puts the dispatcher in front of the ingester: every way in
// (the HTTP intake, the syslog and SMTP listeners) stores alerts through
// a.intake, and the alerts they open are dispatched by the rules of
// PLANS/dispatch.yaml. The file is reloaded when it changes and on SIGHUP,
// whose one handler here reloads the plans too (see Reload).
func (a *App) startDispatch() error {
	file := ""
	if a.cfg.Plans != "" {
		file = filepath.Join(a.cfg.Plans, dispatch.FileName)
	}
	d, err := dispatch.New(a.ingester, a.svc, dispatch.Options{
		RulesFile: file,
		Logger:    a.log,
		Registry:  a.registry,
	})
	if err != nil {
		return err
	}
	a.dispatcher, a.intake = d, d
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	a.stopHUP = make(chan struct{})
	a.hupDone = make(chan struct{})
	go func() {
		defer close(a.hupDone)
		for {
			select {
			case <-hup:
				a.log.Info("SIGHUP: reloading the dispatch rules and the plans", "dir", a.cfg.Plans)
				_ = a.Reload(context.Background()) // problems are logged; the plans and rules in use stay
			case <-a.stopHUP:
				signal.Stop(hup)
				return
			}
		}
	}()
	return nil
}

// stopDispatch stops the dispatcher after the alert it is dispatching.
// Alerts still queued stay pending on the triage desk, and the next start
// takes them up.
func (a *App) stopDispatch() error {
	if a.dispatcher == nil {
		return nil
	}
	close(a.stopHUP)
	<-a.hupDone
	return a.dispatcher.Close()
}

// Dispatcher returns the dispatcher of the intake, for in-process tests.
func (a *App) Dispatcher() *dispatch.Dispatcher { return a.dispatcher }
