//go:build faults

package clouds_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

var (
	soakFor  = flag.Duration("soak", 0, "run TestSoak for this long (e.g. 2h): a randomized fault schedule under load")
	soakSeed = flag.Uint64("soak-seed", 0, "seed of the soak's schedule; 0 picks one (printed, to replay a failure)")
	soakOut  = flag.String("soak-out", "", "write the soak's report here; default bench/results/<date>-soak.md")
)

// fault is one injection of the soak's schedule.
type fault struct {
	name     string
	apply    func(ctx context.Context) error
	lift     func(ctx context.Context) error
	duration time.Duration
}

// soakFault draws the next fault from rng.
func soakFault(c *clouds.Clouds, rng *rand.Rand) fault {
	cloud := []string{clouds.AWS, clouds.GCP}[rng.IntN(2)]
	d := time.Duration(5+rng.IntN(56)) * time.Second
	clear := func(ctx context.Context) error { return c.Clear(ctx, cloud) }
	switch rng.IntN(5) {
	case 0:
		return fault{name: fmt.Sprintf("cut %s", cloud), duration: d, lift: clear,
			apply: func(ctx context.Context) error { return c.Cut(ctx, cloud) }}
	case 1:
		rtt := time.Duration(10+rng.IntN(90)) * time.Millisecond
		return fault{name: fmt.Sprintf("latency %s %s ± %s", cloud, rtt, rtt/5), duration: d, lift: clear,
			apply: func(context.Context) error { return c.Latency(cloud, rtt, rtt/5) }}
	case 2:
		mbit := int64(1 + rng.IntN(20))
		return fault{name: fmt.Sprintf("bandwidth %s %d Mbit/s", cloud, mbit), duration: d, lift: clear,
			apply: func(ctx context.Context) error { return c.Bandwidth(ctx, cloud, mbit*1_000_000) }}
	case 3:
		share := 0.1 + 0.4*rng.Float64()
		return fault{name: fmt.Sprintf("resets %s %.0f%%", cloud, 100*share), duration: d, lift: clear,
			apply: func(context.Context) error { return c.Resets(cloud, share, 2*time.Second) }}
	}
	cl, _ := c.Cluster(cloud)
	id := cl.Brokers()[0].ID
	return fault{name: fmt.Sprintf("kill %s broker %d", cloud, id), duration: d,
		apply: func(context.Context) error { return cl.KillBroker(id) },
		lift:  func(ctx context.Context) error { return cl.StartBroker(ctx, id) }}
}

// TestSoak runs only with -soak DURATION: faults drawn from a printed seed, one
// after another under a steady load, each lifted and measured (time to zero lag,
// against the source end at the moment it was lifted), then the full comparison.
// It writes a report to bench/results.
//
//	./tools/test -tags faults ./internal/clouds/ -run TestSoak -soak 2h -timeout 3h
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("soak mode only: -soak DURATION")
	}
	c := sharedClouds(t)
	ctx := context.Background()
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("soak seed %d (replay with -soak %s -soak-seed %d)", seed, *soakFor, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const rate = 2000
	l := startLoad(t, c, 6, rate, rate*int(soakFor.Seconds()+120))
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 1000)

	began := time.Now()
	var rows []string
	var maxLag int64
	var worst time.Duration
	for time.Since(began) < *soakFor {
		f := soakFault(c, rng)
		if err := f.apply(ctx); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		// Sample the lag every second while the fault lasts.
		tick := time.NewTicker(time.Second)
		for end := time.After(f.duration); ; {
			r.alive(t)
			if s, err := r.status(); err == nil {
				maxLag = max(maxLag, s.Overview.LagRecords)
			}
			select {
			case <-tick.C:
				continue
			case <-end:
			}
			break
		}
		tick.Stop()
		if err := f.lift(ctx); err != nil {
			t.Fatalf("lift %s: %v", f.name, err)
		}
		lifted := time.Now()
		var goal map[int32]int64
		kafkatest.Eventually(t, 5*time.Minute, func() error {
			r.alive(t)
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if goal == nil {
				var err error
				if goal, err = endOffsets(cctx, c.Source, l.topic); err != nil {
					return err
				}
			}
			now, err := endOffsets(cctx, c.Target, l.topic)
			if err != nil {
				return err
			}
			for p, e := range goal {
				if now[p] < e {
					return fmt.Errorf("%s[%d] at %d of %d", l.topic, p, now[p], e)
				}
			}
			return nil
		})
		rec := time.Since(lifted)
		worst = max(worst, rec)
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %.1f |", lifted.Sub(began).Round(time.Second), f.name, f.duration, rec.Seconds()))
		t.Logf("%s for %s: zero lag %.1fs after lifting", f.name, f.duration, rec.Seconds())
	}
	if err := l.producer.Wait(ctx); err == nil {
		t.Log("the producer finished before the soak ended")
	}
	o := finish(t, c, r, l, time.Now(), 5*time.Minute)
	copied, _ := r.metric("kmigrate_bytes_copied_total")
	report := fmt.Sprintf(`# Soak: kmigrate between two clouds under a random fault schedule

- date: %s, duration %s, seed %d (replay: `+"`./tools/test -tags faults ./internal/clouds/ -run TestSoak -soak %s -soak-seed %d -timeout 4h`"+`)
- machine: %d cores, %s/%s
- load: Apache VerifiableProducer at %d records/s, acks=all, 6 partitions, a VerifiableConsumer group
- records: %d acked, %d on the target, %.0f key+value bytes copied
- lost %d, duplicated %d, reordered %d (must be 0); group positions exact: %v
- max lag during a fault: %d records; worst time to zero lag after lifting a fault: %.1f s

| at | fault | lasted | zero lag after lifting (s) |
|---|---|---|---|
%s
`, time.Now().UTC().Format(time.RFC3339), soakFor.String(), seed, soakFor.String(), seed, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		rate, o.cmp.Acked, o.cmp.Target, copied, o.cmp.Missing, o.cmp.Duplicated, o.cmp.Reordered, !t.Failed(),
		maxLag, worst.Seconds(), strings.Join(rows, "\n"))
	out := *soakOut
	if out == "" {
		out = filepath.Join("..", "..", "bench", "results", time.Now().UTC().Format("2006-01-02")+"-soak.md")
	}
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("report in %s", out)
	r.stop(t)
}
