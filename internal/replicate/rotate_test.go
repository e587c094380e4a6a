package replicate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// TestSCRAMPasswordRotated rotates the SCRAM password kmigrate logs in to the
// source with, mid-run, the way a Kubernetes Secret is rotated: the broker's
// credential changes, the password file is rewritten in place, and the broker
// restarts so that every connection must log in again. The run must log in
// with the new password and go on copying, without a restart of its own.
func TestSCRAMPasswordRotated(t *testing.T) {
	src := kafkatest.StartT(t, kafkatest.UniqueName(t, "rot"), kafkatest.Options{Topology: kafkatest.TopologySingle, SASL: true, Authorizer: true})
	_, tgt := clusters(t)
	ctx := context.Background()
	admin := src.ClientAs(t, "admin")
	adm := kadm.NewClient(admin)
	const user = "rotator"
	setPassword := func(pw string) {
		t.Helper()
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: pw}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("set the SCRAM password of %s: %v", user, err)
		}
	}
	setPassword("first-password")
	grant := func(typ, name, pattern string) acls.ACL {
		return acls.ACL{Principal: "User:" + user, Host: "*", ResourceType: typ, ResourceName: name, PatternType: pattern, Operation: acls.OpAll, Permission: acls.Allow}
	}
	if err := errors.Join(acls.Create(ctx, admin, []acls.ACL{
		grant(acls.Topic, "*", acls.Literal), grant(acls.Group, "*", acls.Literal),
		grant(acls.Cluster, "kafka-cluster", acls.Literal), grant(acls.TransactionalID, "*", acls.Literal),
	})...); err != nil {
		t.Fatal(err)
	}
	topic := kafkatest.UniqueName(t, "rotated")
	kafkatest.CreateTopic(t, src, topic, 1, nil)
	write := func(from, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r%d", i)})
		}
		kafkatest.Produce(t, admin, recs...)
	}
	write(0, 1000)

	pwFile := filepath.Join(t.TempDir(), "source-password")
	if err := os.WriteFile(pwFile, []byte("first-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Source.BootstrapServers = src.SASLBootstrap
	cfg.Source.SASL = &config.SASL{Mechanism: config.MechanismScramSHA512, Username: user, PasswordFile: pwFile}
	r := startEngine(t, cfg, replicate.Options{})
	copied := func(n int64) func() error {
		return func() error {
			s, _ := r.partition(topic, 0)
			if s.Error != "" {
				return fmt.Errorf("partition stopped: %s", s.Error)
			}
			if s.SrcNext < n {
				return fmt.Errorf("copied up to %d of %d", s.SrcNext, n)
			}
			return nil
		}
	}
	kafkatest.Eventually(t, 60*time.Second, copied(1000))

	// Rotate: the broker's credential, then the file, then every connection.
	setPassword("second-password")
	if err := os.WriteFile(pwFile, []byte("second-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := src.Brokers()[0]
	if err := src.RestartNode(ctx, node.ID); err != nil {
		t.Fatal(err)
	}
	admin = src.ClientAs(t, "admin")
	write(1000, 1000)
	kafkatest.Eventually(t, 90*time.Second, copied(2000))
	select {
	case err := <-r.done:
		r.done <- nil
		t.Fatalf("the run ended after the rotation: %v", err)
	default:
	}
}
