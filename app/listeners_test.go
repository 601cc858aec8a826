package app

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/client"
)

// TestListenerAddressTaken: a listener that cannot listen fails the start,
// naming its address, and leaves nothing open.
func TestListenerAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, cfg := range []Config{
		{SyslogUDP: "127.0.0.1:0", SyslogTCP: taken.Addr().String()},
		{SyslogTCP: "127.0.0.1:0", SMTP: taken.Addr().String()},
	} {
		cfg.Addr = "127.0.0.1:0"
		cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db")
		a, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start()
		if err == nil || !strings.Contains(err.Error(), "listen on "+taken.Addr().String()) {
			t.Errorf("start with %s taken: %v, want an error naming it", taken.Addr(), err)
		}
		if a.SyslogUDPAddr() != "" && cfg.SyslogUDP != "" {
			// The UDP listener opened before the TCP one failed: it must be closed.
			c, err := net.ListenPacket("udp", a.SyslogUDPAddr())
			if err != nil {
				t.Errorf("the syslog UDP address is still held after the failed start: %v", err)
			} else {
				c.Close()
			}
		}
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop after a failed start: %v", err)
		}
	}
}

// TestSourceAddedTakenAtOnce: a syslog source added through the API is
// known to this server's listener from its next message. More datagrams
// than the listener parks for an unknown sender arrive right after the
// source is added, and every one is stored: before the reload on add, all
// but the parked 256 were refused until the next reload.
func TestSourceAddedTakenAtOnce(t *testing.T) {
	ctx := context.Background()
	a, err := New(ctx, Config{Addr: "127.0.0.1:0", SyslogUDP: "127.0.0.1:0",
		DB: "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(ctx) })
	api := client.New(a.URL(), a.AdminToken())
	if _, err := api.CreateSource(ctx, "fw", "syslog", []string{"127.0.0.1/32"}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", a.SyslogUDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 400
	for i := range n {
		if _, err := fmt.Fprintf(conn, "<14>1 2026-11-26T07:00:00Z fw1 kernel - - - dropped packet %d", i); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var stored int
	for time.Now().Before(deadline) {
		alerts, err := a.store.(sitrep.AlertStore).Alerts(ctx, sitrep.AlertFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if stored = len(alerts); stored == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d of %d messages stored from the source added just before", stored, n)
}
