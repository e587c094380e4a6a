package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/state"
)

// readTarget reads what the target already holds: configs and offsets of the
// existing target topics, the broker defaults new topics get, and kmigrate's
// state.
func (p *planner) readTarget(ctx context.Context) {
	var existing []string
	for _, s := range p.specs {
		if m, ok := p.tgtMetas[s.Target]; ok && m.err == nil && allowed(m.ops, kmsg.ACLOperationDescribeConfigs) {
			existing = append(existing, s.Target)
		}
	}
	sort.Strings(existing)
	p.tgtConfigs, p.tgtOverrides = map[string]map[string]string{}, map[string]map[string]string{}
	cfgs, err := describeConfigs(ctx, p.o.Target, kmsg.ConfigResourceTypeTopic, existing)
	if err != nil {
		p.gap("target: topic configs", "DescribeConfigs", err)
	}
	for name, rc := range cfgs {
		if rc.err != nil {
			p.gap("target: configs of topic "+name, "DescribeConfigs", rc.err)
			continue
		}
		eff, over := map[string]string{}, map[string]string{}
		for _, c := range rc.configs {
			if c.Value == nil {
				continue
			}
			eff[c.Name] = *c.Value
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				over[c.Name] = *c.Value
			}
		}
		p.tgtConfigs[name], p.tgtOverrides[name] = eff, over
	}
	// The defaults a new topic gets come from the brokers that host it; they
	// are meant to be the same on every broker, so one is asked.
	if len(p.tgtBrokerIDs) > 0 {
		id := strconv.Itoa(int(p.tgtBrokerIDs[0]))
		bc, err := describeConfigs(ctx, p.o.Target, kmsg.ConfigResourceTypeBroker, []string{id})
		if err == nil && bc[id].err != nil {
			err = bc[id].err
		}
		if err != nil {
			p.gap("target: broker defaults for new topics", "DescribeConfigs", err)
		} else {
			p.brokerDefaults = map[string]string{}
			for _, c := range bc[id].configs {
				if topicKey, ok := brokerToTopicConfig[c.Name]; ok && c.Value != nil {
					p.brokerDefaults[topicKey] = *c.Value
				}
			}
		}
	}
	store := state.NewStore(p.o.Target, p.cfg.Migration, p.o.NewTargetReader)
	stateMeta, exists := p.tgtMetas[store.Topic()]
	switch {
	case !exists:
		p.st = &state.State{Partitions: map[state.Key]*state.Saved{}}
	case !allowed(stateMeta.ops, kmsg.ACLOperationRead):
		p.gap("target: kmigrate's state "+store.Topic(), "Fetch", errNotAllowed("Read", "topic", store.Topic()))
	default:
		st, err := store.Load(ctx)
		if err != nil {
			p.gap("target: kmigrate's state "+store.Topic(), "Fetch", err)
		} else {
			p.st = st
		}
	}
}

// brokerToTopicConfig maps the broker settings that give topics their defaults
// to the topic configs they stand for.
var brokerToTopicConfig = map[string]string{
	"message.max.bytes":          "max.message.bytes",
	"log.message.timestamp.type": "message.timestamp.type",
	"log.cleanup.policy":         "cleanup.policy",
	"min.insync.replicas":        "min.insync.replicas",
}

// checkCreate asks the target to validate, without creating anything, every
// topic run would create (the state topic included), and checks that the
// principal may at least describe them.
func (p *planner) checkCreate(ctx context.Context, tgtBrokers int) {
	p.createConfigs = map[string]map[string]string{}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = true
	req.TimeoutMillis = 30000
	source := map[string]string{}
	for _, name := range sortedKeys(p.specs) {
		s := p.specs[name]
		if m, ok := p.tgtMetas[s.Target]; ok && m.err == nil {
			continue
		}
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = s.Target, s.Partitions, s.ReplicationFactor
		for _, k := range sortedKeys(s.Configs) {
			v := s.Configs[k]
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = k, &v
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
		source[s.Target] = s.Source
	}
	stateTopic := state.TopicName(p.cfg.Migration)
	if m, ok := p.tgtMetas[stateTopic]; !ok || m.err != nil {
		rf, cfgs := state.TopicSpec(tgtBrokers)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = stateTopic, 1, rf
		for _, k := range sortedKeys(cfgs) {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = k, cfgs[k]
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
	} else {
		var missing []string
		for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite} {
			if !allowed(m.ops, op) {
				missing = append(missing, opName(op))
			}
		}
		if len(missing) > 0 {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotWrite, Target: stateTopic,
				Message: fmt.Sprintf("the target principal may not %s kmigrate's state topic %s, where the offset map is kept", strings.Join(missing, " or "), stateTopic),
				Fix:     fmt.Sprintf("grant the principal Read and Write on topic %s (or on the prefix _kmigrate.)", stateTopic)})
		}
	}
	if len(req.Topics) == 0 {
		return
	}
	resp, err := req.RequestWith(ctx, p.o.Target)
	if err != nil {
		p.gap("target: topic creation check", "CreateTopics (validate only)", err)
		return
	}
	var names []string
	for _, rt := range resp.Topics {
		names = append(names, rt.Topic)
		err := kerrWithMessage(rt.ErrorCode, rt.ErrorMessage)
		f := Finding{Severity: SeverityBlocker, Topic: source[rt.Topic], Target: rt.Topic}
		switch {
		case err == nil:
			cfgs := map[string]string{}
			for _, c := range rt.Configs {
				if c.Value != nil {
					cfgs[c.Name] = *c.Value
				}
			}
			p.createConfigs[rt.Topic] = cfgs
			continue
		case errors.Is(err, kerr.TopicAlreadyExists):
			f.Code = CodeCannotWrite
			f.Message = fmt.Sprintf("target topic %s exists but the target principal may not describe it", rt.Topic)
			f.Fix = fmt.Sprintf("grant the principal Describe, Write, DescribeConfigs and AlterConfigs on topic %s", rt.Topic)
		case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
			f.Code = CodeCannotCreate
			f.Message = fmt.Sprintf("the target principal may not create topic %s: %v", rt.Topic, err)
			f.Fix = fmt.Sprintf("grant the principal Create on the cluster or on topic %s, or create the topic beforehand", rt.Topic)
		default:
			f.Code = CodeCannotCreate
			f.Message = fmt.Sprintf("the target refuses to create topic %s: %v", rt.Topic, err)
		}
		p.add(f)
	}
	// A principal that may not even describe a topic may not write it.
	metas, _, _, err := metadata(ctx, p.o.Target, names)
	if err != nil {
		p.gap("target: permissions on new topics", "Metadata", err)
		return
	}
	for _, n := range names {
		if m, ok := metas[n]; ok && errors.Is(m.err, kerr.TopicAuthorizationFailed) {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotWrite, Topic: source[n], Target: n,
				Message: fmt.Sprintf("the target principal may not describe topic %s once created, so it may not write it either", n),
				Fix:     fmt.Sprintf("grant the principal Write on topic %s (Write implies Describe)", n)})
		}
	}
}

func opName(op kmsg.ACLOperation) string {
	switch op {
	case kmsg.ACLOperationRead:
		return "Read"
	case kmsg.ACLOperationWrite:
		return "Write"
	case kmsg.ACLOperationDescribeConfigs:
		return "DescribeConfigs"
	case kmsg.ACLOperationAlterConfigs:
		return "AlterConfigs"
	case kmsg.ACLOperationAlter:
		return "Alter"
	}
	return op.String()
}
