package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrFenced is returned by every write of a fenced client once its lease has
// lapsed: the process may no longer be the partitions' writer. While the lease
// has only lapsed the error is temporary (its Temporary method says true), so
// that the client keeps what it buffered and retries; once the lease is
// revoked it is final.
var ErrFenced = errors.New("write refused: this process's writer lease has lapsed (another kmigrate process may own the partitions now)")

// fenceError is what a fenced connection answers: ErrFenced, temporary while
// the lease has only lapsed (the lock holder may extend it again once its
// coordinator answers: franz-go keeps the records buffered and retries), final
// once it was revoked (another process owns the partitions: everything fails).
type fenceError struct{ revoked bool }

func (e fenceError) Error() string   { return ErrFenced.Error() }
func (e fenceError) Unwrap() error   { return ErrFenced }
func (e fenceError) Temporary() bool { return !e.revoked }

// refusal is the error of a write refused now.
func (f *Fence) refusal() error { return fenceError{revoked: f.until.Load() < 0} }

// Fence keeps a writer from landing anything on a cluster after it lost its
// claim, even if it was paused (SIGSTOP, a GC or VM stall) or cut off with
// requests buffered or in flight.
//
// The claim is a lease that the lock holder extends every time the group
// coordinator confirms its membership; it ends before the coordinator could
// give the claim to anyone else. Every connection of a fenced client checks the
// lease, by the monotonic clock, right before each write to the socket: a
// process resumed after its lease lapsed writes nothing more, whatever franz-go
// had buffered or was retrying. Bytes already handed to the kernel before the
// lease lapsed are bounded by TCP_USER_TIMEOUT (UserTimeout): unacknowledged
// data is not retransmitted past it, the connection is reset instead. A
// successor therefore waits Grace after taking the claim before its first write.
//
// What remains is a pause between the check and the write system call itself, a
// few hundred nanoseconds; the live writer watches its target partitions for
// appends it did not make, so that even that case is reported within seconds.
type Fence struct {
	base  time.Time
	until atomic.Int64 // nanoseconds after base; 0 = never valid
	// UserTimeout is set as TCP_USER_TIMEOUT on every connection.
	UserTimeout time.Duration
}

// Fence timing: connections give up on unacknowledged data after
// FenceUserTimeout, and a new writer waits FenceGrace before writing.
const (
	FenceUserTimeout = 5 * time.Second
	FenceGrace       = FenceUserTimeout + time.Second
)

// NewFence returns a fence whose lease has not started: every write is refused
// until Extend.
func NewFence() *Fence {
	return &Fence{base: time.Now(), UserTimeout: FenceUserTimeout}
}

// Extend moves the end of the lease to until, never back.
func (f *Fence) Extend(until time.Time) {
	n := until.Sub(f.base).Nanoseconds()
	for {
		cur := f.until.Load()
		if n <= cur || f.until.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Revoke ends the lease now: from here on every write is refused.
func (f *Fence) Revoke() { f.until.Store(-1) }

// Valid reports whether the lease holds now.
func (f *Fence) Valid() bool { return time.Since(f.base).Nanoseconds() < f.until.Load() }

// Until returns the end of the lease.
func (f *Fence) Until() time.Time { return f.base.Add(time.Duration(f.until.Load())) }

// dialer returns the dial function of a fenced client: TCP with
// TCP_USER_TIMEOUT, TLS when tc is set, and a connection that checks the lease
// before each write.
func (f *Fence) dialer(tc *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	d := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = setUserTimeout(int(fd), f.UserTimeout)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		if !f.Valid() {
			return nil, f.refusal()
		}
		conn, err := d.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		if tc != nil {
			c := tc.Clone()
			if c.ServerName == "" {
				server, _, err := net.SplitHostPort(host)
				if err != nil {
					conn.Close()
					return nil, fmt.Errorf("split host %s: %w", host, err)
				}
				c.ServerName = server
			}
			tlsConn := tls.Client(conn, c)
			if err := tlsConn.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			// The handshake wrote through the raw connection; from here every
			// record goes through the fenced wrapper below it.
			return &fencedConn{Conn: tlsConn, f: f}, nil
		}
		return &fencedConn{Conn: conn, f: f}, nil
	}
}

// fencedConn refuses to write once the fence's lease has lapsed, and closes
// itself so that nothing more goes out on it.
type fencedConn struct {
	net.Conn
	f *Fence
}

func (c *fencedConn) Write(b []byte) (int, error) {
	if !c.f.Valid() {
		c.Conn.Close()
		return 0, c.f.refusal()
	}
	return c.Conn.Write(b)
}
