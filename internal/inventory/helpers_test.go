package inventory_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

func ctxT(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func seedSrc(t testing.TB) *kafkatest.Cluster {
	return kafkatest.SharedT(t, kafkatest.SeedSrc, kafkatest.Options{Topology: kafkatest.TopologySeed})
}

func singleSrc(t testing.TB) *kafkatest.Cluster {
	return kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
}

func singleTgt(t testing.TB) *kafkatest.Cluster {
	return kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
}

func authCluster(t testing.TB) *kafkatest.Cluster {
	return kafkatest.SharedT(t, kafkatest.Auth, kafkatest.Options{Topology: kafkatest.TopologySingle, SASL: true, TLS: true, Authorizer: true})
}

// topicSpec is a topic a test creates.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16 // -1: the broker default
	configs    map[string]string
	// assignment places partitions on brokers explicitly (rf is then ignored).
	assignment map[int32][]int32
}

// admin returns a client of c with every right; it produces to the partition
// each record names.
func admin(t testing.TB, c *kafkatest.Cluster) *kgo.Client {
	t.Helper()
	manual := kgo.RecordPartitioner(kgo.ManualPartitioner())
	if c.Options.Authorizer {
		return c.ClientAs(t, "admin", manual)
	}
	return c.Client(t, manual)
}

// createTopics creates topics and waits until every broker knows them and every
// partition has a leader.
func createTopics(t testing.TB, cl *kgo.Client, specs ...topicSpec) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	for _, s := range specs {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = s.name
		rt.NumPartitions, rt.ReplicationFactor = s.partitions, s.rf
		if s.rf == 0 {
			rt.ReplicationFactor = -1
		}
		if s.assignment != nil {
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			for p := range int32(len(s.assignment)) {
				ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				ra.Partition, ra.Replicas = p, s.assignment[p]
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
			}
		}
		for k, v := range s.configs {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = k, kmsg.StringPtr(v)
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
	}
	adm := kadm.NewClient(cl)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	var names []string
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			msg := ""
			if rt.ErrorMessage != nil {
				msg = *rt.ErrorMessage
			}
			t.Fatalf("create topic %s: error %d %s", rt.Topic, rt.ErrorCode, msg)
		}
		names = append(names, rt.Topic)
	}
	// Every broker, not just the one ListTopics asks: the tests read configs and
	// offsets from any of them next.
	kafkatest.WaitTopics(t, cl, 60*time.Second, names...)
	kafkatest.Eventually(t, 60*time.Second, func() error {
		td, err := adm.ListTopics(ctx, names...)
		if err != nil {
			return err
		}
		for _, n := range names {
			d, ok := td[n]
			if !ok || d.Err != nil {
				return fmt.Errorf("topic %s not ready: %v", n, d.Err)
			}
			for _, p := range d.Partitions {
				if p.Leader < 0 {
					return fmt.Errorf("%s[%d] has no leader", n, p.Partition)
				}
			}
		}
		return nil
	})
}

func produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctxT(t, 60*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// records returns n records for topic, partition p, with keys k0..k(n-1).
func records(topic string, p int32, n int, at time.Time) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i), Timestamp: at}
	}
	return out
}

// migrationConfig returns a configuration between src and tgt (PLAINTEXT) that
// selects exactly the named topics; groups selects groups (all when nil).
func migrationConfig(t testing.TB, src, tgt *kafkatest.Cluster, topics []string, groups []string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Migration = kafkatest.UniqueName(t, "m")
	cfg.Source.BootstrapServers = src.Bootstrap
	cfg.Target.BootstrapServers = tgt.Bootstrap
	for _, tp := range topics {
		cfg.Topics.Include = append(cfg.Topics.Include, regexp.QuoteMeta(tp))
	}
	for _, g := range groups {
		cfg.Groups.Include = append(cfg.Groups.Include, regexp.QuoteMeta(g))
	}
	if err := cfg.Topics.Compile(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Groups.Compile(); err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = "off"
	return cfg
}

// commit commits offsets for group on the cluster behind adm.
func commit(t testing.TB, adm *kadm.Client, group string, offsets map[string]map[int32]int64) {
	t.Helper()
	offs := kadm.Offsets{}
	for topic, ps := range offsets {
		for p, at := range ps {
			offs.AddOffset(topic, p, at, -1)
		}
	}
	if err := adm.CommitAllOffsets(ctxT(t, 30*time.Second), group, offs); err != nil {
		t.Fatalf("commit offsets of group %s: %v", group, err)
	}
}
