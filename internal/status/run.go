package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/replicate"
)

// Writer tells whether a `run` of migration is alive: every `run` is a member
// of the migration's writer lock group on the source while it runs (Kafka's
// group coordinator expires a member that stops heartbeating), so a live
// member is a live run. cl is a client of the source cluster.
func Writer(ctx context.Context, cl *kgo.Client, migration string) Run {
	r := Run{Group: replicate.WriterGroup(migration)}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{r.Group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		r.Error = fmt.Sprintf("describe writer group %s: %v", r.Group, err)
		return r
	}
	if len(resp.Groups) != 1 {
		r.Error = fmt.Sprintf("describe writer group %s: %d groups in the response", r.Group, len(resp.Groups))
		return r
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		r.Error = fmt.Sprintf("describe writer group %s: %v", r.Group, err)
		return r
	}
	r.Known = true
	if strings.EqualFold(g.State, "Dead") || strings.EqualFold(g.State, "Empty") {
		return r
	}
	shared := g.Protocol == replicate.ShareProtocol
	for _, m := range g.Members {
		r.Members++
		host := m.ClientHost
		// A run describes itself in its member metadata; fall back to the
		// client host the broker saw.
		var info struct {
			Host    string    `json:"host"`
			PID     int       `json:"pid"`
			Started time.Time `json:"started"`
			HTTP    string    `json:"http"`
		}
		if json.Unmarshal(m.ProtocolMetadata, &info) == nil && info.Host != "" {
			host = fmt.Sprintf("%s (pid %d)", info.Host, info.PID)
		}
		r.Hosts = append(r.Hosts, host)
		if !shared {
			continue
		}
		in := Instance{Host: info.Host, PID: info.PID, Started: info.Started, HTTP: info.HTTP, Partitions: []string{}}
		if in.Host == "" {
			in.Host = m.ClientHost
		}
		var a struct {
			Leader     string             `json:"leader"`
			Partitions map[string][]int32 `json:"partitions"`
		}
		if json.Unmarshal(m.MemberAssignment, &a) == nil {
			in.Leader = a.Leader == m.MemberID
			for t, ps := range a.Partitions {
				for _, p := range ps {
					in.Partitions = append(in.Partitions, fmt.Sprintf("%s/%d", t, p))
				}
			}
			sort.Strings(in.Partitions)
		}
		r.Instances = append(r.Instances, in)
	}
	sort.Slice(r.Instances, func(i, j int) bool { return r.Instances[i].Started.Before(r.Instances[j].Started) })
	r.Alive = r.Members > 0
	return r
}

// String describes r for a status line.
func (r Run) String() string {
	switch {
	case r.Self:
		return "alive (this process)"
	case !r.Known:
		return "unknown (" + r.Error + ")"
	case !r.Alive:
		return "not running (no live member in group " + r.Group + ")"
	}
	if len(r.Instances) > 0 {
		parts := make([]string, len(r.Instances))
		for i, in := range r.Instances {
			lead := ""
			if in.Leader {
				lead = ", leader"
			}
			parts[i] = fmt.Sprintf("%s (pid %d%s): %d partitions", in.Host, in.PID, lead, len(in.Partitions))
		}
		return fmt.Sprintf("alive, shared by %d processes: %s", len(r.Instances), strings.Join(parts, "; "))
	}
	return fmt.Sprintf("alive: %s", strings.Join(r.Hosts, ", "))
}
