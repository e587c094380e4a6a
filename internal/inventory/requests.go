package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The requests here are issued raw, not through kadm, because kadm fails a whole
// call when one topic or group is not authorized; a scan must keep what it was
// allowed to see and say what it was not. franz-go still shards each request by
// leader or coordinator and sends the shards concurrently.

// tp names a partition.
type tp struct {
	topic     string
	partition int32
}

func (p tp) String() string { return fmt.Sprintf("%s[%d]", p.topic, p.partition) }

// listed is one partition's answer to a ListOffsets request.
type listed struct {
	offset    int64
	timestamp int64
	err       error
}

// Special ListOffsets timestamps.
const (
	listLatest   = -1
	listEarliest = -2
)

// Isolation levels of ListOffsets.
const (
	readUncommitted int8 = 0
	readCommitted   int8 = 1
)

// listOffsets lists offsets of parts at timestamp (listLatest, listEarliest, or
// Unix milliseconds: the first offset whose record timestamp is at or after it,
// -1 when none is). A partition missing from the answer gets an error.
func listOffsets(ctx context.Context, cl *kgo.Client, parts map[string][]int32, isolation int8, timestamp int64) map[tp]listed {
	out := make(map[tp]listed)
	if len(parts) == 0 {
		return out
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	req.TimeoutMillis = 30000
	for _, t := range sortedKeys(parts) {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = t
		for _, p := range parts[t] {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rp.Timestamp = timestamp
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, rt := range shard.Req.(*kmsg.ListOffsetsRequest).Topics {
				for _, rp := range rt.Partitions {
					out[tp{rt.Topic, rp.Partition}] = listed{offset: Unknown, err: shard.Err}
				}
			}
			continue
		}
		for _, rt := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, rp := range rt.Partitions {
				out[tp{rt.Topic, rp.Partition}] = listed{offset: rp.Offset, timestamp: rp.Timestamp, err: kerr.ErrorForCode(rp.ErrorCode)}
			}
		}
	}
	for t, ps := range parts {
		for _, p := range ps {
			if _, ok := out[tp{t, p}]; !ok {
				out[tp{t, p}] = listed{offset: Unknown, err: errors.New("not in the ListOffsets response")}
			}
		}
	}
	return out
}

// resourceConfigs is one resource's DescribeConfigs answer.
type resourceConfigs struct {
	configs []kmsg.DescribeConfigsResponseResourceConfig
	err     error
}

// describeConfigs describes topic (or broker) configs with synonyms; a resource
// that fails gets its own error.
func describeConfigs(ctx context.Context, cl *kgo.Client, kind kmsg.ConfigResourceType, names []string) (map[string]resourceConfigs, error) {
	out := make(map[string]resourceConfigs)
	if len(names) == 0 {
		return out, nil
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	for _, n := range names {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType = kind
		rr.ResourceName = n
		req.Resources = append(req.Resources, rr)
	}
	var firstErr error
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, rr := range shard.Req.(*kmsg.DescribeConfigsRequest).Resources {
				out[rr.ResourceName] = resourceConfigs{err: shard.Err}
			}
			if firstErr == nil {
				firstErr = shard.Err
			}
			continue
		}
		for _, r := range shard.Resp.(*kmsg.DescribeConfigsResponse).Resources {
			rc := resourceConfigs{configs: r.Configs, err: kerrWithMessage(r.ErrorCode, r.ErrorMessage)}
			out[r.ResourceName] = rc
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// producers is what DescribeProducers says about one partition.
type producers struct {
	transactional int
	open          bool
	err           error
}

// describeProducers asks each partition's leader which producers it keeps state
// for. A producer that ever wrote a transaction marker to the partition has a
// coordinator epoch of 0 or more; one inside a transaction has a current
// transaction start offset.
func describeProducers(ctx context.Context, cl *kgo.Client, parts map[string][]int32) map[tp]producers {
	out := make(map[tp]producers)
	if len(parts) == 0 {
		return out
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, t := range sortedKeys(parts) {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic = t
		rt.Partitions = parts[t]
		req.Topics = append(req.Topics, rt)
	}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, rt := range shard.Req.(*kmsg.DescribeProducersRequest).Topics {
				for _, p := range rt.Partitions {
					out[tp{rt.Topic, p}] = producers{err: shard.Err}
				}
			}
			continue
		}
		for _, rt := range shard.Resp.(*kmsg.DescribeProducersResponse).Topics {
			for _, rp := range rt.Partitions {
				pr := producers{err: kerrWithMessage(rp.ErrorCode, rp.ErrorMessage)}
				for _, ap := range rp.ActiveProducers {
					if ap.CoordinatorEpoch >= 0 || ap.CurrentTxnStartOffset >= 0 {
						pr.transactional++
					}
					if ap.CurrentTxnStartOffset >= 0 {
						pr.open = true
					}
				}
				out[tp{rt.Topic, rp.Partition}] = pr
			}
		}
	}
	return out
}

// metadataQuorumTopic is the KRaft metadata log.
const metadataQuorumTopic = "__cluster_metadata"

// describeQuorum asks the active controller (through any broker) for the state of
// the metadata quorum.
func describeQuorum(ctx context.Context, cl *kgo.Client, now int64) (*Quorum, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = metadataQuorumTopic
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rp.Partition = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerrWithMessage(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	endpoints := map[int32]string{}
	for _, n := range resp.Nodes {
		if len(n.Listeners) > 0 {
			endpoints[n.NodeID] = fmt.Sprintf("%s:%d", n.Listeners[0].Host, n.Listeners[0].Port)
		}
	}
	if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
		return nil, errors.New("the response holds no metadata partition")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerrWithMessage(p.ErrorCode, p.ErrorMessage); err != nil {
		return nil, err
	}
	q := &Quorum{LeaderID: p.LeaderID, LeaderEpoch: p.LeaderEpoch, HighWatermark: p.HighWatermark}
	member := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState) QuorumMember {
		m := QuorumMember{ID: r.ReplicaID, Endpoint: endpoints[r.ReplicaID], LogEndOffset: r.LogEndOffset,
			Lag: max(0, p.HighWatermark-r.LogEndOffset), CaughtUpMillisAgo: Unknown}
		if r.LastCaughtUpTimestamp >= 0 {
			m.CaughtUpMillisAgo = max(0, now-r.LastCaughtUpTimestamp)
		}
		return m
	}
	for _, r := range p.CurrentVoters {
		q.Voters = append(q.Voters, member(r))
	}
	for _, r := range p.Observers {
		q.Observers = append(q.Observers, member(r))
	}
	sort.Slice(q.Voters, func(i, j int) bool { return q.Voters[i].ID < q.Voters[j].ID })
	sort.Slice(q.Observers, func(i, j int) bool { return q.Observers[i].ID < q.Observers[j].ID })
	return q, nil
}

// errSecurityDisabled is how a cluster without an authorizer answers
// DescribeAcls.
var errSecurityDisabled = kerr.SecurityDisabled

// describeACLs lists every ACL of the cluster (package acls owns the type and
// the request).
func describeACLs(ctx context.Context, cl *kgo.Client) ([]ACL, error) {
	return acls.Describe(ctx, cl)
}

// clusterInfo is DescribeCluster's answer.
type clusterInfo struct {
	id      string
	brokers []Broker
	// ops are the principal's authorized operations on the cluster; nil when
	// not reported.
	ops map[kmsg.ACLOperation]bool
}

// describeCluster returns the cluster id, every registered broker (fenced ones
// too, where the broker supports saying so) and what the principal may do on the
// cluster.
func describeCluster(ctx context.Context, cl *kgo.Client) (*clusterInfo, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerrWithMessage(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	ci := &clusterInfo{id: resp.ClusterID, ops: decodeOps(resp.ClusterAuthorizedOperations)}
	for _, b := range resp.Brokers {
		br := Broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Fenced: b.IsFenced}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		ci.brokers = append(ci.brokers, br)
	}
	return ci, nil
}

// decodeOps turns an authorized-operations bit field into a set; nil when the
// broker omitted it.
func decodeOps(bits int32) map[kmsg.ACLOperation]bool {
	if bits == -2147483648 {
		return nil
	}
	ops := map[kmsg.ACLOperation]bool{}
	for i := range 32 {
		if bits&(1<<i) != 0 {
			ops[kmsg.ACLOperation(i)] = true
		}
	}
	return ops
}

// topicMeta is one topic of a Metadata answer.
type topicMeta struct {
	name       string
	id         [16]byte
	internal   bool
	partitions []kmsg.MetadataResponseTopicPartition
	ops        map[kmsg.ACLOperation]bool
	err        error
}

// metadata lists topics (all of them when names is nil) with what the principal
// may do on each. A named topic the principal may not describe comes back with
// TOPIC_AUTHORIZATION_FAILED, one that does not exist with
// UNKNOWN_TOPIC_OR_PARTITION.
func metadata(ctx context.Context, cl *kgo.Client, names []string) (map[string]topicMeta, []kmsg.MetadataResponseBroker, string, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.IncludeTopicAuthorizedOperations = true
	req.AllowAutoTopicCreation = false
	if names != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, "", err
	}
	out := make(map[string]topicMeta, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		out[*t.Topic] = topicMeta{
			name: *t.Topic, id: t.TopicID, internal: t.IsInternal, partitions: t.Partitions,
			ops: decodeOps(t.AuthorizedOperations), err: kerr.ErrorForCode(t.ErrorCode),
		}
	}
	var cluster string
	if resp.ClusterID != nil {
		cluster = *resp.ClusterID
	}
	return out, resp.Brokers, cluster, nil
}

// allowed reports whether ops (nil: not reported) allow op. Kafka implies
// DESCRIBE from READ, WRITE, DELETE and ALTER, and DESCRIBE_CONFIGS from
// ALTER_CONFIGS; the broker's bit field already includes implied operations.
func allowed(ops map[kmsg.ACLOperation]bool, op kmsg.ACLOperation) bool {
	return ops == nil || ops[op] || ops[kmsg.ACLOperationAll]
}

// kerrWithMessage turns an error code and message into an error, nil for none.
func kerrWithMessage(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	// Authorization messages repeat the code, or dump the broker's view of the
	// request; the code says it all.
	if msg != nil && *msg != "" && !strings.HasSuffix(kerr.TypedErrorForCode(code).Message, "_AUTHORIZATION_FAILED") {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describedGroup is DescribeGroups' answer for one group, or the error that kept
// it from answering.
type describedGroup struct {
	group string
	err   error
}

// describeGroupsSettled describes groups and asks again, for up to settle, about
// those whose answer is a retriable error: a new cluster's group coordinator
// answers COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS for seconds,
// and that says nothing about the group.
func describeGroupsSettled(ctx context.Context, cl *kgo.Client, groups []string, settle time.Duration) []describedGroup {
	deadline := time.Now().Add(settle)
	out := map[string]error{}
	ask := groups
	for wait := 100 * time.Millisecond; len(ask) > 0; wait = min(2*wait, time.Second) {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = ask
		req.IncludeAuthorizedOperations = true
		for _, shard := range cl.RequestSharded(ctx, req) {
			if shard.Err != nil {
				for _, g := range shard.Req.(*kmsg.DescribeGroupsRequest).Groups {
					out[g] = shard.Err
				}
				continue
			}
			for _, rg := range shard.Resp.(*kmsg.DescribeGroupsResponse).Groups {
				out[rg.Group] = kerr.ErrorForCode(rg.ErrorCode)
			}
		}
		ask = nil
		for _, g := range groups {
			if err := out[g]; err != nil && kerr.IsRetriable(err) {
				ask = append(ask, g)
			}
		}
		if len(ask) == 0 || time.Now().Add(wait).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			ask = nil
		case <-time.After(wait):
		}
	}
	res := make([]describedGroup, 0, len(groups))
	for _, g := range groups {
		res = append(res, describedGroup{group: g, err: out[g]})
	}
	return res
}
