package replicate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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
func EnsureTopics(ctx context.Context, tgtAdm *kadm.Client, specs []scope.TopicSpec) ([]TopicAction, error) {
	return ensureTopics(ctx, tgtAdm, specs, true)
}

// ensureTopics is EnsureTopics; without syncExisting the configs of existing
// target topics are left alone.
func ensureTopics(ctx context.Context, tgtAdm *kadm.Client, specs []scope.TopicSpec, syncExisting bool) ([]TopicAction, error) {
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
	var toAlter []scope.TopicSpec
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
		if syncExisting {
			toAlter = append(toAlter, s)
		}
	}
	alterActs, err := syncConfigs(ctx, tgtAdm, toAlter)
	if err != nil {
		return actions, err
	}
	return append(actions, alterActs...), nil
}

func createTopic(ctx context.Context, adm *kadm.Client, s scope.TopicSpec) TopicAction {
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
func syncConfigs(ctx context.Context, adm *kadm.Client, specs []scope.TopicSpec) ([]TopicAction, error) {
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
