package syslog

import (
	"encoding/binary"
	"net"
	"syscall"
)

// setupUDP asks the kernel to report the datagrams it drops for c
// (SO_RXQ_OVFL) and returns the receive buffer c has. When the kernel gave
// less than want (net.core.rmem_max), it tries SO_RCVBUFFORCE, which a
// process with CAP_NET_ADMIN may use.
func setupUDP(c *net.UDPConn, want int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var opErr error
	err = rc.Control(func(fd uintptr) {
		if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 1); e != nil {
			opErr = e
		}
		got = rcvbuf(fd)
		if got < want {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, want)
			got = rcvbuf(fd)
		}
	})
	if err == nil {
		err = opErr
	}
	return got, err
}

// rcvbuf returns the usable receive buffer of a socket: Linux reports
// twice what was set, the other half being its bookkeeping.
func rcvbuf(fd uintptr) int {
	n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		return 0
	}
	return n / 2
}

// dropsFromOOB returns the kernel's count of datagrams dropped on the
// socket since it was opened, from the control message that comes with a
// datagram once there were drops.
func dropsFromOOB(oob []byte) (uint32, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return 0, false
}
