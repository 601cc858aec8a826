package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/email"
	"github.com/sitrep-ir/sitrep/intake/syslog"
)

// listeners are the intake listeners that are not HTTP, each opt-in:
// syslog over UDP and TCP, and SMTP. They store as the HTTP intake does,
// through the dispatcher in front of the ingester (a.intake), and are
// closed before it.
type listeners struct {
	syslog *syslog.Server
	smtp   *email.Server
}

// startListeners opens the listeners the configuration names. On an error
// (an address that cannot be listened on, named in the error) it closes
// the ones it opened.
func (a *App) startListeners() (err error) {
	cfg := a.cfg
	defer func() {
		if err != nil {
			_ = a.stopListeners(context.Background())
		}
	}()
	if cfg.SyslogUDP != "" || cfg.SyslogTCP != "" {
		alerts, ok := a.store.(sitrep.AlertStore)
		if !ok {
			return errors.New("syslog: the store keeps no alerts")
		}
		srv, err := syslog.NewServer(context.Background(), syslog.Config{
			Ingester: a.intake,
			Sources:  alerts.Sources,
			Logger:   a.log,
			Registry: a.registry,
		})
		if err != nil {
			return err
		}
		a.listeners.syslog = srv
		if cfg.SyslogUDP != "" {
			if err := srv.ListenUDP(cfg.SyslogUDP); err != nil {
				return err
			}
			a.log.Info("syslog udp listening", "addr", a.SyslogUDPAddr())
		}
		if cfg.SyslogTCP != "" {
			if err := srv.ListenTCP(cfg.SyslogTCP); err != nil {
				return err
			}
			a.log.Info("syslog tcp listening", "addr", a.SyslogTCPAddr())
		}
	}
	if cfg.SMTP != "" {
		srv, err := email.NewServer(email.ServerConfig{
			Ingester:    a.intake,
			SourceByKey: a.svc.SourceByKey,
			Logger:      a.log,
			Registry:    a.registry,
		})
		if err != nil {
			return err
		}
		a.listeners.smtp = srv
		if err := srv.Listen(cfg.SMTP); err != nil {
			return err
		}
		a.log.Info("smtp listening", "addr", a.SMTPAddr())
	}
	return nil
}

// reloadSources has the syslog listeners load the sources again. The
// listeners start before the HTTP server serves, and are not replaced.
func (a *App) reloadSources(ctx context.Context) {
	if srv := a.listeners.syslog; srv != nil {
		_ = srv.Reload(context.WithoutCancel(ctx)) // logged by the listener; the periodic reload tries again
	}
}

// stopListeners closes the listeners, at once, storing what they had read,
// until ctx ends.
func (a *App) stopListeners(ctx context.Context) error {
	var syslogErr, smtpErr error
	var wg sync.WaitGroup
	if srv := a.listeners.syslog; srv != nil {
		wg.Go(func() {
			if err := srv.Close(ctx); err != nil {
				syslogErr = fmt.Errorf("close syslog listeners: %w", err)
			}
		})
	}
	if srv := a.listeners.smtp; srv != nil {
		wg.Go(func() {
			if err := srv.Close(ctx); err != nil {
				smtpErr = fmt.Errorf("close smtp listener: %w", err)
			}
		})
	}
	wg.Wait()
	return errors.Join(syslogErr, smtpErr)
}

// SyslogUDPAddr is the address the syslog UDP listener is bound to, once
// started; "" when it is off.
func (a *App) SyslogUDPAddr() string {
	if a.listeners.syslog == nil || a.listeners.syslog.UDPAddr() == nil {
		return ""
	}
	return a.listeners.syslog.UDPAddr().String()
}

// SyslogTCPAddr is the address the syslog TCP listener is bound to, once
// started; "" when it is off.
func (a *App) SyslogTCPAddr() string {
	if a.listeners.syslog == nil || a.listeners.syslog.TCPAddr() == nil {
		return ""
	}
	return a.listeners.syslog.TCPAddr().String()
}

// SMTPAddr is the address the SMTP listener is bound to, once started; ""
// when it is off.
func (a *App) SMTPAddr() string {
	if a.listeners.smtp == nil || a.listeners.smtp.Addr() == nil {
		return ""
	}
	return a.listeners.smtp.Addr().String()
}
