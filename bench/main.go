// Command bench measures kmigrate beside Apache Kafka's MirrorMaker 2 on the same
// data and the same clusters, and writes the results to bench/results.
//
//	go run ./bench                       # 2 GiB, 3 runs, 60 s steady state per tool
//	go run ./bench --quick               # 200 MiB, 1 run, 15 s: a smoke test of the harness
//
// One invocation starts two single-node Apache Kafka clusters (internal/kafkatest),
// writes a fixed data set to the source with Apache Kafka's ProducerPerformance,
// and commits a consumer group in the middle of it. Each run then measures:
//
//   - the ceiling: the target's own ingest of the same records with the same tool;
//   - the copy of the backlog to an emptied target by MirrorMaker 2 (dedicated
//     mode) and by `kmigrate run --until-caught-up`: time, throughput, CPU seconds
//     and peak RSS of the tool's process;
//   - the translation of the group by each tool: records re-read or skipped when
//     the group resumes on the target, against the exact position;
//   - a steady state: a producer at a fixed rate while each tool follows, and the
//     latency from a record's create time to its arrival at a consumer on the
//     target.
//
// Every figure in the results file is the median of the runs, with its spread.
// What is exact: record counts, offsets, the group comparison, CPU time and peak
// RSS (kernel accounting). What is approximate: copy times (to the 100 ms poll
// interval) and latencies (to the millisecond of record timestamps, plus the
// measuring consumer's own fetch delay, which both tools share). On a shared
// machine every figure also depends on what else runs; the file records the load
// average before and after.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, errHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// errUsage is a command-line error the flag package has already printed, and
// errHelp a request for the usage, printed too.
var (
	errUsage = errors.New("bad command line")
	errHelp  = errors.New("help requested")
)

// run is the whole benchmark; it returns when the results file is written.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	rep := &report{o: o, command: "go run ./bench " + strings.Join(args, " "), started: time.Now(), loadBefore: loadAvg()}
	if len(args) == 0 {
		rep.command = "go run ./bench"
	}
	if firstLoad(rep.loadBefore) > 1.5 {
		log.Warn("the machine is busy: figures will be lower and noisier than on a quiet machine", "load_average", rep.loadBefore)
	}

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "results")
	}
	work := filepath.Join(o.dir, time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	log.Info("benchmark", "size", formatBytes(o.size), "records", o.records(), "runs", o.runs, "work", work)

	bin := o.kmigrateBin
	if bin == "" {
		if bin, err = buildKmigrate(ctx, root, work); err != nil {
			return err
		}
	}
	r, err := startRig(ctx, o, log, work)
	if err != nil {
		return err
	}
	defer r.close()
	r.kmigrate = bin
	rep.kafkaVersion, rep.java = r.src.KafkaVersion, r.java.javaVersion()
	if nodes := r.tgt.Brokers(); len(nodes) > 0 {
		if data, err := os.ReadFile(nodes[0].ConfigFile); err == nil {
			rep.brokerConfig = redactPaths(string(data))
		}
	}
	rep.mm2Copy = mm2Properties(r.src, r.tgt, backlogTopic, o.partitions, phaseCopy)
	rep.kmigrateConfig = kmigrateConfig(r.src, r.tgt, "bench-<run>-kmigrate-copy", backlogTopic)

	want, err := r.loadBacklog(ctx)
	if err != nil {
		return err
	}
	tools := map[string]tool{toolMM2: mm2{r}, toolKmigrate: kmigrate{r: r}}
	for i := 1; i <= o.runs; i++ {
		rr, err := r.oneRun(ctx, i, tools, want)
		if err != nil {
			rep.failure = fmt.Errorf("run %d: %w", i, err)
			log.Error("run failed", "run", i, "err", err)
			break
		}
		rep.runs = append(rep.runs, rr)
	}
	if o.profile && o.tools[toolKmigrate] && rep.failure == nil && ctx.Err() == nil {
		rep.profile, rep.profileNote = r.profileKmigrate(ctx, root, want)
	}
	rep.finished, rep.loadAfter = time.Now(), loadAvg()
	if len(rep.runs) == 0 {
		return rep.failure
	}
	path := filepath.Join(o.out, rep.started.Format("2006-01-02")+"-"+o.name+".md")
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(path, []byte(rep.markdown()), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintln(stdout, path)
	return rep.failure
}

// oneRun measures the ceiling, then each tool's copy, then each tool's steady
// state, the tools in alternating order.
func (r *rig) oneRun(ctx context.Context, n int, tools map[string]tool, want map[int32]int64) (runResult, error) {
	rr := runResult{copies: map[string]copyResult{}, steady: map[string]latencyResult{}}
	var err error
	if rr.ceiling, err = r.ceiling(ctx, n); err != nil {
		return rr, err
	}
	for _, name := range runOrder(n) {
		if !r.o.tools[name] {
			continue
		}
		if rr.copies[name], err = r.copyBacklog(ctx, tools[name], n, want); err != nil {
			return rr, err
		}
	}
	for _, name := range runOrder(n) {
		if !r.o.tools[name] || r.o.steady == 0 {
			continue
		}
		if rr.steady[name], err = r.steadyState(ctx, tools[name], n); err != nil {
			return rr, err
		}
	}
	return rr, nil
}

// profileKmigrate runs one more, unmeasured, kmigrate copy with a CPU profile and
// returns the top of `go tool pprof`, or a note saying why there is none.
func (r *rig) profileKmigrate(ctx context.Context, root string, want map[int32]int64) (top, note string) {
	help, _ := exec.CommandContext(ctx, r.kmigrate, "run", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--cpuprofile") {
		return "", "No profile: this kmigrate binary has no `run --cpuprofile` flag."
	}
	prof := filepath.Join(r.work, "kmigrate-copy.pprof")
	res, err := r.copyBacklog(ctx, kmigrate{r: r, extra: []string{"--cpuprofile", prof}}, -1, want)
	if err != nil {
		return "", fmt.Sprintf("No profile: the profiled copy failed: `%s`", oneLine(err.Error()))
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=35", r.kmigrate, prof)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Sprintf("No profile: go tool pprof failed: %v", err)
	}
	return string(out), fmt.Sprintf("`kmigrate run --until-caught-up --cpuprofile` over one more copy of the backlog (not counted above: %.1f s, %.1f MB/s, %.1f CPU s), `go tool pprof -top -nodecount=35`:",
		res.elapsed.Seconds(), res.rate()/1e6, res.use.cpu.Seconds())
}

// redactPaths drops the lines of a server.properties that only name local paths
// and ports, which say nothing about the set-up.
func redactPaths(props string) string {
	var keep []string
	for _, line := range strings.Split(props, "\n") {
		k, _, _ := strings.Cut(line, "=")
		switch k {
		case "log.dirs", "listeners", "advertised.listeners", "controller.quorum.voters":
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}
