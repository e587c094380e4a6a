package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the command-line settings of one benchmark.
type options struct {
	size        int64           // bytes of record values in the backlog data set
	recordSize  int             // bytes of one record value
	partitions  int             // partitions of every topic
	runs        int             // measured runs; each figure is the median
	rate        int64           // steady-state producer rate, bytes of values per second
	steady      time.Duration   // measured steady-state window; 0 skips the phase
	warmup      time.Duration   // steady-state production before the window opens
	settle      time.Duration   // how long translated group offsets must stay unchanged
	timeout     time.Duration   // bound of one phase (copy, steady state, group wait)
	name        string          // results file: <out>/<date>-<name>.md
	out         string          // directory of results files
	dir         string          // work directory: clusters, configs, logs, profiles
	keep        bool            // leave the clusters running at the end
	brokerHeap  string          // KAFKA_HEAP_OPTS of the brokers
	mm2Heap     string          // heap of the MirrorMaker 2 JVM
	kmigrateBin string          // prebuilt kmigrate; empty builds ./cmd/kmigrate
	profile     bool            // one extra, unmeasured kmigrate copy with a CPU profile
	note        string          // a paragraph for the results file
	tools       map[string]bool // tools to measure, by name
	quick       bool
}

// Defaults of the full benchmark, and of --quick (a smoke test of the harness).
const (
	defaultSize   = 2 << 30
	quickSize     = 200 << 20
	defaultSteady = 60 * time.Second
	quickSteady   = 15 * time.Second
	defaultWarmup = 10 * time.Second
	quickWarmup   = 5 * time.Second
)

// parseOptions reads the command line. --quick changes the defaults of the flags
// that were not given.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.String("size", "2GiB", "size of the backlog data set (record values): B, KB, MB, GB (powers of 10), KiB, MiB, GiB")
	rate := fs.String("rate", "20MB", "steady-state producer rate, bytes of record values per second")
	fs.IntVar(&o.recordSize, "record-size", 1024, "bytes of one record value")
	fs.IntVar(&o.partitions, "partitions", 16, "partitions of every topic (and MirrorMaker 2's tasks.max)")
	fs.IntVar(&o.runs, "runs", 3, "measured runs; every figure is the median of the runs, with its spread")
	fs.DurationVar(&o.steady, "steady", defaultSteady, "measured steady-state window per tool; 0 skips the steady state")
	fs.DurationVar(&o.warmup, "warmup", defaultWarmup, "steady-state production before the measured window opens")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "translated group offsets must stay unchanged this long to count as final")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound of each phase")
	fs.StringVar(&o.name, "name", "mm2-vs-kmigrate", "results file name: <out>/<date>-<name>.md")
	fs.StringVar(&o.out, "out", "", "directory of the results file (default bench/results of the module)")
	fs.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "kmigrate-bench"), "work directory: clusters, configurations, logs, profiles")
	fs.BoolVar(&o.keep, "keep", false, "leave both clusters running at the end")
	fs.StringVar(&o.brokerHeap, "broker-heap", "-Xms1g -Xmx1g", "heap of each broker (KAFKA_HEAP_OPTS; Kafka's own default)")
	fs.StringVar(&o.mm2Heap, "mm2-heap", "-Xms256m -Xmx2g", "heap of MirrorMaker 2 (the default of connect-mirror-maker.sh)")
	fs.StringVar(&o.kmigrateBin, "kmigrate", "", "kmigrate binary to measure (default: built from ./cmd/kmigrate)")
	fs.BoolVar(&o.profile, "profile", true, "after the measured runs, one more kmigrate copy with --cpuprofile; its top functions go in the results")
	toolList := fs.String("tools", "mm2,kmigrate", "tools to measure (for development; the results need both)")
	fs.StringVar(&o.note, "note", "", "a paragraph to put at the top of the results file (conditions of the run)")
	fs.BoolVar(&o.quick, "quick", false, "smoke test of the harness: --size 200MiB --runs 1 --steady 15s --warmup 5s unless given")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, errUsage // the flag package has printed it, with the usage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("parse arguments: unexpected %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["size"] {
			*size = "200MiB"
		}
		if !set["runs"] {
			o.runs = 1
		}
		if !set["steady"] {
			o.steady = quickSteady
		}
		if !set["warmup"] {
			o.warmup = quickWarmup
		}
		if !set["name"] {
			o.name = "quick"
		}
	}
	var errs []error
	var err error
	if o.size, err = parseBytes(*size); err != nil {
		errs = append(errs, fmt.Errorf("--size: %w", err))
	}
	if o.rate, err = parseBytes(*rate); err != nil {
		errs = append(errs, fmt.Errorf("--rate: %w", err))
	}
	if o.recordSize < 1 || o.recordSize > 900_000 {
		errs = append(errs, fmt.Errorf("--record-size %d: want 1 to 900000", o.recordSize))
	}
	if o.partitions < 1 {
		errs = append(errs, fmt.Errorf("--partitions %d: want at least 1", o.partitions))
	}
	if o.runs < 1 {
		errs = append(errs, fmt.Errorf("--runs %d: want at least 1", o.runs))
	}
	if o.size > 0 && o.recordSize > 0 && o.size/int64(o.recordSize) < int64(o.partitions)*2 {
		errs = append(errs, fmt.Errorf("--size %s: too small for %d partitions of %d-byte records", *size, o.partitions, o.recordSize))
	}
	if o.steady < 0 || o.warmup < 0 {
		errs = append(errs, errors.New("--steady and --warmup: want durations of 0 or more"))
	}
	o.tools = map[string]bool{}
	for _, t := range strings.Split(*toolList, ",") {
		switch strings.TrimSpace(t) {
		case "mm2":
			o.tools[toolMM2] = true
		case "kmigrate":
			o.tools[toolKmigrate] = true
		default:
			errs = append(errs, fmt.Errorf("--tools: unknown tool %q (want mm2, kmigrate)", t))
		}
	}
	if o.name == "" || strings.ContainsAny(o.name, `/\`) {
		errs = append(errs, fmt.Errorf("--name %q: want a file name without slashes", o.name))
	}
	return o, errors.Join(errs...)
}

// records is the number of records of the backlog data set.
func (o *options) records() int64 { return o.size / int64(o.recordSize) }

// steadyRecordRate is the steady-state rate in records per second.
func (o *options) steadyRecordRate() int64 { return max(1, o.rate/int64(o.recordSize)) }

// byteUnits maps suffixes to multipliers; longest suffixes are tried first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseBytes reads a size such as 2GiB, 200MiB, 20MB or 1048576.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	num := s
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("parse size %q: want a positive number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	return int64(f * float64(mult)), nil
}

// formatBytes prints a byte count with a binary unit, as the flags accept it.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d B", n)
}
