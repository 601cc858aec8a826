package dispatch

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// fileStamp is what the watcher compares between looks at the file; the
// hash of its text decides whether a changed stamp changed the rules.
type fileStamp struct {
	exists bool
	mod    time.Time
	size   int64
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{exists: true, mod: st.ModTime(), size: st.Size()}, nil
}

// watch looks at the rules file every interval and reloads it when its
// modification time or size changed.
func (d *Dispatcher) watch() {
	defer d.wg.Done()
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			_ = d.reload(false)
		}
	}
}

// Reload reads the rules file now (on SIGHUP, say), whether or not it
// looks changed. On success the new rules apply to the next alert; when
// the file has problems they are logged and returned (as Problems), and
// the rules in use stay.
func (d *Dispatcher) Reload() error { return d.reload(true) }

// reload loads the file if forced or its stamp changed. A file whose text
// is that of the rules in use changes nothing; a broken file is logged once
// per change of its text (and at every forced reload).
func (d *Dispatcher) reload(force bool) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.file == "" {
		return nil
	}
	stamp, err := stampOf(d.file)
	if err == nil && !force && stamp == d.stamp {
		return nil
	}
	d.stamp = stamp
	var rs *Rules
	if err == nil {
		rs, err = Load(d.file)
	} else {
		err = Problems{{File: d.file, Message: err.Error()}}
	}
	cur := d.rules.Load()
	if err != nil {
		ps := AsProblems(err)
		key := ps.Error()
		if !force && key == d.lastBad {
			return err
		}
		d.lastBad = key
		d.m.reloadErr.Inc()
		for _, p := range ps {
			d.log.Error("dispatch rules: " + p.String())
		}
		d.log.Error("the dispatch rules file has problems; the rules in use stay until it is fixed",
			"file", d.file, "problems", len(ps), "rules_in_use", cur.Len())
		return err
	}
	d.lastBad = ""
	if d.loadedOnce && rs.Hash == cur.Hash && rs.File == cur.File {
		return nil
	}
	d.loadedOnce = true
	d.rules.Store(rs)
	d.m.rules.Set(float64(rs.Len()))
	d.m.reloads.Inc()
	if rs.Hash == "" {
		d.log.Info("no dispatch rules file: every new alert waits on the triage desk", "file", d.file)
	} else {
		d.log.Info("dispatch rules loaded", "file", d.file, "rules", rs.Len(), "sha256", rs.Hash[:12])
	}
	return nil
}
