package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/units"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// The demo's steps that run kmigrate's own code: scan, plan and verify.

func (d *demo) scan(ctx context.Context, cfg *config.Config) error {
	snap, err := inventory.Scan(ctx, d.cl, inventory.Options{Role: kafka.Source, Topics: &cfg.Topics, Groups: &cfg.Groups, SkipCluster: true})
	if err != nil {
		return fmt.Errorf("scan aws: %w", err)
	}
	s := snap.Summary
	d.say("1. scan       aws: %d brokers, %d topics (%d compacted), %d partitions, %s records, %d consumer groups with a total lag of %s",
		s.Brokers, s.Topics, s.CompactedTopics, s.Partitions, units.Count(s.Records), s.Groups, units.Count(s.TotalLag))
	// The scan counts the offsets in the logs now; the workload counted the
	// records it wrote. Say why they differ.
	d.say("              (the %s records written, less the %s older ones deleted from the head of %s and those compaction removed from %s, plus what the live producer wrote since)",
		units.Count(d.seeded), units.Count(2*600), demoAudit, demoTenantConfig)
	return nil
}

func (d *demo) plan(ctx context.Context, cfg *config.Config) (*inventory.Plan, error) {
	b := &kafka.Builder{Logger: d.log}
	src, err := b.Client(ctx, kafka.Source, cfg.Source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	tgt, err := b.Client(ctx, kafka.Target, cfg.Target)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()
	plan, err := inventory.MakePlan(ctx, inventory.PlanOptions{
		Config: cfg, Source: src, Target: tgt,
		Rate: inventory.CopyRate{BytesPerSecond: inventory.DefaultAssumedRate, Origin: "default"},
		NewTargetReader: func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
			return b.Client(ctx, kafka.Target, cfg.Target, opts...)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	s := plan.Summary
	d.say("2. plan       create %d topics (%d partitions) on gcp; %d blockers, %d warnings", s.Create, s.Partitions, s.Blockers, s.Warnings)
	return plan, nil
}

// demoVerifyTimeout bounds one verification; the demo's take a second.
const demoVerifyTimeout = 30 * time.Second

func (d *demo) verify(ctx context.Context, cfg *config.Config, mode verify.Mode) (*verify.Report, error) {
	vctx, cancel := context.WithTimeout(ctx, demoVerifyTimeout)
	defer cancel()
	rep, err := verify.New(cfg, &kafka.Builder{Logger: d.log}, d.log).Verify(vctx, verify.Options{Mode: mode})
	if err != nil {
		if ctx.Err() == nil && vctx.Err() != nil {
			return nil, fmt.Errorf("verify (%s) did not finish within %s: %w", mode, demoVerifyTimeout, err)
		}
		return nil, fmt.Errorf("verify (%s): %w", mode, err)
	}
	d.rt.feed.SetVerify(rep)
	d.rt.verifyMetrics.Observe(rep)
	level := "info"
	if !rep.Pass {
		level = "error"
	}
	d.rt.feed.Event(replicate.Event{Time: time.Now(), Level: level, Message: "demo: verify " + verifyLine(rep)})
	for _, c := range rep.Failed() {
		for i, f := range c.Failures {
			if i == 3 {
				d.say("                %s: %d more", c.Name, c.Failed-i)
				break
			}
			d.say("                %s: %s %s", c.Name, f.Kind, f.Message)
		}
	}
	return rep, nil
}
