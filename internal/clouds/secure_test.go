package clouds_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestSecureAcrossVersions is what a real MSK to Google Managed Kafka move looks
// like: a source on Kafka 3.9 and a target on Kafka 4.1, both reached only over
// TLS with SASL/SCRAM-SHA-512, across a link with latency and connection resets.
// Mid-copy the SCRAM passwords of kmigrate's user are rotated on both clusters
// (and in the files kmigrate reads them from), and then the target's link is cut
// for 20 s and healed. kmigrate must log in again with the new passwords on
// every reconnection, ride out the cut, and end with an exact copy.
func TestSecureAcrossVersions(t *testing.T) {
	c := ownClouds(t, "sec", kafkatest.Options{Version: "3.9.1", ProxiedSecure: true}, kafkatest.Options{ProxiedSecure: true})
	ctx := context.Background()
	l := startLoad(t, c, 4, 1000, 80000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	crossCloudLink(t, c)
	waitCopying(t, c, r, l.topic, 2000)

	var figures []string
	for i, cloud := range []string{clouds.AWS, clouds.GCP} {
		cl, _ := c.Cluster(cloud)
		old, err := os.ReadFile(r.passwords[cloud])
		if err != nil {
			t.Fatal(err)
		}
		setPassword(t, cl, r.passwords[cloud], "second-"+strconv.Itoa(i)+"-"+strconv.Itoa(os.Getpid()))
		rotated := time.Now()
		// The old password no longer logs in through the proxies.
		if err := login(ctx, cl, strings.TrimSpace(string(old))); err == nil {
			t.Fatalf("%s: the old password still logs in after the rotation", cloud)
		}
		// Connections are reset every few seconds: kmigrate copies on only if
		// it logs in again with the new password.
		copying(t, c, r, l.topic)
		copying(t, c, r, l.topic)
		figures = append(figures, fmt.Sprintf("%s password rotated, copying on %.1fs after", cloud, time.Since(rotated).Seconds()))
	}
	if err := c.Cut(ctx, clouds.GCP); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	kafkatest.Eventually(t, time.Minute, func() error {
		r.alive(t)
		if time.Since(cutAt) < 20*time.Second {
			return fmt.Errorf("link %s cut", clouds.GCP)
		}
		return nil
	})
	if err := c.Heal(ctx, clouds.GCP); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	copying(t, c, r, l.topic)
	figures = append(figures, fmt.Sprintf("target link cut 20s, copying %.1fs after the heal", time.Since(healed).Seconds()))
	for _, cloud := range []string{clouds.AWS, clouds.GCP} {
		if err := c.Clear(ctx, cloud); err != nil {
			t.Fatal(err)
		}
	}
	o := finish(t, c, r, l, time.Now(), 2*time.Minute)
	disc := metricAtLeast(t, r, "kmigrate_kafka_disconnects_total", 1)
	t.Logf("%s; zero lag %.1fs after the faults were lifted; %v disconnects; events:\n%s",
		strings.Join(figures, "; "), o.recovered.Seconds(), disc, events(t, r))
	r.stop(t)
}

// login tries scramUser's password on cl's secure PROXIED listener, through the
// proxies, as kmigrate connects.
func login(ctx context.Context, cl *kafkatest.Cluster, password string) error {
	tc, err := cl.TLSConfig()
	if err != nil {
		return err
	}
	k, err := kgo.NewClient(kgo.SeedBrokers(cl.ProxiedBootstrap...), kgo.DialTLSConfig(tc),
		kgo.SASL(scram.Auth{User: scramUser, Pass: password}.AsSha512Mechanism()), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer k.Close()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err = kadm.NewClient(k).BrokerMetadata(cctx)
	return err
}
