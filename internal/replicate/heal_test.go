package replicate_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// impostorProxy forwards connections to a real broker's listener, behind an
// impostor.
type impostorProxy struct {
	impostor
	ln       net.Listener
	upstream string
}

func (p *impostorProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.on.Load() {
			p.admit(c)
			continue
		}
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.admit(c, up) {
			_ = up.Close()
			continue
		}
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// TestWriteErrorsHeal: against a real target broker reached through a proxy,
// the proxy answers for a moment as an HTTP server (the soak met this when a
// cut link sent packets off the machine). franz-go fails the buffered records
// with an error it does not retry; the partitions pause, resume by themselves
// once the broker is reachable again, adopt what landed, and the copy ends
// exact, without a partition stopped.
func TestWriteErrorsHeal(t *testing.T) {
	src, _ := clusters(t)
	front, err := kafkatest.ListenFree("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &impostorProxy{ln: front}
	t.Cleanup(func() { front.Close() })
	tgt := kafkatest.StartT(t, kafkatest.UniqueName(t, "tgt-heal"), kafkatest.Options{Proxied: front.Addr().String()})
	proxy.upstream = tgt.Brokers()[0].Addr(kafkatest.ListenerProxied)
	go proxy.serve()

	topic := kafkatest.UniqueName(t, "heal")
	createTopic(t, src, topic, 2, nil)
	value := bytes.Repeat([]byte("h"), 1000)
	var recs []*kgo.Record
	for i := range 8000 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: value})
	}
	produce(t, src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)

	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Target.BootstrapServers = []string{front.Addr().String()}
	cfg.Replication.MaxBytesPerSecond = 800_000 // about 10 s for the topic
	ev := &events{}
	e := replicate.New(cfg, kafkatest.Logger(t), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, replicate.Options{UntilCaughtUp: true, Events: ev.add}) }()
	kafkatest.Eventually(t, 2*time.Minute, func() error {
		var n int64
		for _, s := range e.Status() {
			n += s.TgtNext - s.TgtStart
		}
		if n < 2000 {
			return fmt.Errorf("copied %d", n)
		}
		return nil
	})
	restore := proxy.answerAsImpostor()
	kafkatest.Eventually(t, time.Minute, func() error {
		if len(ev.find("paused:")) == 0 {
			return fmt.Errorf("no partition paused yet")
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
	resumed := ev.find("resumed after")
	if len(resumed) == 0 {
		t.Errorf("no partition reported resuming; events %v", ev.find(""))
	}
	t.Logf("events: %v", append(ev.find("paused:"), resumed...))
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
}
