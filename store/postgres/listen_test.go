package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/postgres"
)

// announcement is one call of a Listen callback; an empty incident means
// the listener (re)started listening.
type announcement struct {
	incident string
	seq      int64
}

// listener runs s.Listen until the test ends and returns what it announces
// and where its logs go.
func listener(t *testing.T, s *postgres.Store) (<-chan announcement, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan announcement, 100)
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = s.Listen(ctx, func(id string, seq int64) { out <- announcement{id, seq} })
	}()
	stop := func() error {
		cancel()
		<-done
		return err
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

// heard waits for the listener's next announcement; the deadline only keeps
// a broken listener from hanging the test.
func heard(t *testing.T, c <-chan announcement, what string) announcement {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing announced", what)
	}
	return announcement{}
}

// syncBuffer is a log destination that the listener and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestListenAcrossReplicas has one replica listen while another writes: a
// declaration and a note are announced with the incident's latest sequence
// number, a notification sitrep did not write is ignored, and when the
// listener's connection is killed it reconnects, says so, and hears the next
// append.
func TestListenAcrossReplicas(t *testing.T) {
	dsn := freshDatabase(t)
	logs := &syncBuffer{}
	listening, err := postgres.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer listening.Close()
	writing := openStore(t, dsn)
	svc := sitrep.NewService(writing, nil)
	if _, err := svc.Bootstrap(t.Context(), "admin", ""); err != nil {
		t.Fatal(err)
	}
	admin, err := writing.User(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}

	c, stop := listener(t, listening)
	if a := heard(t, c, "start"); a != (announcement{}) {
		t.Fatalf("first announcement %+v, want the start of listening", a)
	}
	inc, _, err := svc.Declare(t.Context(), admin, sitrep.DeclareInput{Title: "Ransomware on the file server"})
	if err != nil {
		t.Fatal(err)
	}
	if a, want := heard(t, c, "declaration"), (announcement{inc.ID, inc.Seq}); a != want {
		t.Fatalf("declaration announced as %+v, want %+v", a, want)
	}
	note := func(text string) announcement {
		t.Helper()
		inc, _, err := svc.Do(t.Context(), admin, inc.ID, sitrep.AddNote{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return announcement{inc.ID, inc.Seq}
	}
	want := note("Host isolated.")
	if a := heard(t, c, "note"); a != want {
		t.Fatalf("note announced as %+v, want %+v", a, want)
	}

	// Anyone who may connect can notify on the channel: what sitrep did not
	// write is skipped, and what follows still arrives.
	pool := writing.Pool()
	for _, p := range []string{"garbage", ":1", inc.ID + ":0", inc.ID + ":x", strings.Repeat("x", 7000) + ":1"} {
		if _, err := pool.Exec(t.Context(), `SELECT pg_notify($1, $2)`, postgres.TimelineChannel, p); err != nil {
			t.Fatal(err)
		}
	}
	want = note("Scanning the subnet.")
	if a := heard(t, c, "note after foreign notifications"); a != want {
		t.Fatalf("after foreign notifications: %+v, want %+v", a, want)
	}
	if !strings.Contains(logs.String(), "ignored a notification") {
		t.Errorf("the foreign notifications were not logged:\n%s", logs)
	}

	// Kill the listener's connection, as a database restart or failover
	// would.
	var killed bool
	if err := pool.QueryRow(t.Context(), `SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'sitrep listen'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if !killed {
		t.Fatal("no listener connection found to terminate")
	}
	if a := heard(t, c, "reconnection"); a != (announcement{}) {
		t.Fatalf("after its connection was killed the listener announced %+v, want it to start listening again", a)
	}
	want = note("Restoring from backup.")
	if a := heard(t, c, "note after reconnection"); a != want {
		t.Fatalf("after reconnection: %+v, want %+v", a, want)
	}
	for _, msg := range []string{"not listening for other replicas' changes", "listening for other replicas' changes again"} {
		if n := strings.Count(logs.String(), msg); n != 1 {
			t.Errorf("the log says %q %d times, want once:\n%s", msg, n, logs)
		}
	}

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Listen returned %v after its context ended, want context.Canceled", err)
	}
}

// TestListenWaitsForTheDatabase starts a listener on a database that does
// not exist yet: it keeps trying, logging the failure once, and listens as
// soon as the database is there.
func TestListenWaitsForTheDatabase(t *testing.T) {
	dsn := freshDatabase(t)
	logs := &syncBuffer{}
	s, err := postgres.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Refuse new connections to the database, as a server starting up
	// would.
	admin, err := pgx.Connect(t.Context(), serverDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	name := s.Pool().Config().ConnConfig.Database
	if _, err := admin.Exec(t.Context(), `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	c, _ := listener(t, s)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(logs.String(), "not listening") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the failure to connect was not logged:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case a := <-c:
		t.Fatalf("announced %+v while the database refused connections", a)
	default:
	}
	if _, err := admin.Exec(t.Context(), `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	if a := heard(t, c, "start"); a != (announcement{}) {
		t.Fatalf("first announcement %+v, want the start of listening", a)
	}
	if n := strings.Count(logs.String(), "not listening"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs)
	}
}
