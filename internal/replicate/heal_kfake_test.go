package replicate_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// impostor stands in front of a broker's connections. While on, it closes
// the connections it tracks and answers new ones as an HTTP server would, as
// when another program briefly holds the port a client was given: franz-go
// then fails buffered records with "invalid large response size ... 'HTTP'",
// an error it does not retry.
type impostor struct {
	on    atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

// admit tracks c, or answers it as the impostor and reports false.
func (im *impostor) admit(c ...net.Conn) bool {
	if im.on.Load() {
		_, _ = c[0].Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		_ = c[0].Close()
		return false
	}
	im.mu.Lock()
	im.conns = append(im.conns, c...)
	im.mu.Unlock()
	return true
}

// answerAsImpostor closes the tracked connections and answers new ones with
// HTTP until the returned function is called.
func (im *impostor) answerAsImpostor() (restore func()) {
	im.on.Store(true)
	im.mu.Lock()
	for _, c := range im.conns {
		_ = c.Close()
	}
	im.conns = nil
	im.mu.Unlock()
	return func() { im.on.Store(false) }
}

// impostorListener is a kfake broker's listener behind an impostor.
type impostorListener struct {
	net.Listener
	impostor
}

func (l *impostorListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit(c) {
			return c, nil
		}
	}
}

// TestFakeWriteErrorsHeal: a write to the target that fails with an error
// that heals (here the target's port briefly answered by an HTTP server, seen
// in the soak) pauses the partition instead of stopping it for good; it
// resumes by itself once the target is back, adopting whatever of the failed
// writes had landed, and the copy ends exact.
func TestFakeWriteErrorsHeal(t *testing.T) {
	src := fakeCluster(t)
	var ln *impostorListener
	tgt, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(func(network, address string) (net.Listener, error) {
		l, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		ln = &impostorListener{Listener: l}
		return ln, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tgt.Close)
	fakeTopic(t, src, "orders", 2)
	cl := fakeClient(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 4000 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: make([]byte, 100)})
	}
	kafkatest.Produce(t, cl, recs...)

	cfg := fakeConfig(t, src, tgt, "orders")
	cfg.Replication.MaxBytesPerSecond = 100_000 // about 4 s for the whole topic
	ev := &events{}
	e := replicate.New(cfg, nil, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, replicate.Options{UntilCaughtUp: true, Events: ev.add}) }()
	copied := func() int64 {
		var n int64
		for _, s := range e.Status() {
			n += s.TgtNext - s.TgtStart
		}
		return n
	}
	kafkatest.Eventually(t, time.Minute, func() error {
		if n := copied(); n < 800 {
			return fmt.Errorf("copied %d", n)
		}
		return nil
	})
	restore := ln.answerAsImpostor()
	kafkatest.Eventually(t, time.Minute, func() error {
		if len(ev.find("paused:")) == 0 {
			return fmt.Errorf("no partition paused yet; events %v", ev.find(""))
		}
		return nil
	})
	restore()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v; events %v", err, ev.find(""))
		}
	case <-ctx.Done():
		t.Fatalf("the copy did not finish; status %+v; events %v", e.Status(), ev.find(""))
	}
	if stopped := ev.find("stopped:"); len(stopped) > 0 {
		t.Errorf("a partition stopped for good on an error that healed: %v", stopped)
	}
	if len(ev.find("resumed after")) == 0 {
		t.Errorf("no partition reported resuming; events %v", ev.find(""))
	}
	if n := assertExactCopy(t, e, src, tgt, "orders"); n != 4000 {
		t.Errorf("copied %d records, want 4000", n)
	}
}
