package replicate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/kafka"
)

// WriterGroup returns the group through which the `run` processes of a migration
// keep each other from writing the same partitions.
func WriterGroup(migration string) string { return "kmigrate." + migration + ".writer" }

// Single-writer lock timing. A process that dies without leaving (kill -9) stops
// blocking a new one after lockSession. The writer's lease ends leaseMargin
// before the coordinator could expire its membership, measured from the moment
// the confirming request was sent.
const (
	lockSession   = 6 * time.Second
	lockHeartbeat = time.Second
	leaseMargin   = time.Second
	lockProtocol  = "kmigrate"
)

// HolderGroup returns the group on the target in whose committed offsets (as
// metadata of the state topic's partition 0) the writer of a migration records
// itself. It lives on the target, written through the fenced client, so that
// a process whose lease lapsed cannot record anything there any more.
func HolderGroup(migration string) string { return "kmigrate." + migration + ".holder" }

// memberInfo is what a run process tells the others about itself, in its group
// metadata, so that a refusal can say who holds the migration.
type memberInfo struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Holder is the process's random id (shared migrations), as in the
	// owner records it writes.
	Holder string `json:"holder,omitempty"`
	// HTTP is the address of the process's HTTP server, when it has one.
	HTTP string `json:"http,omitempty"`
	// Owned are the partitions the member holds, by topic, including those
	// it is still letting go (shared migrations).
	Owned map[string][]int32 `json:"owned,omitempty"`
}

func (m memberInfo) String() string {
	return fmt.Sprintf("pid %d on %s, running since %s", m.PID, m.Host, m.Started.Format(time.RFC3339))
}

// marker is what the lock holder commits, as offset metadata, to the holder
// group on the target: who holds the migration, and whether it released it cleanly (flushed,
// checkpointed, nothing in flight). A successor of a holder that did not
// release waits for the fence's grace before writing; a holder that lost its
// membership to a transient fault may take it back only if nobody else held it
// in between.
type marker struct {
	Holder   string    `json:"holder"`
	Released bool      `json:"released,omitempty"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Time     time.Time `json:"time"`
}

// ErrLockLost is returned when this process stopped being the migration's writer
// (its membership expired and another process held it since, for example after
// a long pause): it must stop writing at once, because another process may have
// taken over. The fence has already stopped its writes by then.
var ErrLockLost = errors.New("lost the migration's single-writer lock")

// writerLock makes this process the only `run` of a migration. It is a member of a
// group on the source cluster with its own protocol type, so Kafka's group
// coordinator tracks liveness: a process that sees another live member refuses to
// run, and a member that lost its membership learns it at its next heartbeat.
// Every confirmation of the membership extends the fence's lease.
type writerLock struct {
	cl  *kgo.Client
	log *slog.Logger
	// tgt records the marker (fenced); tgtRead reads it (unfenced, so that a
	// process whose lease lapsed can still learn who holds the migration).
	tgt, tgtRead *kadm.Client
	holderGroup  string
	markerTopic  string
	fence        *kafka.Fence
	group        string
	info         memberInfo
	holder       string
	memberID     string
	generation   int32
	// needGrace is set when the previous holder did not release cleanly: its
	// requests may still be in flight for up to the fence's grace.
	needGrace bool
	// recorded is set once the holder marker names this process (claim runs
	// while keep already heartbeats).
	recorded atomic.Bool
	acquired time.Time
	// event reports lease lapses and their end (nil: only logged); paused is
	// set while the lease lapsed, since pausedAt.
	event    func(level, format string, args ...any)
	paused   bool
	pausedAt time.Time
	// share is set for a shared migration (replication.scale_out): the
	// group then distributes partitions instead of admitting one member.
	share *sharing
}

// lapsed notes, once per outage, that the lease lapsed and writes are paused.
func (l *writerLock) lapsed(err error) {
	if l.paused || l.fence.Valid() {
		return
	}
	l.paused, l.pausedAt = true, time.Now()
	l.log.Warn("writer lock: the group coordinator does not answer; writes are paused until it does", "group", l.group, "err", err)
	if l.event != nil {
		l.event("warn", "writer lease lapsed: the source's group coordinator (group %s) did not confirm the lock in time (%v); writes to the target are paused, nothing buffered is lost", l.group, err)
	}
}

// held notes the end of a pause.
func (l *writerLock) held() {
	if !l.paused {
		return
	}
	l.paused = false
	d := time.Since(l.pausedAt).Round(100 * time.Millisecond)
	l.log.Info("writer lock: confirmed again; writes resume", "group", l.group, "paused", d)
	if l.event != nil {
		l.event("info", "writer lease held again after %s: writes to the target resume in order", d)
	}
}

// acquireLock joins the writer group. If another live process holds it, it waits
// up to wait for that process to go (a crashed one expires after lockSession),
// then refuses with an error naming it.
//
// With share set (a shared migration) it joins without waiting: live members
// share the partitions instead.
func acquireLock(ctx context.Context, cl *kgo.Client, log *slog.Logger, fence *kafka.Fence, group string, wait time.Duration, share *sharing) (*writerLock, error) {
	host, _ := os.Hostname()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	l := &writerLock{cl: cl, log: log, fence: fence, group: group, holder: hex.EncodeToString(id),
		info: memberInfo{Host: host, PID: os.Getpid(), Started: time.Now()}, share: share}
	if share != nil {
		l.info.Holder, l.info.HTTP = l.holder, share.http
	}
	deadline := time.Now().Add(wait)
	// A fault that heals (a connection reset, a coordinator moving) is waited
	// out for at least startRetry, whatever wait is.
	retryUntil := time.Now().Add(max(wait, startRetry))
	for share == nil {
		others, err := l.members(ctx)
		if err != nil && transient(err) && time.Now().Before(retryUntil) {
			// A new cluster's group coordinator may still be loading, or the
			// link failed for a moment.
			log.Warn("writer lock: the source did not answer; trying again", "group", group, "err", err)
			if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
				return nil, err
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
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := retryRetriable(ctx, startRetry, func() error { return l.join(ctx) }); err != nil {
		return nil, err
	}
	if share != nil {
		l.acquired = time.Now()
		return l, nil
	}
	if err := retryRetriable(ctx, startRetry, func() error { return l.checkAlone(ctx) }); err != nil {
		l.release(false)
		return nil, err
	}
	l.acquired = time.Now()
	return l, nil
}

// claim records this process as the migration's holder on the target, through
// the fenced writer tgt, and learns whether the previous holder released
// cleanly. tgtRead must be an unfenced client of the same cluster. A missing
// or unreadable marker counts as an unclean release: waiting costs seconds,
// not waiting could cost a duplicate.
func (l *writerLock) claim(ctx context.Context, migration, stateTopic string, tgt, tgtRead *kgo.Client) error {
	l.tgt, l.tgtRead = kadm.NewClient(tgt), kadm.NewClient(tgtRead)
	l.holderGroup, l.markerTopic = HolderGroup(migration), stateTopic
	var prev *marker
	err := retryRetriable(ctx, 30*time.Second, func() (err error) {
		prev, err = l.marker(ctx)
		return err
	})
	if err != nil {
		// Without the marker the grace is waited and the membership is never
		// taken back after it expired: slower, never less safe.
		l.log.Warn("writer lock: cannot read the holder marker on the target; waiting out the fence's grace", "group", l.holderGroup, "err", err)
		l.needGrace = true
		return nil
	}
	switch {
	case prev != nil:
		l.needGrace = !prev.Released
	default:
		// No marker: a writer of an older kmigrate, or none at all. A state
		// topic that holds nothing means nobody ever wrote for this migration.
		ends, err := l.tgtRead.ListEndOffsets(ctx, stateTopic)
		if err != nil {
			return fmt.Errorf("list end offset of state topic %s: %w", stateTopic, err)
		}
		o, ok := ends.Lookup(stateTopic, 0)
		l.needGrace = !ok || o.Err != nil || o.Offset > 0
	}
	if err := retryRetriable(ctx, 30*time.Second, func() error { return l.commitMarker(ctx, false) }); err != nil {
		l.log.Warn("writer lock: cannot record this process as holder on the target; it will not take its membership back after an expiry", "group", l.holderGroup, "err", err)
		return nil
	}
	l.recorded.Store(true)
	return nil
}

// startRetry bounds how long the writer lock's start waits out faults that
// heal (transient): connection resets, a link down for a while, a coordinator
// loading or moving.
const startRetry = 2 * time.Minute

// transient reports whether err is a fault that heals by itself: an error Kafka
// calls retriable (a coordinator loading or moving), or a connection that
// failed, broke or timed out. A cancelled context is not.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var op *net.OpError
	var eof *kgo.ErrFirstReadEOF
	return kerr.IsRetriable(err) || isNetErr(err) || errors.As(err, &op) || errors.As(err, &eof) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// retryRetriable calls f until it succeeds, fails with an error that is not
// transient, or timeout passes.
func retryRetriable(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := f()
		if err == nil || !transient(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		if serr := sleepCtx(ctx, wait); serr != nil {
			return err
		}
	}
}

// waitGrace waits until the previous holder's writes can no longer land, when
// it did not release the lock cleanly.
func (l *writerLock) waitGrace(ctx context.Context) error {
	if !l.needGrace {
		return nil
	}
	d := time.Until(l.acquired.Add(kafka.FenceGrace))
	if d <= 0 {
		return nil
	}
	l.log.Info("the previous writer of this migration did not stop cleanly: waiting until none of its requests can land on the target", "wait", d.Round(time.Millisecond))
	return sleepCtx(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

// join (re)joins the group and completes the rebalance, then extends the
// fence's lease from the moment the join was sent.
func (l *writerLock) join(ctx context.Context) error {
	protocol := "single-writer"
	info := l.info
	if l.share != nil {
		protocol = ShareProtocol
		info.Owned = byTopic(l.share.owned())
	}
	meta, _ := json.Marshal(info)
	for attempt := 0; ; attempt++ {
		sent := time.Now()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = l.group
		req.SessionTimeoutMillis = int32(lockSession / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(lockSession / time.Millisecond)
		req.MemberID = l.memberID
		req.ProtocolType = lockProtocol
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: protocol, Metadata: meta}}
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
			if l.share != nil && l.memberID != "" {
				// Expired: let go of everything before joining anew.
				l.share.lost(ctx)
			}
			l.memberID = ""
			continue
		case (errors.Is(err, kerr.RebalanceInProgress) || kerr.IsRetriable(err)) && attempt < 20:
			if !errors.Is(err, kerr.RebalanceInProgress) {
				// The coordinator is loading or moving.
				if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
					return err
				}
			}
			continue
		case errors.Is(err, kerr.InconsistentGroupProtocol):
			return fmt.Errorf("join writer group %s: %w: a `run` of this migration is alive with replication.scale_out set otherwise than here; every process of a migration must agree on it", l.group, err)
		case err != nil:
			return fmt.Errorf("join writer group %s: %w", l.group, err)
		}
		l.memberID, l.generation = resp.MemberID, resp.Generation
		leader := resp.LeaderID == resp.MemberID
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.Generation, sync.MemberID = l.group, l.generation, l.memberID
		sync.ProtocolType, sync.Protocol = kmsg.StringPtr(lockProtocol), kmsg.StringPtr(protocol)
		if leader {
			plan := map[string][]byte{}
			if l.share != nil {
				plan = l.share.plan(resp.LeaderID, resp.Members)
			}
			for _, m := range resp.Members {
				sync.GroupAssignment = append(sync.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: append([]byte{}, plan[m.MemberID]...)})
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
		l.fence.Extend(sent.Add(lockSession - leaseMargin))
		if l.share != nil {
			a, err := decodeAssignment(sresp.MemberAssignment)
			if err != nil {
				return fmt.Errorf("sync writer group %s: %w", l.group, err)
			}
			l.share.deliver(a, leader, l.generation)
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
		if o.Host == l.info.Host && o.PID == l.info.PID && o.Started.Equal(l.info.Started) {
			// This process's own membership from a join whose answer was
			// lost: it expires with its session.
			continue
		}
		if !o.Started.After(l.info.Started) {
			return fmt.Errorf("another kmigrate run of this migration is alive (%s, group %s on the source): two processes must never write the same partitions; stop it first", o, l.group)
		}
	}
	return nil
}

// marker returns the holder marker recorded on the target; nil when none was
// ever recorded.
func (l *writerLock) marker(ctx context.Context) (*marker, error) {
	offs, err := l.tgtRead.FetchOffsets(ctx, l.holderGroup)
	if err == nil {
		err = offs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the holder of this migration (group %s on the target): %w", l.holderGroup, err)
	}
	o, ok := offs.Lookup(l.markerTopic, 0)
	if !ok || o.Metadata == "" {
		return nil, nil
	}
	var m marker
	if err := json.Unmarshal([]byte(o.Metadata), &m); err != nil {
		return nil, fmt.Errorf("read the holder of this migration (group %s on the target): %w", l.holderGroup, err)
	}
	return &m, nil
}

// commitMarker records this process as the holder, or its clean release.
func (l *writerLock) commitMarker(ctx context.Context, released bool) error {
	meta, _ := json.Marshal(marker{Holder: l.holder, Released: released, Host: l.info.Host, PID: l.info.PID, Time: time.Now().UTC()})
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: l.markerTopic, Partition: 0, At: 0, LeaderEpoch: -1, Metadata: string(meta)})
	resp, err := l.tgt.CommitOffsets(ctx, l.holderGroup, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("record the holder of this migration (group %s on the target): %w", l.holderGroup, err)
	}
	return nil
}

// keep heartbeats until ctx is done, extending the fence's lease with every
// confirmation. A transient fault (the coordinator moving or loading, a broker
// restarting, a network cut) only lets the lease lapse, which pauses writes; the
// membership is taken back when the group is reachable again, provided nobody
// else held the migration in between. keep returns ErrLockLost only when
// another process holds or held the lock; the fence is revoked first.
func (l *writerLock) keep(ctx context.Context) error {
	t := time.NewTicker(lockHeartbeat)
	defer t.Stop()
	var rejoin <-chan struct{}
	if l.share != nil {
		rejoin = l.share.rejoin
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-rejoin:
			// The engine let go of partitions, or the leader found new
			// ones: a new generation hands them out.
			if err := l.join(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("writer group: rejoin failed; retrying at the next heartbeat", "group", l.group, "err", err)
				l.share.requestRejoin()
			}
			continue
		}
		sent := time.Now()
		err := l.heartbeat(ctx)
		switch {
		case err == nil:
			l.fence.Extend(sent.Add(lockSession - leaseMargin))
			l.held()
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, kerr.RebalanceInProgress):
			// Someone joined: rejoin, and give way if they are older (they are
			// not, unless this process was paused for a long time).
			if err = l.join(ctx); err == nil && l.share == nil {
				err = l.checkAlone(ctx)
			}
			if err == nil {
				l.held()
				continue
			}
			if l.share != nil {
				if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
					l.share.lost(ctx)
					l.memberID = ""
				}
				l.lapsed(err)
				continue
			}
			if !kerr.IsRetriable(err) && !isNetErr(err) {
				l.fence.Revoke()
				return fmt.Errorf("%w (group %s): %v", ErrLockLost, l.group, err)
			}
		case l.share != nil && (errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration)):
			// The membership expired: other members may hold this one's
			// partitions now. Let go of every one of them without writing
			// anything more, then join again as a new member; only then
			// can the lease hold again.
			l.share.lost(ctx)
			l.memberID = ""
			if jerr := l.join(ctx); jerr != nil {
				l.lapsed(jerr)
				continue
			}
			l.log.Info("writer group: joined again after the membership expired", "group", l.group)
			l.held()
			continue
		case errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration):
			// The membership expired: take it back if nobody held it since.
			if rerr := l.retake(ctx); rerr != nil {
				if errors.Is(rerr, ErrLockLost) {
					l.fence.Revoke()
					return rerr
				}
				l.lapsed(rerr)
				continue
			}
			l.log.Info("writer lock: membership taken back after it expired; nobody else held the migration meanwhile", "group", l.group)
			l.held()
			continue
		}
		// A transient error: the lease lapses on its own if it lasts, which
		// pauses writes; nothing else to do but try again.
		l.lapsed(err)
	}
}

// heartbeat sends one heartbeat, bounded by the session.
func (l *writerLock) heartbeat(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, lockSession)
	defer cancel()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID = l.group, l.generation, l.memberID
	resp, err := req.RequestWith(hctx, l.cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// retake rejoins the group after this process's membership expired, if no
// other process is a member and the holder marker is still this process's:
// any other process that took the lock recorded itself before writing.
func (l *writerLock) retake(ctx context.Context) error {
	others, err := l.members(ctx)
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("%w (group %s): %s holds it now", ErrLockLost, l.group, others[0])
	}
	if !l.recorded.Load() {
		return fmt.Errorf("%w (group %s): this process could not record itself as holder, so it cannot prove nobody else held the migration while its membership was expired", ErrLockLost, l.group)
	}
	m, err := l.marker(ctx)
	if err != nil {
		return err
	}
	if m == nil || m.Holder != l.holder {
		holder := "nobody"
		if m != nil {
			holder = fmt.Sprintf("pid %d on %s", m.PID, m.Host)
		}
		return fmt.Errorf("%w (group %s): %s held it while this process's membership was expired", ErrLockLost, l.group, holder)
	}
	l.memberID = ""
	if err := l.join(ctx); err != nil {
		return err
	}
	if err := l.checkAlone(ctx); err != nil {
		l.fence.Revoke()
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	// Between the marker read and the join another process may have joined
	// and recorded itself: read again now that this process is a member.
	if m, err = l.marker(ctx); err != nil {
		return err
	}
	if m == nil || m.Holder != l.holder {
		l.fence.Revoke()
		return fmt.Errorf("%w (group %s): another process recorded itself as holder", ErrLockLost, l.group)
	}
	return nil
}

func isNetErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// release leaves the group so that the next process need not wait. With clean
// set (everything flushed and checkpointed), it first records the release, so
// that the next holder need not wait for the fence's grace either.
func (l *writerLock) release(clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if clean && l.recorded.Load() {
		if err := l.commitMarker(ctx, true); err != nil {
			l.log.Warn("writer lock: could not record the clean release; the next run waits for the fence's grace", "err", err)
		}
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = l.group
	req.MemberID = l.memberID
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: l.memberID}}
	resp, err := req.RequestWith(ctx, l.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		l.log.Warn("writer lock: could not leave the group; the next run waits for this membership to expire", "group", l.group, "err", err)
	}
}

// LiveWriters describes the live `run` processes of a migration (members of its
// writer group on the source): "pid N on HOST, running since T". Commands that
// change the state on the target refuse to run while one is alive.
func LiveWriters(ctx context.Context, src *kgo.Client, migration string) ([]string, error) {
	l := &writerLock{cl: src, group: WriterGroup(migration)}
	var members []memberInfo
	err := retryRetriable(ctx, 15*time.Second, func() (err error) {
		members, err = l.members(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.String()
	}
	return out, nil
}
