package replicate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/kmigrate/kmigrate/internal/scope"
)

// Work distribution of a shared migration (replication.scale_out). The `run`
// processes of the migration are members of its writer group on the source,
// under Kafka's classic group protocol; the member the coordinator elects
// leader computes the assignment of source partitions, as a consumer group's
// leader does, and the coordinator hands each member its part. The rebalance
// is cooperative (KIP-429): a partition that changes owner is first taken
// from its owner in one generation, and given to its new owner only in a
// later one, once no member reports it as owned. So two members never hold a
// partition in the same generation; the fence covers a member that lost its
// membership without knowing it.

// memberState is what the leader knows of a member: its id and the partitions
// it reports as owned in its join metadata (including those still being let go).
type memberState struct {
	id    string
	owned []TP
}

// balance assigns partitions to members: balanced by count (every member gets
// ⌊n/m⌋ or ⌈n/m⌉), sticky (a member keeps what it owns, up to its share) and
// cooperative (a partition owned by one member is never given to another in
// the same round; it is taken away, and given out in the round its owner's
// rejoin triggers). A partition reported by two members is given to neither:
// both let go of it first.
func balance(members []memberState, partitions []TP) map[string][]TP {
	out := make(map[string][]TP, len(members))
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b memberState) int { return cmp.Compare(a.id, b.id) })
	exists := make(map[TP]bool, len(partitions))
	for _, tp := range partitions {
		exists[tp] = true
	}
	owners := map[TP]int{}
	for _, m := range members {
		for _, tp := range m.owned {
			owners[tp]++
		}
	}
	keep := make([][]TP, len(members))
	for i, m := range members {
		for _, tp := range m.owned {
			if exists[tp] && owners[tp] == 1 {
				keep[i] = append(keep[i], tp)
			}
		}
		slices.SortFunc(keep[i], compareTP)
	}
	// Shares: the members that own the most get the larger ones, so that as
	// little as possible moves.
	order := make([]int, len(members))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(keep[b]), len(keep[a])) })
	share := make([]int, len(members))
	base, extra := len(partitions)/len(members), len(partitions)%len(members)
	for rank, i := range order {
		share[i] = base
		if rank < extra {
			share[i]++
		}
	}
	for i, m := range members {
		k := keep[i][:min(len(keep[i]), share[i])]
		out[m.id] = slices.Clone(k)
	}
	// Free partitions: owned by nobody. Partitions still owned (by a member
	// over its share, or by two) wait for the next round.
	var free []TP
	for _, tp := range partitions {
		if owners[tp] == 0 {
			free = append(free, tp)
		}
	}
	slices.SortFunc(free, compareTP)
	next := 0
	for _, tp := range free {
		for range members {
			i := next % len(members)
			next++
			if len(out[members[i].id]) < share[i] {
				out[members[i].id] = append(out[members[i].id], tp)
				break
			}
		}
	}
	for id := range out {
		slices.SortFunc(out[id], compareTP)
	}
	return out
}

func compareTP(a, b TP) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// assignment is what the leader gives a member, as its group assignment.
type assignment struct {
	// Leader is the member id of the leader that computed it.
	Leader string `json:"leader"`
	// Ready is set once the leader has discovered the source topics and made
	// sure of their targets: an assignment before that is empty for want of
	// knowing better, not because there is nothing to copy.
	Ready bool `json:"ready"`
	// Partitions are the member's source partitions, by topic.
	Partitions map[string][]int32 `json:"partitions,omitempty"`
	// Specs describe the topics of Partitions as the leader planned them
	// (target name, partitions, cleanup policy).
	Specs []scope.TopicSpec `json:"specs,omitempty"`
}

// tps lists the assignment's partitions.
func (a assignment) tps() []TP {
	var out []TP
	for t, ps := range a.Partitions {
		for _, p := range ps {
			out = append(out, TP{Topic: t, Partition: p})
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

func decodeAssignment(b []byte) (assignment, error) {
	var a assignment
	if len(b) == 0 {
		return a, nil
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("decode the group assignment: %w", err)
	}
	return a, nil
}

// byTopic groups partitions by topic, the shape of member metadata and
// assignments.
func byTopic(tps []TP) map[string][]int32 {
	out := map[string][]int32{}
	for _, tp := range tps {
		out[tp.Topic] = append(out[tp.Topic], tp.Partition)
	}
	return out
}
