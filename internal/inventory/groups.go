package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/kafka"
)

// Group types as ListGroups reports them.
const (
	groupClassic  = "classic"
	groupConsumer = "consumer"
	groupShare    = "share"
)

// scanGroups lists the groups, describes them and fetches their committed
// offsets. Lag needs end offsets, which finishGroups adds once the topic offsets
// are in.
func (s *scanner) scanGroups(ctx context.Context) {
	adm := kadm.NewClient(s.cl)
	listed, err := adm.ListGroups(ctx)
	var se *kadm.ShardErrors
	switch {
	case err == nil:
	case errors.As(err, &se) && !se.AllFailed:
		for _, e := range se.Errs {
			s.gap(fmt.Sprintf("groups coordinated by broker %d", e.Broker.NodeID), "ListGroups", e.Err)
		}
	default:
		s.gap("consumer groups", "ListGroups", err)
		return
	}
	var classic, consumer, all []string
	byName := map[string]*Group{}
	for _, lg := range listed.Sorted() {
		if s.opts.OnlySelected && !s.selectedGroup(lg.Group) {
			continue
		}
		g := &Group{
			Name: lg.Group, Selected: s.selectedGroup(lg.Group), Type: lg.GroupType, State: lg.State,
			ProtocolType: lg.ProtocolType, Coordinator: lg.Coordinator, Offsets: []GroupOffset{},
		}
		byName[g.Name] = g
		all = append(all, g.Name)
		switch g.Type {
		case groupConsumer:
			consumer = append(consumer, g.Name)
		case groupShare:
			// Share groups keep no committed offsets that a migration translates.
		default:
			classic = append(classic, g.Name)
		}
	}
	assigned := map[string]map[string]bool{}
	assign := func(group, topic string) {
		if assigned[group] == nil {
			assigned[group] = map[string]bool{}
		}
		assigned[group][topic] = true
	}
	if len(classic) > 0 {
		described, err := adm.DescribeGroups(ctx, classic...)
		if err != nil && len(described) == 0 {
			s.gap("members of classic groups", "DescribeGroups", err)
		}
		for name, d := range described {
			g := byName[name]
			if g == nil {
				continue
			}
			if d.Err != nil {
				g.Error = "describe: " + d.Err.Error()
				continue
			}
			g.State, g.ProtocolType, g.Protocol, g.Members = d.State, d.ProtocolType, d.Protocol, len(d.Members)
			g.Coordinator = d.Coordinator.NodeID
			for _, m := range d.Members {
				if a, ok := m.Assigned.AsConsumer(); ok {
					for _, t := range a.Topics {
						assign(name, t.Topic)
					}
				}
			}
		}
	}
	if len(consumer) > 0 {
		described, err := adm.DescribeConsumerGroups(ctx, consumer...)
		if err != nil && len(described) == 0 {
			s.gap("members of consumer groups", "ConsumerGroupDescribe", err)
		}
		for name, d := range described {
			g := byName[name]
			if g == nil {
				continue
			}
			if d.Err != nil {
				g.Error = "describe: " + d.Err.Error()
				continue
			}
			g.State, g.Protocol, g.Members = d.State, d.AssignorName, len(d.Members)
			g.Coordinator = d.Coordinator.NodeID
			for _, m := range d.Members {
				for t := range m.Assignment {
					assign(name, t)
				}
			}
		}
	}
	var fetchable []string
	for _, name := range all {
		if byName[name].Type != groupShare {
			fetchable = append(fetchable, name)
		}
	}
	s.groupTopics = map[string]bool{}
	for name, fetched := range adm.FetchManyOffsets(ctx, fetchable...) {
		g := byName[name]
		if g == nil {
			continue
		}
		if fetched.Err != nil {
			g.Error = joinErr(g.Error, "committed offsets: "+fetched.Err.Error())
			s.gap("committed offsets of group "+name, "OffsetFetch", fetched.Err)
			continue
		}
		fetched.Fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil {
				g.Error = joinErr(g.Error, fmt.Sprintf("committed offset of %s[%d]: %v", o.Topic, o.Partition, o.Err))
				return
			}
			if o.At < 0 {
				return
			}
			g.Offsets = append(g.Offsets, GroupOffset{Topic: o.Topic, Partition: o.Partition, Committed: o.At, Latest: Unknown, Lag: Unknown})
			s.groupTopics[o.Topic] = true
		})
	}
	for _, name := range all {
		g := byName[name]
		topics := map[string]bool{}
		for _, o := range g.Offsets {
			topics[o.Topic] = true
		}
		for t := range assigned[name] {
			topics[t] = true
		}
		if s.opts.Role == kafka.Source {
			for _, t := range sortedKeys(topics) {
				if !s.selectedTopic(t) {
					g.UnselectedTopics = append(g.UnselectedTopics, t)
				}
			}
		}
		s.groups = append(s.groups, *g)
	}
}

func joinErr(have, add string) string {
	if have == "" {
		return add
	}
	return have + "; " + add
}

// finishGroups fills in each committed partition's end offset and lag, listing
// end offsets of topics the scan did not cover.
func (s *scanner) finishGroups(ctx context.Context) {
	extra := map[string][]int32{}
	for t := range s.groupTopics {
		if s.pickedSet[t] {
			continue
		}
		m, ok := s.metas[t]
		if !ok || m.err != nil {
			continue
		}
		for _, p := range m.partitions {
			if p.Leader >= 0 {
				extra[t] = append(extra[t], p.Partition)
			}
		}
	}
	ends := listOffsets(ctx, s.cl, extra, readUncommitted, listLatest)
	for i := range s.groups {
		g := &s.groups[i]
		sort.Slice(g.Offsets, func(a, b int) bool {
			if g.Offsets[a].Topic != g.Offsets[b].Topic {
				return g.Offsets[a].Topic < g.Offsets[b].Topic
			}
			return g.Offsets[a].Partition < g.Offsets[b].Partition
		})
		for j := range g.Offsets {
			o := &g.Offsets[j]
			key := tp{o.Topic, o.Partition}
			l, ok := s.latest[key]
			if !ok {
				l, ok = ends[key]
			}
			if !ok || l.err != nil || l.offset < 0 {
				continue
			}
			o.Latest = l.offset
			o.Lag = max(0, l.offset-o.Committed)
			g.Lag += o.Lag
		}
	}
}
