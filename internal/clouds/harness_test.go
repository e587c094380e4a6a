package clouds_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// roundTrip times the fastest of several requests to a broker through the
// source's proxies.
func roundTrip(t *testing.T, c *clouds.Clouds) (time.Duration, error) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Source.ProxiedBootstrap...), kgo.RequestRetries(0),
		kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.ListBrokers(ctx); err != nil { // connects
		return 0, err
	}
	bs, err := adm.ListBrokers(ctx)
	if err != nil {
		return 0, err
	}
	// Metadata may be cached; an ApiVersions request to the broker is not.
	b := cl.Broker(int(bs[0].NodeID))
	if _, err := b.Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
		return 0, err
	}
	// The fastest of several: a loaded machine only ever adds time.
	took := time.Hour
	for range 8 {
		began := time.Now()
		if _, err := b.Request(ctx, kmsg.NewPtrApiVersionsRequest()); err != nil {
			return 0, err
		}
		took = min(took, time.Since(began))
	}
	for _, b := range bs {
		if got := net.JoinHostPort(b.Host, fmt.Sprint(b.Port)); got != c.Source.ProxiedBootstrap[0] {
			return 0, fmt.Errorf("broker %d advertises %s on PROXIED, want its proxy %s", b.NodeID, got, c.Source.ProxiedBootstrap[0])
		}
	}
	return took, nil
}

// TestHarnessWiring checks the harness itself: the brokers run inside their
// namespaces, the PROXIED listener advertises the proxy, a cut stops traffic
// through the proxy while the cloud keeps working inside, a heal restores it, and
// the latency toxic adds what it says.
func TestHarnessWiring(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	for _, l := range c.Net.Links {
		if l.NsAddr.String() == "127.0.0.1" || !l.NsAddr.IsPrivate() {
			t.Fatalf("cloud %s has address %s, want a private address of its own", l.Cloud, l.NsAddr)
		}
	}
	if _, err := roundTrip(t, c); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	// Inside the cloud, a Java client on the PLAINTEXT listener still works while
	// the link is cut; from the root namespace, nothing does.
	if err := c.Cut(ctx, clouds.AWS); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, c); err == nil {
		t.Fatal("a request through the proxy succeeded while the link was cut")
	}
	// Packets for the cut cloud go nowhere: not off the machine by the
	// default route, where something else may answer (it did: an HTTP reply
	// on a broker's address).
	broker := c.Source.Brokers()[0].Addr(kafkatest.ListenerPlaintext)
	if conn, err := net.DialTimeout("tcp", broker, 2*time.Second); err == nil {
		conn.Close()
		t.Fatalf("a connection to %s, in the cut cloud, was accepted by someone", broker)
	}
	out, err := c.Source.RunJava(ctx, "org.apache.kafka.tools.BrokerApiVersionsCommand", "--bootstrap-server", c.Source.Bootstrap[0])
	if err == nil {
		t.Fatalf("a client in the root namespace reached the cut cloud:\n%s", out)
	}
	cmd, err := c.Source.JavaCommand(ctx, "org.apache.kafka.tools.BrokerApiVersionsCommand", "--bootstrap-server", c.Source.Bootstrap[0])
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("a client inside the cut cloud failed: %v\n%s", err, out)
	}
	if err := c.Heal(ctx, clouds.AWS); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error { _, err := roundTrip(t, c); return err })

	base, err := roundTrip(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Latency(clouds.AWS, 30*time.Millisecond, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	slow, err := roundTrip(t, c)
	if err != nil {
		t.Fatal(err)
	}
	// Each direction is delayed at least 15 ms - 2.5 ms.
	if slow < 25*time.Millisecond || slow <= base {
		t.Fatalf("fastest round trip %s with 30ms ± 5ms latency, %s without", slow, base)
	}
	t.Logf("metadata round trip %s, with latency %s", base, slow)
}
