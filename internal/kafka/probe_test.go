package kafka_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestSilentPortIsExplained: against a port that accepts connections and
// never answers, Ping says within seconds what it waits for and why, and the
// final error carries the hint instead of a bare timeout.
func TestSilentPortIsExplained(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	var logs kafkatest.SyncBuffer
	b := kafka.Builder{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	c := config.Cluster{BootstrapServers: []string{ln.Addr().String()}, ClientID: "kmigrate-test"}
	c.RequestTimeout.Duration = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	cl, err := b.Client(ctx, kafka.Source, c)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	err = kafka.Ping(ctx, kafka.Source, c, cl)
	if err == nil {
		t.Fatal("a silent port answered")
	}
	for _, want := range []string{"connect to source cluster " + ln.Addr().String() + " (PLAINTEXT)", "did not answer a Kafka request"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	l := logs.String()
	if !strings.Contains(l, `level=WARN msg="waiting for the source cluster `+ln.Addr().String()+` (PLAINTEXT) to answer"`) || !strings.Contains(l, "did not answer a Kafka request") {
		t.Errorf("no waiting line with a hint in the log after %s:\n%s", time.Since(start), l)
	}
}

// TestProbe: what the first seed speaks, against a real plaintext listener.
func TestProbe(t *testing.T) {
	c := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	if h := kafka.Probe(context.Background(), config.Cluster{BootstrapServers: c.Bootstrap}); h != "" {
		t.Errorf("plaintext probe of a plaintext listener: %q, want no hint", h)
	}
	if h := kafka.Probe(context.Background(), config.Cluster{BootstrapServers: c.Bootstrap, TLS: &config.TLS{}}); !strings.Contains(h, "does not speak TLS: a plaintext listener") {
		t.Errorf("TLS probe of a plaintext listener: %q", h)
	}
}
