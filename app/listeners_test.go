package app

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
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
