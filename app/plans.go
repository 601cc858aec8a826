package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep/plan"
)

// plansWatch keeps the service's pre-incident plans current: the library of
// the plans directory, reloaded when its files change, until stop.
type plansWatch struct {
	lib    *plan.Library
	cancel context.CancelFunc
	done   chan struct{}
}

// openPlans loads the plans of Config.Plans, gives them to the service and
// watches the directory; Reload, on SIGHUP, reloads them at once. Broken plans do not stop the server: each problem
// is logged with its file and line, and incidents run with the last good
// plans (none at a start with broken plans) until the files are fixed. An
// empty Config.Plans means no plans.
func (a *App) openPlans() {
	if a.cfg.Plans == "" {
		return
	}
	log := a.log.With("component", "plans")
	lib, err := plan.NewLibrary(a.cfg.Plans, a.log)
	if err != nil {
		log.Error("plans not loaded: incidents run without plans until the files are fixed", "dir", a.cfg.Plans, "problems", len(plan.AsProblems(err)))
	}
	a.svc.Plans = lib
	a.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sitrep_plan_reload_errors_total",
			Help: "Loads of the plans directory refused because a plan had problems; the last good plans stayed in use.",
		}, func() float64 { return float64(lib.ReloadErrors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sitrep_plans",
			Help: "Pre-incident plans in use.",
		}, func() float64 { return float64(lib.Current().Len()) }),
	)
	ctx, cancel := context.WithCancel(context.Background())
	w := &plansWatch{lib: lib, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		lib.Run(ctx)
	}()
	// The SIGHUP handler (see startDispatch) runs already: it reads the
	// watch under a.mu.
	a.mu.Lock()
	a.plans = w
	a.mu.Unlock()
}

// Reload reads the plans directory now, whether or not its files look
// changed: the plans and the dispatch rules. SIGHUP runs it. What does not
// load is logged, problem by problem, and returned; the plans and rules in
// use stay until the files are fixed.
func (a *App) Reload(ctx context.Context) error {
	a.mu.Lock()
	w := a.plans
	a.mu.Unlock()
	var errs []error
	if w != nil {
		errs = append(errs, w.lib.Reload(ctx))
	}
	if a.dispatcher != nil {
		if err := a.dispatcher.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("reload dispatch rules: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Plans returns the library of pre-incident plans in use, nil when the
// server runs without a plans directory.
func (a *App) Plans() *plan.Library {
	if a.plans == nil {
		return nil
	}
	return a.plans.lib
}

// stop ends the watch of the plans directory.
func (w *plansWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}
