package kafkatest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// The ports test clusters listen on come from below the kernel's ephemeral
// range. A port taken from that range (":0") is free when chosen, but while
// its broker is down (killed by a test, restarting) any outgoing connection on
// the machine may be given it as its local port, and the broker then cannot
// bind it again: a restart that fails for no reason of Kafka's.
const (
	// defaultEphemeralLow is Linux's default lower bound of
	// net.ipv4.ip_local_port_range.
	defaultEphemeralLow = 32768
	// portSpan is how many ports below the ephemeral range are used.
	portSpan = 16000
)

// ephemeralLow returns the lower bound of the kernel's ephemeral port range.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLow
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return defaultEphemeralLow
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 1024 {
		return defaultEphemeralLow
	}
	return low
}

// ListenFree listens on host at a free port outside the kernel's ephemeral
// range. The caller closes the listener just before the port's real owner
// binds it, so that nothing else in this process takes it meanwhile.
func ListenFree(host string) (net.Listener, error) {
	high := ephemeralLow()
	low := max(1025, high-portSpan)
	var last error
	for range 200 {
		p := low + rand.IntN(high-low)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return l, nil
		}
		last = err
	}
	return nil, fmt.Errorf("find a free port on %s between %d and %d: %w", host, low, high-1, last)
}

// FreePort returns a port on host that was free a moment ago, outside the
// kernel's ephemeral range (see ListenFree).
func FreePort(host string) (int, error) {
	l, err := ListenFree(host)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
