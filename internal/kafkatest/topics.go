package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Why these helpers exist: a CreateTopics response means the controller
// committed the topic, not that every broker applied it. Each broker applies the
// metadata log on its own, so a DescribeConfigs, Metadata or ListOffsets sent
// right after, to a broker that has not caught up, sees the topic missing
// (UNKNOWN_TOPIC_OR_PARTITION, or a config entry with no value), or a deleted
// topic of the same name. kadm sends such reads to any broker, so a test that
// reads right after a create races. These helpers ask every broker, one by one,
// until each agrees.

// WaitTopics waits until every broker of the cluster cl talks to knows each of
// topics, with every partition led, and fails the test after timeout. The configs
// a topic was created with arrive in the same metadata batch as the topic, so once
// it returns any broker answers DescribeConfigs and ListOffsets for the topics.
func WaitTopics(t testing.TB, cl *kgo.Client, timeout time.Duration, topics ...string) {
	t.Helper()
	Eventually(t, timeout, func() error {
		ids := map[string][16]byte{}
		return everyBroker(cl, timeout, func(ctx context.Context, b *kgo.Broker) error {
			return topicsLed(ctx, b, topics, ids)
		})
	})
}

// WaitTopicID is WaitTopics for one topic that must have the id id on every
// broker: after a topic is deleted and created again under the same name, a
// broker that lags still shows the old one, which WaitTopics would accept. The id
// is in the create response (kadm.CreateTopicResponse.ID).
func WaitTopicID(t testing.TB, cl *kgo.Client, timeout time.Duration, topic string, id [16]byte) {
	t.Helper()
	Eventually(t, timeout, func() error {
		ids := map[string][16]byte{topic: id}
		return everyBroker(cl, timeout, func(ctx context.Context, b *kgo.Broker) error {
			return topicsLed(ctx, b, []string{topic}, ids)
		})
	})
}

// WaitTopics is the package function WaitTopics with an admin client of c.
func (c *Cluster) WaitTopics(t testing.TB, timeout time.Duration, topics ...string) {
	t.Helper()
	WaitTopics(t, c.adminClient(t), timeout, topics...)
}

// everyBroker calls f with each broker of cl's cluster (as a metadata request
// lists them), stopping at the first error, which names the broker.
func everyBroker(cl *kgo.Client, timeout time.Duration, f func(context.Context, *kgo.Broker) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, 10*time.Second))
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("list brokers: %w", err)
	}
	if len(resp.Brokers) == 0 {
		return fmt.Errorf("list brokers: none")
	}
	for _, b := range resp.Brokers {
		if err := f(ctx, cl.Broker(int(b.NodeID))); err != nil {
			return fmt.Errorf("broker %d: %w", b.NodeID, err)
		}
	}
	return nil
}

// topicsLed asks broker b for the metadata of topics and returns an error unless
// it knows each of them and every partition has a leader. ids holds the id each
// topic must have (an entry is added for a topic not in it yet), so that brokers
// that show different incarnations of a topic do not all pass.
func topicsLed(ctx context.Context, b *kgo.Broker, topics []string, ids map[string][16]byte) error {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, b)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, rt := range resp.Topics {
		if rt.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return fmt.Errorf("topic %s: %w", *rt.Topic, err)
		}
		if len(rt.Partitions) == 0 {
			return fmt.Errorf("topic %s has no partitions yet", *rt.Topic)
		}
		for _, p := range rt.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s[%d]: %w", *rt.Topic, p.Partition, err)
			}
			if p.Leader < 0 {
				return fmt.Errorf("%s[%d] has no leader", *rt.Topic, p.Partition)
			}
		}
		if want, ok := ids[*rt.Topic]; !ok {
			ids[*rt.Topic] = rt.TopicID
		} else if want != rt.TopicID {
			return fmt.Errorf("topic %s has id %x, want %x", *rt.Topic, rt.TopicID, want)
		}
		seen[*rt.Topic] = true
	}
	for _, name := range topics {
		if !seen[name] {
			return fmt.Errorf("topic %s unknown", name)
		}
	}
	return nil
}
