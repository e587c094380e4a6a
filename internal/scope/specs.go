package scope

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Topic configuration keys that are not copied to the target, and why. Every other
// configuration the source topic overrides (cleanup.policy, retention, segment and
// compaction settings, max.message.bytes, ...) is copied as is.
var skippedConfigs = map[string]string{
	"leader.replication.throttled.replicas":   "names source broker ids",
	"follower.replication.throttled.replicas": "names source broker ids",
	"message.timestamp.difference.max.ms":     "removed in Kafka 4; message.timestamp.before.max.ms and .after.max.ms are set instead",
	"message.format.version":                  "removed in Kafka 4",
	"message.downconversion.enable":           "removed in Kafka 4",
	"remote.storage.enable":                   "tiered storage depends on the target cluster's set-up",
	"local.retention.ms":                      "tiered storage depends on the target cluster's set-up",
	"local.retention.bytes":                   "tiered storage depends on the target cluster's set-up",
	"remote.log.copy.disable":                 "tiered storage depends on the target cluster's set-up",
	"remote.log.delete.on.disable":            "tiered storage depends on the target cluster's set-up",
}

// skipConfig reports whether a source topic config is not copied, and why.
func skipConfig(key string) (string, bool) {
	if why, ok := skippedConfigs[key]; ok {
		return why, true
	}
	if strings.HasPrefix(key, "confluent.") {
		return "vendor-specific", true
	}
	return "", false
}

// TopicSpec is what the target gets for one source topic.
type TopicSpec struct {
	Source     string `json:"source"`
	Target     string `json:"target"`
	Partitions int32  `json:"partitions"`
	// SourceRF is the source topic's replication factor.
	SourceRF int16 `json:"source_replication_factor"`
	// ReplicationFactor is what the target topic gets: the source's, capped at
	// the target's broker count, or the configured override.
	ReplicationFactor int16 `json:"replication_factor"`
	// Capped is set when the source RF was reduced to fit the target.
	Capped bool `json:"capped,omitempty"`
	// Configs are the topic configs set on the target.
	Configs map[string]string `json:"configs,omitempty"`
	// Skipped are source overrides not copied, with the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	// Compacted is set when cleanup.policy includes compact.
	Compacted bool `json:"compacted,omitempty"`
	// MaxMessageBytes is the source topic's effective max.message.bytes.
	MaxMessageBytes int64 `json:"max_message_bytes,omitempty"`
	// Accepts are the configs set on the target, whatever the source overrides
	// and whatever the target's broker defaults are, so that the target accepts
	// every record the source accepted, with the reason (they are in Configs
	// too).
	Accepts map[string]string `json:"accepts,omitempty"`
}

// maxMillis is Kafka's "no bound" for timestamp limits (Long.MAX_VALUE).
const maxMillis = "9223372036854775807"

// accept sets the configs that make the target take every record the source
// took, from the source topic's effective values.
func (s *TopicSpec) accept(effective map[string]int64) {
	s.Accepts = map[string]string{}
	set := func(key, value, why string) {
		s.Configs[key] = value
		s.Accepts[key] = why
		delete(s.Skipped, key)
	}
	set("message.timestamp.type", "CreateTime",
		"copied records keep their source timestamps; a LogAppendTime default on the target would replace them")
	set("message.timestamp.before.max.ms", maxMillis,
		"copied records keep their original timestamps, which are older when they reach the target than when the source took them")
	after, ok := effective["message.timestamp.after.max.ms"]
	if !ok {
		// Kafka before 3.6 bounds both directions with one setting.
		after, ok = effective["message.timestamp.difference.max.ms"]
	}
	if !ok || after <= 0 {
		set("message.timestamp.after.max.ms", maxMillis,
			"the source sets no bound on timestamps in the future; Kafka 4's default of one hour would refuse records the source took")
	} else {
		set("message.timestamp.after.max.ms", strconv.FormatInt(after, 10),
			fmt.Sprintf("the source took records up to %d ms in the future; a tighter target default would refuse some", after))
	}
	if n := effective["max.message.bytes"]; n > 0 {
		set("max.message.bytes", strconv.FormatInt(n, 10),
			fmt.Sprintf("the source took record batches up to %d bytes; the target must take them too", n))
	}
}

// SourceTopics lists the source topics the selection picks, with their partition
// counts and replication factors, sorted by name. Internal topics (Kafka's own,
// names starting with "__") and kmigrate's state topics are never selected.
func SourceTopics(ctx context.Context, adm *kadm.Client, sel *config.Selection) (kadm.TopicDetails, error) {
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list source topics: %w", err)
	}
	out := kadm.TopicDetails{}
	for name, d := range all {
		if d.Err != nil {
			return nil, fmt.Errorf("list source topic %s: %w", name, d.Err)
		}
		if !Topic(sel, name) {
			continue
		}
		out[name] = d
	}
	return out, nil
}

// Specs computes the target spec of each selected source topic. targetBrokers
// caps replication factors.
func Specs(ctx context.Context, srcAdm *kadm.Client, topics kadm.TopicDetails, cfg *config.Config, targetBrokers int) ([]TopicSpec, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	names := topics.Names()
	sort.Strings(names)
	rcs, err := srcAdm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe source topic configs: %w", err)
	}
	configs := map[string]kadm.ResourceConfig{}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("describe configs of source topic %s: %w", rc.Name, rc.Err)
		}
		configs[rc.Name] = rc
	}
	specs := make([]TopicSpec, 0, len(names))
	for _, name := range names {
		d := topics[name]
		s := TopicSpec{
			Source:     name,
			Target:     TargetTopic(cfg.Replication, name),
			Partitions: int32(len(d.Partitions)),
			SourceRF:   int16(d.Partitions.NumReplicas()),
			Configs:    map[string]string{},
			Skipped:    map[string]string{},
		}
		rf := int(s.SourceRF)
		if o, ok := cfg.Replication.ReplicationFactor[name]; ok {
			rf = o
		} else if targetBrokers > 0 && rf > targetBrokers {
			rf, s.Capped = targetBrokers, true
		}
		s.ReplicationFactor = int16(rf)
		effective := map[string]int64{}
		for _, c := range configs[name].Configs {
			if c.Key == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
				s.Compacted = true
			}
			if c.Value != nil {
				switch c.Key {
				case "max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.difference.max.ms":
					v, err := strconv.ParseInt(*c.Value, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("source topic %s: config %s = %q is not a number: %w", name, c.Key, *c.Value, err)
					}
					effective[c.Key] = v
				}
			}
			if c.Source != kmsg.ConfigSourceDynamicTopicConfig || c.Value == nil {
				continue
			}
			if why, skip := skipConfig(c.Key); skip {
				s.Skipped[c.Key] = why
				continue
			}
			s.Configs[c.Key] = *c.Value
		}
		s.MaxMessageBytes = effective["max.message.bytes"]
		s.accept(effective)
		// A min.insync.replicas above the target RF would refuse every write.
		if v, ok := s.Configs["min.insync.replicas"]; ok {
			if n, err := strconv.Atoi(v); err == nil && n > rf {
				s.Configs["min.insync.replicas"] = strconv.Itoa(rf)
				s.Skipped["min.insync.replicas"] = fmt.Sprintf("source value %d is above the target replication factor %d; capped", n, rf)
			}
		}
		specs = append(specs, s)
	}
	return specs, nil
}
