package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WriterGroup returns the group through which the `run` processes of a migration
// keep each other from writing the same partitions.
func WriterGroup(migration string) string { return "kmigrate." + migration + ".writer" }

// Single-writer lock timing. A process that dies without leaving (kill -9) stops
// blocking a new one after lockSession.
const (
	lockSession   = 6 * time.Second
	lockHeartbeat = time.Second
	lockProtocol  = "kmigrate"
)

// memberInfo is what a run process tells the others about itself, in its group
// metadata, so that a refusal can say who holds the migration.
type memberInfo struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

func (m memberInfo) String() string {
	return fmt.Sprintf("pid %d on %s, running since %s", m.PID, m.Host, m.Started.Format(time.RFC3339))
}

// ErrLockLost is returned when this process stopped being the migration's writer
// (its membership expired, for example after a long pause): it must stop writing
// at once, because another process may have taken over.
var ErrLockLost = errors.New("lost the migration's single-writer lock")

// writerLock makes this process the only `run` of a migration. It is a member of a
// group on the source cluster with its own protocol type, so Kafka's group
// coordinator tracks liveness: a process that sees another live member refuses to
// run, and a member that lost its membership learns it at its next heartbeat.
type writerLock struct {
	cl         *kgo.Client
	group      string
	info       memberInfo
	memberID   string
	generation int32
}

// acquireLock joins the writer group. If another live process holds it, it waits
// up to wait for that process to go (a crashed one expires after lockSession),
// then refuses with an error naming it.
func acquireLock(ctx context.Context, cl *kgo.Client, group string, wait time.Duration) (*writerLock, error) {
	host, _ := os.Hostname()
	l := &writerLock{cl: cl, group: group, info: memberInfo{Host: host, PID: os.Getpid(), Started: time.Now()}}
	deadline := time.Now().Add(wait)
	for {
		others, err := l.members(ctx)
		if err != nil && kerr.IsRetriable(err) && time.Now().Before(deadline) {
			// A new cluster's group coordinator may still be loading.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(others) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another kmigrate run of this migration is alive (%s, group %s on the source): two processes must never write the same partitions; stop it first", others[0], group)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := l.join(ctx); err != nil {
		return nil, err
	}
	if err := l.checkAlone(ctx); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// members returns the live members of the group other than this process.
func (l *writerLock) members(ctx context.Context) ([]memberInfo, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{l.group}
	resp, err := req.RequestWith(ctx, l.cl)
	if err != nil {
		return nil, fmt.Errorf("describe writer group %s: %w", l.group, err)
	}
	if len(resp.Groups) != 1 {
		return nil, fmt.Errorf("describe writer group %s: %d groups in the response", l.group, len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil // Kafka 4 answers so for a group that never existed
	} else if err != nil {
		return nil, fmt.Errorf("describe writer group %s: %w", l.group, err)
	}
	var out []memberInfo
	for _, m := range g.Members {
		if m.MemberID == l.memberID {
			continue
		}
		var info memberInfo
		if json.Unmarshal(m.ProtocolMetadata, &info) != nil {
			info = memberInfo{Host: m.ClientHost}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// join (re)joins the group and completes the rebalance.
func (l *writerLock) join(ctx context.Context) error {
	meta, _ := json.Marshal(l.info)
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = l.group
		req.SessionTimeoutMillis = int32(lockSession / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(lockSession / time.Millisecond)
		req.MemberID = l.memberID
		req.ProtocolType = lockProtocol
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "single-writer", Metadata: meta}}
		resp, err := req.RequestWith(ctx, l.cl)
		if err != nil {
			return fmt.Errorf("join writer group %s: %w", l.group, err)
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		switch {
		case errors.Is(err, kerr.MemberIDRequired) && attempt < 3:
			l.memberID = resp.MemberID
			continue
		case errors.Is(err, kerr.UnknownMemberID) && attempt < 3:
			l.memberID = ""
			continue
		case (errors.Is(err, kerr.RebalanceInProgress) || kerr.IsRetriable(err)) && attempt < 20:
			if !errors.Is(err, kerr.RebalanceInProgress) {
				time.Sleep(250 * time.Millisecond) // the coordinator is loading or moving
			}
			continue
		case err != nil:
			return fmt.Errorf("join writer group %s: %w", l.group, err)
		}
		l.memberID, l.generation = resp.MemberID, resp.Generation
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.Generation, sync.MemberID = l.group, l.generation, l.memberID
		sync.ProtocolType, sync.Protocol = kmsg.StringPtr(lockProtocol), kmsg.StringPtr("single-writer")
		if resp.LeaderID == resp.MemberID {
			for _, m := range resp.Members {
				sync.GroupAssignment = append(sync.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: []byte{}})
			}
		}
		sresp, err := sync.RequestWith(ctx, l.cl)
		if err != nil {
			return fmt.Errorf("sync writer group %s: %w", l.group, err)
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			if errors.Is(err, kerr.RebalanceInProgress) && attempt < 10 {
				continue
			}
			return fmt.Errorf("sync writer group %s: %w", l.group, err)
		}
		return nil
	}
}

// checkAlone refuses when an older process is also a member: two processes that
// started at the same moment both joined; the younger one gives way.
func (l *writerLock) checkAlone(ctx context.Context) error {
	others, err := l.members(ctx)
	if err != nil {
		return err
	}
	for _, o := range others {
		if !o.Started.After(l.info.Started) {
			return otherWriterError{fmt.Sprintf("another kmigrate run of this migration is alive (%s, group %s on the source): two processes must never write the same partitions; stop it first", o, l.group)}
		}
	}
	return nil
}

// errOtherWriter means another live process holds the writer group.
var errOtherWriter = errors.New("another kmigrate run of this migration holds the writer group")

// otherWriterError is errOtherWriter with the refusal a user reads.
type otherWriterError struct{ msg string }

func (e otherWriterError) Error() string { return e.msg }
func (e otherWriterError) Unwrap() error { return errOtherWriter }

// keep heartbeats until ctx is done; it returns ErrLockLost once another process
// holds the group, or when the coordinator refuses the heartbeats for a reason
// that does not heal.
//
// A lost membership alone is not a lost lock: when the coordinator moves (its
// broker restarts) or the link to the source drops for longer than lockSession,
// the coordinator forgets this member although no other process exists. Then the
// group is described: with no other member, this process joins again and goes on;
// with one, it stops. Network errors and retriable coordinator errors (the
// coordinator loading, moving or unreachable) are retried for as long as they
// last, since only an answer from the coordinator can say the lock was taken.
func (l *writerLock) keep(ctx context.Context) error {
	t := time.NewTicker(lockHeartbeat)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.Generation, req.MemberID = l.group, l.generation, l.memberID
		resp, err := req.RequestWith(ctx, l.cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		var kafkaErr *kerr.Error
		switch {
		case err == nil:
			lastOK = time.Now()
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, kerr.RebalanceInProgress):
			// Someone joined: rejoin, and give way if they are older (they are
			// not, unless this process was paused for a long time).
			if err = l.join(ctx); err == nil {
				err = l.checkAlone(ctx)
			}
			if err == nil {
				lastOK = time.Now()
				continue
			}
			if !errors.Is(err, errOtherWriter) {
				continue // the join failed on a transient error: heartbeat again
			}
		case errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration):
			err = l.rejoin(ctx)
			if err == nil {
				lastOK = time.Now()
				continue
			}
			if !errors.Is(err, errOtherWriter) {
				continue
			}
		case !errors.As(err, &kafkaErr) || kerr.IsRetriable(err):
			continue // the network or a moving coordinator: retry while it lasts
		case time.Since(lastOK) < lockSession/2:
			continue
		}
		return fmt.Errorf("%w (group %s): %v", ErrLockLost, l.group, err)
	}
}

// rejoin joins the group again with a new member id after the coordinator forgot
// this member, unless another process is a member now.
func (l *writerLock) rejoin(ctx context.Context) error {
	others, err := l.members(ctx)
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("%w (%s)", errOtherWriter, others[0])
	}
	l.memberID, l.generation = "", 0
	if err := l.join(ctx); err != nil {
		return err
	}
	return l.checkAlone(ctx)
}

// release leaves the group so that the next process need not wait.
func (l *writerLock) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = l.group
	req.MemberID = l.memberID
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: l.memberID}}
	_, _ = req.RequestWith(ctx, l.cl)
}
