package clouds_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// writerMembers returns the member ids of the migration's writer-lock group on the
// source.
func writerMembers(ctx context.Context, t *testing.T, adm kmsg.Requestor, migration string) ([]string, error) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{replicate.WriterGroup(migration)}
	resp, err := req.RequestWith(ctx, adm)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range resp.Groups {
		for _, m := range g.Members {
			ids = append(ids, m.MemberID)
		}
	}
	return ids, nil
}

// TestLockSurvivesForgottenMember makes the coordinator forget kmigrate's
// writer-lock membership while no other instance exists, as a coordinator move
// or an outage longer than the session does, deterministically: the member is
// removed from the group by hand. kmigrate used to exit with "lost the
// migration's single-writer lock ... UNKNOWN_MEMBER_ID"; it must join again and
// go on copying.
func TestLockSurvivesForgottenMember(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	l := startLoad(t, c, 2, 1000, 20000)
	migration := kafkatest.UniqueName(t, "m")
	r := startRun(t, c, migration, []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 1000)
	cl := c.Source.Client(t)
	var ids []string
	kafkatest.Eventually(t, 30*time.Second, func() error {
		var err error
		if ids, err = writerMembers(ctx, t, cl, migration); err == nil && len(ids) != 1 {
			err = fmt.Errorf("writer group has %d members, want 1", len(ids))
		}
		return err
	})
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = replicate.WriterGroup(migration)
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}}
	resp, err := leave.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.Members {
		if m.ErrorCode != 0 {
			t.Fatalf("remove member %s: error code %d", m.MemberID, m.ErrorCode)
		}
	}
	// kmigrate is back in the group under a new member id, and still running.
	kafkatest.Eventually(t, 30*time.Second, func() error {
		r.alive(t)
		now, err := writerMembers(ctx, t, cl, migration)
		if err != nil {
			return err
		}
		if len(now) != 1 || now[0] == ids[0] {
			return fmt.Errorf("writer group members %v (removed %s)", now, ids[0])
		}
		return nil
	})
	o := finish(t, c, r, l, time.Now(), 2*time.Minute)
	t.Logf("kmigrate rejoined its lock group and copied everything: %s", o.cmp)
	r.stop(t)
}
