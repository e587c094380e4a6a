package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/kafka"
)

func TestTransient(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("describe writer group g: unable to dial: %w", reset), true},
		{fmt.Errorf("join: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("x: %w", io.EOF), true},
		{kerr.CoordinatorNotAvailable, true},
		{kerr.NotCoordinator, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{kerr.GroupAuthorizationFailed, false},
		{errors.New("another kmigrate run of this migration is alive"), false},
		{nil, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestLockWaitsOutConnectionFailures closes the connection of the writer
// lock's first requests, as a reset on a lossy link does: taking the lock must
// wait that out, not fail the run (it used to exit with "describe writer
// group ...: connection reset by peer").
func TestLockWaitsOutConnectionFailures(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var failed atomic.Int32
	for _, key := range []int16{kmsg.DescribeGroups.Int16(), kmsg.JoinGroup.Int16()} {
		c.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
			if failed.Add(1) > 6 {
				return nil, nil, false
			}
			c.KeepControl()
			return nil, errors.New("connection reset"), true
		})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := acquireLock(ctx, cl, slog.New(slog.DiscardHandler), kafka.NewFence(), "kmigrate.m.writer", 0, nil)
	if err != nil {
		t.Fatalf("take the writer lock through connection failures: %v", err)
	}
	defer l.release(false)
	if n := failed.Load(); n < 6 {
		t.Fatalf("only %d requests failed: the test proves nothing", n)
	}
}
