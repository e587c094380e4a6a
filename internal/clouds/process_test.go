package clouds_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// crossCloudLink sets 30 ms ± 5 ms of latency and connection resets on both
// links: the weather every process fault below happens in.
func crossCloudLink(t *testing.T, c *clouds.Clouds) {
	t.Helper()
	for _, cloud := range []string{clouds.AWS, clouds.GCP} {
		for _, f := range [][]string{{"latency", cloud, "30ms", "5ms"}, {"resets", cloud, "0.2", "3s"}} {
			if err := c.Apply(context.Background(), f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKilledAndPausedUnderFaults kills kmigrate with SIGKILL in each phase of a
// migration (before its first partition started, catching up a backlog,
// following the live tail) and starts it again, then pauses it with SIGSTOP past
// its writer lock's session while a second instance takes over, and resumes it,
// all across a link with latency and connection resets. Each restart must resume
// where the killed process stood, the resumed zombie must land nothing and exit
// non-zero, and the copy must end exact.
func TestKilledAndPausedUnderFaults(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	crossCloudLink(t, c)
	// A backlog first, then a live tail written while kmigrate starts, dies and
	// comes back; both producers are in the ledger.
	l := startLoad(t, c, 4, 20000, 30000)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := l.producer.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	tail, err := clouds.StartProducer(ctx, c.Source, l.topic, clouds.ProducerOptions{Rate: 1000, Max: 60000, ValuePrefix: "1"})
	if err != nil {
		t.Fatal(err)
	}
	l.more = append(l.more, tail)
	// Throttled (about 5 bytes a record), so that the backlog takes a while.
	const throttle = "  max_bytes_per_second: 20000\n"
	migration := kafkatest.UniqueName(t, "m")
	var figures []string
	r := startRun(t, c, migration, []string{l.topic}, throttle)

	// 1. Killed at once: its HTTP server answers, no partition has started.
	kafkatest.Eventually(t, time.Minute, func() error {
		r.alive(t)
		_, err := r.status()
		return err
	})
	r.kill(t)
	figures = append(figures, "killed at start")
	r = r.again(t)

	// 2. Killed catching up the backlog.
	kafkatest.Eventually(t, 3*time.Minute, func() error {
		r.alive(t)
		s, err := r.status()
		switch {
		case err != nil:
			return err
		case s.Phase != "catching-up" || s.Overview.CopiedRecords < 5000:
			return fmt.Errorf("phase %s, %d copied", s.Phase, s.Overview.CopiedRecords)
		}
		return nil
	})
	before := r.copied(t)
	r.kill(t)
	at := time.Now()
	r = r.again(t)
	copying(t, c, r, l.topic)
	figures = append(figures, fmt.Sprintf("killed catching up at %d copied, copying again %.1fs after", before, time.Since(at).Seconds()))

	// 3. Killed following the tail.
	kafkatest.Eventually(t, 3*time.Minute, func() error {
		r.alive(t)
		s, err := r.status()
		if err == nil && s.Phase != "following" {
			err = fmt.Errorf("phase %s, lag %d", s.Phase, s.Overview.LagRecords)
		}
		return err
	})
	r.kill(t)
	at = time.Now()
	r = r.again(t)
	copying(t, c, r, l.topic)
	figures = append(figures, fmt.Sprintf("killed following, copying again %.1fs after", time.Since(at).Seconds()))

	// 4. Paused past its lock's session, mid-copy of fresh records: a second
	// instance takes over, and the zombie, resumed, must write nothing and exit
	// non-zero.
	fresh, err := clouds.StartProducer(ctx, c.Source, l.topic, clouds.ProducerOptions{Rate: 1000, Max: 30000, ValuePrefix: "2"})
	if err != nil {
		t.Fatal(err)
	}
	l.more = append(l.more, fresh)
	copying(t, c, r, l.topic)
	zombie := r
	if err := zombie.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = zombie.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	cl := c.Source.Client(t)
	kafkatest.Eventually(t, time.Minute, func() error {
		ids, err := writerMembers(ctx, t, cl, migration)
		if err == nil && len(ids) > 0 {
			err = fmt.Errorf("the paused instance still holds the writer lock (%v)", ids)
		}
		return err
	})
	if caughtUp(c, l.topic) == nil {
		t.Fatal("the target caught up while the writer was paused: nothing is left for the second instance, the test proves nothing")
	}
	r = zombie.again(t)
	copying(t, c, r, l.topic)
	took := time.Since(paused)
	if err := zombie.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	select {
	case <-zombie.exited:
		if zombie.err == nil {
			t.Errorf("the paused instance exited 0 after losing its lock:\n%s", tailLines(zombie.logs.String(), 20))
		}
	case <-time.After(time.Minute):
		t.Fatalf("the resumed instance did not stop within a minute of losing its lock:\n%s", tailLines(zombie.logs.String(), 20))
	}
	figures = append(figures, fmt.Sprintf("paused past the lock's session: the second instance copying %.1fs after the pause, the zombie exited with %v",
		took.Seconds(), zombie.err))

	for _, cloud := range []string{clouds.AWS, clouds.GCP} {
		if err := c.Clear(ctx, cloud); err != nil {
			t.Fatal(err)
		}
	}
	o := finish(t, c, r, l, time.Now(), 2*time.Minute)
	t.Logf("%s; zero lag %.1fs after the faults were lifted; events of the last instance:\n%s",
		strings.Join(figures, "; "), o.recovered.Seconds(), events(t, r))
	r.stop(t)
}

// copied returns the records kmigrate reports copied.
func (r *run) copied(t *testing.T) int64 {
	t.Helper()
	s, err := r.status()
	if err != nil {
		t.Fatal(err)
	}
	return s.Overview.CopiedRecords
}
