package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// usage is what a process consumed: CPU time (user plus system, of the process and
// of the children it waited for) and its peak resident memory.
type usage struct {
	cpu     time.Duration
	peakRSS int64 // bytes
}

// proc is a child process the benchmark starts, measures and stops.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   string
	start time.Time
	end   time.Time // when Wait returned; read after done is closed
	done  chan struct{}
	err   error // Wait's result; read after done is closed
}

// startProc starts cmd with its standard output and error appended to logFile.
// The child gets its own process group, so that a terminal's Ctrl-C reaches only
// the benchmark, which then stops its children in order.
func startProc(name string, cmd *exec.Cmd, logFile string) (*proc, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	fmt.Fprintf(f, "=== bench: %s starting %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.end = time.Now()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// usage returns what the process consumed so far: from /proc while it runs, from
// the kernel's accounting of the reaped child once it has ended. Both are the
// same counters.
func (p *proc) usage() (usage, error) {
	if !p.exited() {
		u, err := procUsage(p.pid())
		if err == nil {
			return u, nil
		}
		<-p.done // it ended between the check and the read
	}
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return usage{}, fmt.Errorf("read usage of %s: no resource usage", p.name)
	}
	return usage{
		cpu:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		peakRSS: ru.Maxrss << 10, // KiB on Linux
	}, nil
}

// wait waits for the process to end by itself and returns its error.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.exitErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *proc) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w; tail of %s:\n%s", p.name, p.err, p.log, tailFile(p.log, 25))
	}
	return nil
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. It returns the exit error
// of a process that had already ended by itself, nil otherwise.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() {
		return p.exitErr()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// procUsage reads the CPU time and peak RSS (VmHWM) of a live process.
func procUsage(pid int) (usage, error) {
	cpu, err := procCPU(pid)
	if err != nil {
		return usage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kib, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return usage{cpu: cpu, peakRSS: kib << 10}, nil
				}
			}
		}
	}
	return usage{}, fmt.Errorf("read status of process %d: no VmHWM (exited?)", pid)
}

// procCPU reads utime+stime+cutime+cstime of a live process from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// Fields follow the parenthesised command name, which may hold spaces: state
	// is field 3, utime 14, stime 15, cutime 16, cstime 17.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("read stat of process %d: malformed", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("read stat of process %d: malformed", pid)
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read stat of process %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// tailFile returns the last n lines of a file, reading at most its last 64 KiB.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	off := max(st.Size()-64<<10, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// hostBusy returns the CPU time every core of the host has spent busy (not idle,
// not waiting for I/O) since boot, from the first line of /proc/stat.
func hostBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}
