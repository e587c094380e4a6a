package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// topic plans one selected source topic.
func (p *planner) topic(ctx context.Context, t Topic) {
	s, ok := p.specs[t.Name]
	pt := PlannedTopic{
		Source: t.Name, Target: scope.TargetTopic(p.cfg.Replication, t.Name), Action: "blocked",
		Records: t.Records, RecordsUpperBound: t.RecordsUpperBound, SizeBytes: t.SizeBytes, Compacted: t.Compacted,
		Partitions: int32(t.Partitions), SourceRF: int16(t.ReplicationFactor),
	}
	if !ok {
		p.plan.Topics = append(p.plan.Topics, pt)
		return
	}
	pt.Partitions, pt.ReplicationFactor, pt.SourceRF = s.Partitions, s.ReplicationFactor, s.SourceRF
	pt.Configs, pt.Skipped = s.Configs, s.Skipped
	if len(pt.Configs) == 0 {
		pt.Configs = nil
	}
	if len(pt.Skipped) == 0 {
		pt.Skipped = nil
	}
	tm, exists := p.tgtMetas[s.Target]
	exists = exists && tm.err == nil
	rf := int(s.ReplicationFactor)
	blocked := false
	if exists {
		pt.Action = "exists"
		// The existing topic keeps its own replication factor.
		rf = 0
		for _, mp := range tm.partitions {
			rf = max(rf, len(mp.Replicas))
		}
		pt.ReplicationFactor = int16(rf)
		blocked = p.existing(ctx, t, s, tm, &pt)
	} else {
		pt.Action = "create"
		if s.Capped {
			p.add(Finding{Severity: SeverityWarning, Code: CodeRFCapped, Topic: t.Name, Target: s.Target,
				Message: fmt.Sprintf("source replication factor %d is above the target's %d broker(s): target topic %s gets replication factor %d", s.SourceRF, p.plan.Target.Brokers, s.Target, s.ReplicationFactor),
				Fix:     "add target brokers, or accept the lower replication factor (replication.replication_factor sets it per topic)"})
		}
		p.stateWithoutTopic(t, s)
	}
	for _, f := range p.plan.Findings {
		if f.Severity == SeverityBlocker && (f.Topic == t.Name || f.Target == s.Target) {
			blocked = true
		}
	}
	if blocked {
		pt.Action = "blocked"
	}
	p.compareConfigs(t, s, exists, rf)
	p.plan.Topics = append(p.plan.Topics, pt)
}

// existing checks a target topic that already exists: partition count, foreign
// data, permissions. It reports whether the topic is blocked.
func (p *planner) existing(ctx context.Context, t Topic, s scope.TopicSpec, tm topicMeta, pt *PlannedTopic) bool {
	blocked := false
	managed := false
	if p.st != nil {
		for k := range p.st.Partitions {
			if k.Topic == t.Name {
				managed = true
				break
			}
		}
	}
	have := int32(len(tm.partitions))
	switch {
	case have > s.Partitions:
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodePartitionCount, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("target topic %s has %d partitions, source topic %s has %d: kmigrate copies partition n to partition n, and the target's extra partitions would stay empty", s.Target, have, t.Name, s.Partitions),
			Fix:     "delete the target topic (kmigrate creates it) or pick another target name with a rename rule"})
	case have < s.Partitions && managed:
		pt.Action = "raise partitions"
		p.add(Finding{Severity: SeverityInfo, Code: CodePartitionsRaised, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("source topic %s grew to %d partitions; run raises target topic %s from %d", t.Name, s.Partitions, s.Target, have)})
	case have < s.Partitions:
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodePartitionCount, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("target topic %s exists with %d partitions, source topic %s has %d, and kmigrate did not create it: it is someone else's topic", s.Target, have, t.Name, s.Partitions),
			Fix:     "delete the target topic (kmigrate creates it), raise its partitions to match if it is meant for this migration, or pick another target name with a rename rule"})
	}
	// Permissions run needs on an existing topic.
	var missing []string
	if !allowed(tm.ops, kmsg.ACLOperationWrite) {
		missing = append(missing, "Write")
	}
	if !allowed(tm.ops, kmsg.ACLOperationDescribeConfigs) {
		missing = append(missing, "DescribeConfigs")
	}
	if over, ok := p.tgtOverrides[s.Target]; ok {
		for k, v := range s.Configs {
			if over[k] != v {
				if pt.Action == "exists" {
					pt.Action = "update configs"
				}
				if !allowed(tm.ops, kmsg.ACLOperationAlterConfigs) {
					missing = append(missing, "AlterConfigs")
				}
				break
			}
		}
	}
	if have < s.Partitions && !allowed(tm.ops, kmsg.ACLOperationAlter) {
		missing = append(missing, "Alter")
	}
	if len(missing) > 0 {
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotWrite, Topic: t.Name, Target: s.Target,
			Message: fmt.Sprintf("the target principal may not %s topic %s", strings.Join(missing, " or "), s.Target),
			Fix:     fmt.Sprintf("grant the principal %s on topic %s", strings.Join(missing, ", "), s.Target)})
	}
	// Foreign data: records in a partition kmigrate has no state for.
	if p.st == nil {
		return blocked
	}
	parts := map[string][]int32{}
	for _, mp := range tm.partitions {
		if mp.Leader >= 0 {
			parts[s.Target] = append(parts[s.Target], mp.Partition)
		}
	}
	starts := listOffsets(ctx, p.o.Target, parts, readUncommitted, listEarliest)
	ends := listOffsets(ctx, p.o.Target, parts, readUncommitted, listLatest)
	var foreign, mismatch, tails []int32
	var foreignRecords int64
	var mismatchWhy []string
	for _, mp := range sortedParts(tm.partitions) {
		k := tp{s.Target, mp}
		st, en := starts[k], ends[k]
		if st.err != nil || en.err != nil {
			p.gap(fmt.Sprintf("target: offsets of %s", k), "ListOffsets", errors.Join(st.err, en.err))
			continue
		}
		saved := p.st.Partitions[state.Key{Topic: t.Name, Partition: mp}]
		switch {
		case saved == nil && en.offset > st.offset:
			foreign = append(foreign, mp)
			foreignRecords += en.offset - st.offset
		case saved == nil:
		case saved.Err != nil:
			mismatch = append(mismatch, mp)
			mismatchWhy = append(mismatchWhy, fmt.Sprintf("partition %d: state inconsistent: %v", mp, saved.Err))
		case en.offset < saved.Checkpoint.TgtNext:
			mismatch = append(mismatch, mp)
			mismatchWhy = append(mismatchWhy, fmt.Sprintf("partition %d ends at offset %d but kmigrate wrote up to offset %d", mp, en.offset, saved.Checkpoint.TgtNext-1))
		case en.offset > saved.Checkpoint.TgtNext:
			tails = append(tails, mp)
		}
	}
	if len(foreign) > 0 {
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodeForeignData, Topic: t.Name, Target: s.Target, Partitions: foreign,
			Message: fmt.Sprintf("target topic %s holds %d records that kmigrate did not write (partitions %s): kmigrate must be the only writer of its target partitions", s.Target, foreignRecords, ids(foreign)),
			Fix:     "empty or delete the target topic, or pick another target name with a rename rule"})
	}
	if len(mismatch) > 0 {
		blocked = true
		p.add(Finding{Severity: SeverityBlocker, Code: CodeStateMismatch, Topic: t.Name, Target: s.Target, Partitions: mismatch,
			Message: fmt.Sprintf("target topic %s no longer holds what kmigrate wrote (topic deleted and recreated?): %s", s.Target, strings.Join(mismatchWhy, "; ")),
			Fix:     "start a new migration (another migration name) into an empty target topic"})
	}
	if len(tails) > 0 {
		p.add(Finding{Severity: SeverityInfo, Code: CodeTailToReconcile, Topic: t.Name, Target: s.Target, Partitions: tails,
			Message: fmt.Sprintf("target topic %s has records past kmigrate's last checkpoint in partitions %s (a run is live, or crashed): run matches them against the source record by record and refuses any that differ", s.Target, ids(tails))})
	}
	return blocked
}

// stateWithoutTopic reports state for a topic that is missing on the target.
func (p *planner) stateWithoutTopic(t Topic, s scope.TopicSpec) {
	if p.st == nil {
		return
	}
	var parts []int32
	for k, saved := range p.st.Partitions {
		if k.Topic == t.Name && saved.Checkpoint.TgtNext > 0 {
			parts = append(parts, k.Partition)
		}
	}
	if len(parts) == 0 {
		return
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	p.add(Finding{Severity: SeverityBlocker, Code: CodeStateMismatch, Topic: t.Name, Target: s.Target, Partitions: parts,
		Message: fmt.Sprintf("target topic %s does not exist, but kmigrate's state says it copied records into partitions %s: the topic was deleted", s.Target, ids(parts)),
		Fix:     "start a new migration (another migration name), or restore the target topic"})
}

func sortedParts(parts []kmsg.MetadataResponseTopicPartition) []int32 {
	out := make([]int32, 0, len(parts))
	for _, mp := range parts {
		out = append(out, mp.Partition)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// targetValue is the value a target topic config will have once run has
// created or updated the topic, and where it comes from.
func (p *planner) targetValue(s scope.TopicSpec, exists bool, key string) (string, string, bool) {
	if v, ok := s.Configs[key]; ok {
		return v, "copied from the source", true
	}
	if exists {
		if v, ok := p.tgtConfigs[s.Target][key]; ok {
			src := "target topic default"
			if _, over := p.tgtOverrides[s.Target][key]; over {
				src = "target topic override"
			}
			return v, src, true
		}
		return "", "", false
	}
	if v, ok := p.brokerDefaults[key]; ok {
		return v, "target broker default", true
	}
	if v, ok := p.createConfigs[s.Target][key]; ok {
		return v, "target default", true
	}
	return "", "", false
}

// compareConfigs warns about configs whose target value defeats the copy.
func (p *planner) compareConfigs(t Topic, s scope.TopicSpec, exists bool, rf int) {
	add := func(code, msg, fix string) {
		p.add(Finding{Severity: SeverityWarning, Code: code, Topic: t.Name, Target: s.Target, Message: msg, Fix: fix})
	}
	// min.insync.replicas against the replication factor the target topic gets.
	if why, capped := s.Skipped["min.insync.replicas"]; capped {
		add(CodeMinInsync, fmt.Sprintf("min.insync.replicas of %s: %s", t.Name, why),
			"accept the lower guarantee, or give the target topic more replicas")
	} else if v, from, ok := p.targetValue(s, exists, "min.insync.replicas"); ok && int(parseInt(v)) > rf {
		add(CodeMinInsync, fmt.Sprintf("target topic %s gets min.insync.replicas %s (%s), above its replication factor %d: every acks=all write, kmigrate's included, will fail with NOT_ENOUGH_REPLICAS", s.Target, v, from, rf),
			fmt.Sprintf("set min.insync.replicas of %s to at most %d", s.Target, rf))
	} else if t.MinInsyncReplicas > rf {
		add(CodeMinInsync, fmt.Sprintf("source topic %s requires min.insync.replicas %d, above the replication factor %d target topic %s gets: the target cannot give the same durability", t.Name, t.MinInsyncReplicas, rf, s.Target),
			"add target brokers, or accept the weaker guarantee")
	}
	if v, from, ok := p.targetValue(s, exists, "max.message.bytes"); ok && t.MaxMessageBytes > 0 && parseInt(v) >= 0 && parseInt(v) < t.MaxMessageBytes {
		add(CodeMaxMessageBytes, fmt.Sprintf("target topic %s accepts batches up to %s bytes (max.message.bytes, %s), the source topic up to %d: a large source record may not fit", s.Target, v, from, t.MaxMessageBytes),
			fmt.Sprintf("set max.message.bytes of %s to at least %d", s.Target, t.MaxMessageBytes))
	}
	if v, from, ok := p.targetValue(s, exists, "message.timestamp.type"); ok && v == "LogAppendTime" {
		add(CodeLogAppendTime, fmt.Sprintf("target topic %s uses message.timestamp.type=LogAppendTime (%s): the broker overwrites every record's timestamp, so source timestamps are not kept", s.Target, from),
			fmt.Sprintf("set message.timestamp.type=CreateTime on %s", s.Target))
	}
	if v, from, ok := p.targetValue(s, exists, "cleanup.policy"); ok && t.CleanupPolicy != "" && normPolicy(v) != normPolicy(t.CleanupPolicy) {
		add(CodeCleanupPolicy, fmt.Sprintf("target topic %s gets cleanup.policy=%s (%s), source topic %s has %s", s.Target, v, from, t.Name, t.CleanupPolicy),
			fmt.Sprintf("set cleanup.policy=%s on %s", t.CleanupPolicy, s.Target))
	}
}

func normPolicy(v string) string {
	parts := strings.Split(strings.ReplaceAll(v, " ", ""), ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
