//go:build !linux

package syslog

import "net"

// setupUDP has nothing to set outside Linux: drops are not reported, and
// the receive buffer is what SetReadBuffer made it.
func setupUDP(*net.UDPConn, int) (int, error) { return 0, nil }

// dropsFromOOB: no drop counts outside Linux.
func dropsFromOOB([]byte) (uint32, bool) { return 0, false }
