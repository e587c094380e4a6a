package replicate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Topic configuration keys that are not copied to the target, and why. Every other
// configuration the source topic overrides (cleanup.policy, retention, segment and
// compaction settings, max.message.bytes, ...) is copied as is.
var skippedConfigs = map[string]string{
	"leader.replication.throttled.replicas":   "names source broker ids",
	"follower.replication.throttled.replicas": "names source broker ids",
	"message.timestamp.type":                  "LogAppendTime on the target would replace the source timestamps kmigrate preserves",
	"message.timestamp.before.max.ms":         "copied records carry their original, possibly old, timestamps",
	"message.timestamp.after.max.ms":          "copied records carry their original timestamps",
	"message.timestamp.difference.max.ms":     "copied records carry their original, possibly old, timestamps",
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

// SkippedConfigs returns the configuration keys never copied, with the reason.
func SkippedConfigs() map[string]string {
	out := make(map[string]string, len(skippedConfigs))
	for k, v := range skippedConfigs {
		out[k] = v
	}
	return out
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
		if !Selectable(name) || !sel.Match(name) {
			continue
		}
		out[name] = d
	}
	return out, nil
}

// Selectable reports whether a topic may be migrated at all: not Kafka-internal and
// not kmigrate's own state.
func Selectable(topic string) bool {
	return !strings.HasPrefix(topic, "__") && !strings.HasPrefix(topic, "_kmigrate")
}

// PlanTopics computes the target spec of each selected source topic. targetBrokers
// caps replication factors.
func PlanTopics(ctx context.Context, srcAdm *kadm.Client, topics kadm.TopicDetails, cfg *config.Config, targetBrokers int) ([]TopicSpec, error) {
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
			Target:     cfg.Replication.TargetTopic(name),
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
		for _, c := range configs[name].Configs {
			if c.Key == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
				s.Compacted = true
			}
			if c.Key == "max.message.bytes" && c.Value != nil {
				s.MaxMessageBytes, _ = strconv.ParseInt(*c.Value, 10, 64)
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

// TopicAction is what EnsureTopics did to one target topic.
type TopicAction struct {
	Topic string
	// Action is "created", "partitions increased", "configs updated", "exists",
	// or "failed".
	Action string
	Detail string
	Err    error
}

// EnsureTopics creates missing target topics, raises partition counts that are
// below the source's and sets copied configs that differ. It never deletes or
// shrinks anything. A target topic with more partitions than the source is an
// error for that topic: records would land in the same partition numbers, but
// the target has partitions the source cannot fill, which plan reports.
func EnsureTopics(ctx context.Context, tgtAdm *kadm.Client, specs []TopicSpec) ([]TopicAction, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Target
	}
	existing, err := tgtAdm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list target topics: %w", err)
	}
	var actions []TopicAction
	var toAlter []TopicSpec
	for _, s := range specs {
		d, ok := existing[s.Target]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			actions = append(actions, createTopic(ctx, tgtAdm, s))
			continue
		}
		if d.Err != nil {
			actions = append(actions, TopicAction{Topic: s.Target, Action: "failed", Err: fmt.Errorf("describe target topic %s: %w", s.Target, d.Err)})
			continue
		}
		have := int32(len(d.Partitions))
		switch {
		case have < s.Partitions:
			resps, err := tgtAdm.UpdatePartitions(ctx, int(s.Partitions), s.Target)
			if err == nil {
				if r, ok := resps[s.Target]; ok && r.Err != nil {
					err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
				}
			}
			if err != nil {
				actions = append(actions, TopicAction{Topic: s.Target, Action: "failed", Err: fmt.Errorf("raise partitions of target topic %s to %d: %w", s.Target, s.Partitions, err)})
				continue
			}
			actions = append(actions, TopicAction{Topic: s.Target, Action: "partitions increased", Detail: fmt.Sprintf("%d -> %d", have, s.Partitions)})
		case have > s.Partitions:
			actions = append(actions, TopicAction{Topic: s.Target, Action: "failed", Err: fmt.Errorf("target topic %s has %d partitions, the source %s has %d", s.Target, have, s.Source, s.Partitions)})
			continue
		}
		toAlter = append(toAlter, s)
	}
	alterActs, err := syncConfigs(ctx, tgtAdm, toAlter)
	if err != nil {
		return actions, err
	}
	return append(actions, alterActs...), nil
}

func createTopic(ctx context.Context, adm *kadm.Client, s TopicSpec) TopicAction {
	cfgs := make(map[string]*string, len(s.Configs))
	for k, v := range s.Configs {
		cfgs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, cfgs, s.Target)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return TopicAction{Topic: s.Target, Action: "exists"}
	case err != nil:
		msg := err.Error()
		if resp.ErrMessage != "" {
			msg += ": " + resp.ErrMessage
		}
		return TopicAction{Topic: s.Target, Action: "failed", Err: fmt.Errorf("create target topic %s (%d partitions, RF %d): %s", s.Target, s.Partitions, s.ReplicationFactor, msg)}
	}
	return TopicAction{Topic: s.Target, Action: "created", Detail: fmt.Sprintf("%d partitions, RF %d, %d configs", s.Partitions, s.ReplicationFactor, len(s.Configs))}
}

// syncConfigs sets every copied config whose target value differs from the
// source's. It never deletes a target override: a key the source stopped
// overriding may have been set on the target by hand, and kmigrate cannot tell.
func syncConfigs(ctx context.Context, adm *kadm.Client, specs []TopicSpec) ([]TopicAction, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Target
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe target topic configs: %w", err)
	}
	current := map[string]map[string]string{}
	for _, rc := range rcs {
		m := map[string]string{}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				m[c.Key] = *c.Value
			}
		}
		current[rc.Name] = m
	}
	var actions []TopicAction
	for _, s := range specs {
		var alters []kadm.AlterConfig
		var changed []string
		for k, v := range s.Configs {
			if cur, ok := current[s.Target][k]; !ok || cur != v {
				v := v
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
				changed = append(changed, k)
			}
		}
		if len(alters) == 0 {
			actions = append(actions, TopicAction{Topic: s.Target, Action: "exists"})
			continue
		}
		sort.Strings(changed)
		resps, err := adm.AlterTopicConfigs(ctx, alters, s.Target)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
				}
			}
		}
		if err != nil {
			actions = append(actions, TopicAction{Topic: s.Target, Action: "failed", Err: fmt.Errorf("set configs %s on target topic %s: %w", strings.Join(changed, ","), s.Target, err)})
			continue
		}
		actions = append(actions, TopicAction{Topic: s.Target, Action: "configs updated", Detail: strings.Join(changed, ",")})
	}
	return actions, nil
}
