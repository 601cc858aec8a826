package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// TimelineChannel is the notification channel on which every transaction
// that appends to a timeline (a declaration included) announces it, with the
// payload "<incident id>:<seq>" naming the incident and its latest entry.
// PostgreSQL delivers the notification only if the transaction commits, so a
// replica that hears it can read the entries at once.
const TimelineChannel = "sitrep_timeline"

// notifyTimeline is the final SELECT of an append's statement: it sends the
// payload in parameter $n on TimelineChannel, in the same round trip as the
// writes.
func notifyTimeline(n int) string {
	return "SELECT pg_notify('" + TimelineChannel + "', $" + strconv.Itoa(n) + "::text)"
}

// timelinePayload is the notification payload for incident id's entry seq.
func timelinePayload(id string, seq int64) string {
	return id + ":" + strconv.FormatInt(seq, 10)
}

// maxIncidentID bounds the incident ID a notification may name. Anyone who
// may connect to the database can notify on the channel, so its payloads
// are read as outside input.
const maxIncidentID = 200

// parseTimelinePayload reads a payload written by timelinePayload.
func parseTimelinePayload(p string) (id string, seq int64, err error) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return "", 0, errors.New("no ':' between the incident ID and the sequence number")
	}
	id = p[:i]
	switch {
	case id == "":
		return "", 0, errors.New("no incident ID before ':'")
	case len(id) > maxIncidentID:
		return "", 0, fmt.Errorf("the incident ID is %d bytes long, more than %d", len(id), maxIncidentID)
	}
	seq, err = strconv.ParseInt(p[i+1:], 10, 64)
	if err != nil || seq < 1 {
		return "", 0, errors.New("the sequence number after ':' is not a whole number from 1")
	}
	return id, seq, nil
}

// Timings of the listener.
const (
	// listenRetryMin and listenRetryMax bound the wait before reconnecting,
	// which doubles after each failed attempt.
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
	// listenIdle is how long a silent connection waits before it is
	// checked: a connection whose peer vanished without closing it would
	// otherwise wait forever.
	listenIdle = 30 * time.Second
	// listenTimeout bounds connecting, LISTEN and the idle check.
	listenTimeout = 10 * time.Second
)

// Listen tells fn of every append to any incident's timeline, by any replica
// of this database (this one included), after it commits: fn receives the
// incident's ID and its latest sequence number, in commit order. It listens
// on a connection of its own, outside the pool, and returns only when ctx
// ends, with ctx's error.
//
// fn is also called with an empty incident ID (and seq 0) each time Listen
// starts listening: at first and after each reconnection. Appends committed
// before then were not announced to it, so the caller should look for them.
// When the connection fails, Listen logs it once, reconnects with backoff
// (from 100 ms, doubling, up to 5 s) and logs when it listens again.
//
// fn runs on Listen's goroutine and should return quickly: notifications
// wait in the connection while it runs.
func (s *Store) Listen(ctx context.Context, fn func(incidentID string, seq int64)) error {
	log := s.logger.With("channel", TimelineChannel)
	delay := listenRetryMin
	var down time.Time // when the listener lost its connection; zero while it had one
	attempts := 0
	for {
		conn, err := s.listenConn(ctx)
		if err == nil {
			if !down.IsZero() {
				log.Info("listening for other replicas' changes again",
					"down", time.Since(down).Round(time.Millisecond), "attempts", attempts)
			}
			down, attempts = time.Time{}, 0
			began := time.Now()
			fn("", 0)
			err = s.follow(ctx, conn, fn, log)
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			conn.Close(closeCtx)
			cancel()
			if time.Since(began) > listenRetryMax {
				// It listened for a while: this is a new failure, not the
				// same one again.
				delay = listenRetryMin
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if down.IsZero() {
			log.Warn("not listening for other replicas' changes: reconnecting; pages follow them by polling meanwhile", "err", err)
			down = time.Now()
		} else {
			log.Debug("reconnect the listener", "err", err)
		}
		attempts++
		// Up to a quarter less, so that replicas that lost the database at
		// once do not come back in step.
		wait := delay - time.Duration(rand.Int64N(int64(delay/4)+1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		delay = min(delay*2, listenRetryMax)
	}
}

// listenConn opens the listener's connection and runs LISTEN on it.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams["application_name"] == "" {
		// So that an operator can tell it apart in pg_stat_activity.
		cfg.RuntimeParams["application_name"] = "sitrep listen"
	}
	cctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(cctx, "LISTEN "+TimelineChannel); err != nil {
		conn.Close(context.WithoutCancel(cctx))
		return nil, fmt.Errorf("listen on %s: %w", TimelineChannel, err)
	}
	return conn, nil
}

// follow hands conn's notifications to fn until ctx ends or the connection
// fails, and returns why it stopped.
func (s *Store) follow(ctx context.Context, conn *pgx.Conn, fn func(string, int64), log *slog.Logger) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
				return fmt.Errorf("wait for notifications: %w", err)
			}
			// Silence: a timed-out wait leaves the connection usable, and
			// a ping tells whether the server is still there.
			pctx, cancel := context.WithTimeout(ctx, listenTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("check the idle connection: %w", err)
			}
			continue
		}
		if n.Channel != TimelineChannel {
			continue
		}
		id, seq, err := parseTimelinePayload(n.Payload)
		if err != nil {
			log.Warn("ignored a notification that sitrep did not write", "payload", truncate(n.Payload, 80), "pid", n.PID, "err", err)
			continue
		}
		fn(id, seq)
	}
}

// truncate returns at most n bytes of s, for logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
