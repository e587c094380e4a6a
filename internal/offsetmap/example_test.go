package offsetmap_test

import (
	"fmt"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
)

// A compacted source partition whose earliest offset is 1000 is copied to an
// empty target partition; compaction removed offsets 1003 and 1004.
func Example() {
	p, err := offsetmap.New(0, 1000)
	if err != nil {
		panic(err)
	}
	for _, src := range []int64{1000, 1001, 1002, 1005, 1006} {
		if err := p.Append(src); err != nil {
			panic(err)
		}
	}
	// A transaction marker at 1007 was read but not copied.
	if err := p.Advance(1008); err != nil {
		panic(err)
	}
	fmt.Println(p.Runs())
	for _, committed := range []int64{999, 1002, 1004, 1008, 1009} {
		fmt.Printf("group at %d -> %v\n", committed, p.Translate(committed))
	}
	// Output:
	// [source [1000,1003) -> target [0,3) source [1005,1007) -> target [3,5)]
	// group at 999 -> behind-start 0
	// group at 1002 -> exact 2
	// group at 1004 -> exact 3
	// group at 1008 -> exact 5
	// group at 1009 -> pending
}

// The replicator persists the map after each acknowledged batch: the run
// records, then the checkpoint, all to one state-topic partition; after a
// restart a Loader rebuilds it.
func ExamplePartition_Changes() {
	tp := offsetmap.TopicPartition{Topic: "orders", Partition: 3}
	p, _ := offsetmap.New(0, 0)
	_ = p.AppendRun(0, 100)
	_ = p.AppendRun(102, 50)

	changes := p.Changes()
	changes.Checkpoint.UnixMilli = 1_700_000_000_000
	records, _ := changes.Encode("prod-to-gcp", tp)
	// ... produce records in order, wait for the acknowledgements ...
	_ = p.MarkSynced(changes)

	loader := offsetmap.NewLoader("prod-to-gcp")
	for _, r := range records {
		_ = loader.Add(r.Key, r.Value)
	}
	rebuilt, _, err := loader.Rebuild(tp)
	fmt.Println(len(records), "records;", rebuilt, err)
	// Output:
	// 3 records; offset map source [0,152) -> target [0,150), 2 runs <nil>
}

// Bounding the map of a topic with many holes: the oldest runs are merged and
// translations inside them may re-deliver records, never skip them.
func ExamplePartition_SetMaxRuns() {
	p, _ := offsetmap.New(0, 0)
	_ = p.SetMaxRuns(2)
	for src := int64(0); src < 10; src += 2 {
		_ = p.Append(src)
	}
	start, end, _ := p.CoarsenedRange()
	fmt.Printf("%d runs, coarsened source [%d,%d)\n", p.NumRuns(), start, end)
	fmt.Println(p.Translate(3))
	fmt.Println(p.Translate(8))
	// Output:
	// 2 runs, coarsened source [0,7)
	// approximate 0 (up to 3 duplicates)
	// exact 4
}
