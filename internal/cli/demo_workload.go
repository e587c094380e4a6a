package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The demo's workload: two embedded clusters, the records and consumer groups
// present before the migration, and the applications that keep running.

func (d *demo) startClusters() error {
	var err error
	d.aws, err = kfake.NewCluster(kfake.NumBrokers(3), kfake.ClusterID("aws"))
	if err != nil {
		return fmt.Errorf("start cluster aws: %w", err)
	}
	d.gcp, err = kfake.NewCluster(kfake.NumBrokers(3), kfake.ClusterID("gcp"))
	if err != nil {
		d.aws.Close()
		return fmt.Errorf("start cluster gcp: %w", err)
	}
	return nil
}

// seed creates the topics and writes the workload present before the
// migration starts.
func (d *demo) seed(ctx context.Context) error {
	compact := "compact"
	isr := "2"
	for _, t := range []struct {
		name       string
		partitions int32
		configs    map[string]*string
	}{
		{demoUserEvents, 8, map[string]*string{"min.insync.replicas": &isr}},
		{demoOrders, 4, map[string]*string{"min.insync.replicas": &isr}},
		{demoTenantConfig, 3, map[string]*string{"min.insync.replicas": &isr, "cleanup.policy": &compact}},
		{demoAudit, 2, map[string]*string{"min.insync.replicas": &isr}},
	} {
		resp, err := d.adm.CreateTopic(ctx, t.partitions, 3, t.configs, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	now := time.Now()
	// Timestamps spread over the last 20 minutes, as if the topics had history.
	past := func(i, n int) time.Time {
		return now.Add(-20 * time.Minute).Add(time.Duration(i) * 20 * time.Minute / time.Duration(n))
	}
	const users, orders = 20000, 6000
	for i := range users {
		d.send(d.userEvent(past(i, users)))
	}
	for i := range orders {
		d.send(d.orderUpdate(i/4, i%4, past(i, orders)))
	}
	// tenant-config in rounds, each its own batch, so that compaction has
	// older batches to clean: 60 tenants, 8 versions, then 6 tombstones.
	for round := range 8 {
		for tenant := range 60 {
			d.send(d.tenantConfig(tenant, round, past(round*60+tenant, 9*60)))
		}
		if err := d.cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush %s: %w", demoTenantConfig, err)
		}
	}
	for _, tenant := range []int{3, 11, 19, 27, 35, 43} {
		d.send(&kgo.Record{Topic: demoTenantConfig, Key: fmt.Appendf(nil, "tenant-%03d", tenant), Timestamp: now.Add(-time.Minute),
			Headers: []kgo.RecordHeader{{Key: "deleted-by", Value: []byte("offboarding")}}})
	}
	if err := d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", demoTenantConfig, err)
	}
	// The active (last) batch is never compacted: one more small round.
	for tenant := range 5 {
		d.send(d.tenantConfig(tenant, 8, now.Add(-30*time.Second)))
	}
	for i := range 3000 {
		d.send(&kgo.Record{Topic: demoAudit, Partition: int32(i % 2), Key: fmt.Appendf(nil, "audit-%06d", i),
			Value: fmt.Appendf(nil, `{"seq":%d,"actor":"svc-%d","action":"%s"}`, i, i%17, []string{"login", "grant", "revoke", "export"}[i%4]), Timestamp: past(i, 3000)})
	}
	if err := d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush the workload: %w", err)
	}
	d.aws.Compact()
	// Retention moved the earliest offset of audit-log.
	if _, err := d.adm.DeleteRecords(ctx, kadm.Offsets{demoAudit: {
		0: {Topic: demoAudit, Partition: 0, At: 600}, 1: {Topic: demoAudit, Partition: 1, At: 600},
	}}); err != nil {
		return fmt.Errorf("delete the oldest records of %s: %w", demoAudit, err)
	}
	return d.commitGroups(ctx)
}

// send produces r asynchronously and counts it once acknowledged.
func (d *demo) send(r *kgo.Record) {
	d.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err == nil {
			d.produced.Add(1)
		} else if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
			d.log.Warn("demo producer", "err", err)
		}
	})
}

var (
	demoEvents    = []string{"page_view", "page_view", "page_view", "click", "click", "add_to_cart", "purchase", "signup"}
	demoPages     = []string{"/", "/search", "/product/42", "/product/7", "/cart", "/checkout", "/account"}
	demoSources   = []string{"web", "ios", "android"}
	demoOrderFlow = []string{"created", "paid", "shipped", "delivered"}
	demoPlans     = []string{"free", "team", "business", "enterprise"}
)

func (d *demo) userEvent(ts time.Time) *kgo.Record {
	user := d.rng.IntN(2500)
	ev := demoEvents[d.rng.IntN(len(demoEvents))]
	return &kgo.Record{
		Topic: demoUserEvents, Key: fmt.Appendf(nil, "user-%05d", user), Timestamp: ts,
		Value: fmt.Appendf(nil, `{"user":"user-%05d","event":"%s","page":"%s","session":"%016x","ts":%d}`,
			user, ev, demoPages[d.rng.IntN(len(demoPages))], d.rng.Uint64(), ts.UnixMilli()),
		Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte("application/json")},
			{Key: "source", Value: []byte(demoSources[d.rng.IntN(len(demoSources))])},
			{Key: "trace-id", Value: fmt.Appendf(nil, "%032x", d.rng.Uint64())},
		},
	}
}

func (d *demo) orderUpdate(order, step int, ts time.Time) *kgo.Record {
	return &kgo.Record{
		Topic: demoOrders, Key: fmt.Appendf(nil, "order-%06d", order), Timestamp: ts,
		Value: fmt.Appendf(nil, `{"order":"order-%06d","status":"%s","amount_cents":%d,"currency":"EUR"}`,
			order, demoOrderFlow[step%len(demoOrderFlow)], 500+(order*7919)%50000),
		Headers: []kgo.RecordHeader{{Key: "schema", Value: []byte("order.v3")}},
	}
}

func (d *demo) tenantConfig(tenant, version int, ts time.Time) *kgo.Record {
	return &kgo.Record{
		Topic: demoTenantConfig, Key: fmt.Appendf(nil, "tenant-%03d", tenant), Timestamp: ts,
		Value: fmt.Appendf(nil, `{"tenant":"tenant-%03d","version":%d,"plan":"%s","seats":%d,"sso":%t}`,
			tenant, version, demoPlans[(tenant+version)%len(demoPlans)], 5+tenant*version%200, version%2 == 0),
	}
}

// commitGroups commits the consumer groups' positions on aws, at different lags.
func (d *demo) commitGroups(ctx context.Context) error {
	topics := []string{demoUserEvents, demoOrders, demoTenantConfig, demoAudit}
	starts, err := d.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := d.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	at := func(topic string, f func(start, end int64) int64) kadm.Offsets {
		os := kadm.Offsets{}
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Topic == topic && o.Err == nil && s.Err == nil {
				os.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: f(s.Offset, o.Offset), LeaderEpoch: -1})
			}
		})
		return os
	}
	for _, c := range []struct {
		group string
		os    kadm.Offsets
	}{
		{"search-indexer", at(demoUserEvents, func(_, end int64) int64 { return end })},
		{"analytics", at(demoUserEvents, func(_, end int64) int64 { return end * 6 / 10 })},
		{"billing", at(demoOrders, func(_, end int64) int64 { return max(0, end-150) })},
		// Between compaction holes, most likely: the translation stays exact.
		{"config-cache", at(demoTenantConfig, func(start, end int64) int64 { return start + (end-start)/2 })},
		{"audit-archiver", at(demoAudit, func(start, _ int64) int64 { return start + 400 })},
	} {
		if err := d.adm.CommitAllOffsets(ctx, c.group, c.os); err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", c.group, err)
		}
	}
	return nil
}

// produce is the application that keeps writing to aws until ctx is done.
func (d *demo) produce(ctx context.Context) {
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	order := 100000
	perTick := max(1, d.o.rate/10)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			if err := d.cl.Flush(context.Background()); err != nil {
				d.log.Warn("flush the demo producer", "err", err)
			}
			return
		case <-t.C:
		}
		now := time.Now()
		for i := range perTick {
			switch {
			case i%10 < 7:
				d.send(d.userEvent(now))
			case i%10 < 9:
				d.send(d.orderUpdate(order+i/4, i%4, now))
			default:
				d.send(d.tenantConfig(d.rng.IntN(60), 9+n, now))
			}
		}
		order += perTick
	}
}

// consume is the analytics consumer: it commits its way towards the end of
// user-events, 200 records per partition every two seconds.
func (d *demo) consume(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.commits.Lock()
		d.commitAnalytics(ctx)
		d.commits.Unlock()
	}
}

func (d *demo) commitAnalytics(ctx context.Context) {
	committed, err := d.adm.FetchOffsets(ctx, "analytics")
	if err != nil {
		return
	}
	ends, err := d.adm.ListEndOffsets(ctx, demoUserEvents)
	if err != nil {
		return
	}
	next := kadm.Offsets{}
	committed.Each(func(o kadm.OffsetResponse) {
		if e, ok := ends.Lookup(o.Topic, o.Partition); ok && o.Err == nil {
			next.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: min(e.Offset, o.At+200), LeaderEpoch: -1})
		}
	})
	if _, err := d.adm.CommitOffsets(ctx, "analytics", next); err != nil && ctx.Err() == nil {
		d.log.Warn("demo consumer commit", "err", err)
	}
}
