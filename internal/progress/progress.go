// Package progress shows the progress of long CLI work (a scan of many
// partitions, a copy until caught up, a full verification): a bar redrawn in
// place when the output is a terminal, and otherwise a plain log line every
// few seconds, so that logs and CI output stay readable.
//
// The rate is averaged over the last few seconds and the ETA assumes it holds:
// both are estimates. Done and total are whatever the caller counts (records,
// offsets, partitions) and are shown as given.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kmigrate/kmigrate/internal/units"
)

// Defaults of Options.
const (
	DefaultWidth       = 80
	DefaultLogInterval = 10 * time.Second
	redrawInterval     = 100 * time.Millisecond
	rateWindow         = 5 * time.Second
)

// Options configure a Bar.
type Options struct {
	// Title names the work, such as "copy" or "scan".
	Title string
	// Unit is what is counted, such as "records"; shown after the counts.
	Unit string
	// Total is the amount of work; 0 when not known yet (Set can give it).
	Total int64
	// Log receives the plain progress lines when the output is not a terminal;
	// nil prints none.
	Log *slog.Logger
	// LogInterval is the time between plain lines; default 10s.
	LogInterval time.Duration
	// Terminal overrides the detection of a terminal on the output.
	Terminal *bool
	// Width is the terminal width; default $COLUMNS, else 80.
	Width int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Bar reports the progress of one piece of work. Its methods are safe for
// concurrent use.
type Bar struct {
	out  io.Writer
	o    Options
	term bool

	mu       sync.Mutex
	done     int64
	total    int64
	started  time.Time
	samples  []point
	lastDraw time.Time
	lastLog  time.Time
	drawn    bool // the bar is on the current terminal line
	finished bool
}

type point struct {
	t    time.Time
	done int64
}

// New returns a bar that draws on out when out is a terminal, and logs plain
// lines to o.Log otherwise.
func New(out io.Writer, o Options) *Bar {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LogInterval <= 0 {
		o.LogInterval = DefaultLogInterval
	}
	if o.Width <= 0 {
		o.Width = DefaultWidth
		if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 20 {
			o.Width = n
		}
	}
	term := IsTerminal(out)
	if o.Terminal != nil {
		term = *o.Terminal
	}
	now := o.Now()
	return &Bar{out: out, o: o, term: term, total: o.Total, started: now, lastLog: now, samples: []point{{now, 0}}}
}

// IsTerminal reports whether w is a terminal (a character device).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Terminal reports whether the bar draws on a terminal.
func (b *Bar) Terminal() bool { return b.term }

// SetLogger sets where plain lines go; for callers that build their logger
// after the bar (see Writer).
func (b *Bar) SetLogger(l *slog.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.o.Log = l
}

// Set records the work done and the total (total 0 keeps the current one).
func (b *Bar) Set(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = done
	if total > 0 {
		b.total = total
	}
	b.updateLocked(false)
}

// Add records n more units of work done.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.updateLocked(false)
}

// Finish draws the final state and leaves the line (or logs a last line). Later
// calls do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.updateLocked(true)
	b.finished = true
	if b.term && b.drawn {
		fmt.Fprintln(b.out)
		b.drawn = false
	}
}

// Writer wraps w (standard error, where logs go) so that what is written to it
// while the bar is on the terminal does not collide with the bar: the bar's
// line is cleared, the text written, and the bar drawn again below it.
func (b *Bar) Writer(w io.Writer) io.Writer {
	if !b.term {
		return w
	}
	return writer{b, w}
}

type writer struct {
	b *Bar
	w io.Writer
}

func (wr writer) Write(p []byte) (int, error) {
	b := wr.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.out, "\r\x1b[K")
		b.drawn = false
	}
	n, err := wr.w.Write(p)
	if !b.finished && !b.lastDraw.IsZero() {
		b.drawLocked()
	}
	return n, err
}

func (b *Bar) updateLocked(force bool) {
	if b.finished {
		return
	}
	now := b.o.Now()
	b.samples = append(b.samples, point{now, b.done})
	cut := 0
	for i := range b.samples {
		if now.Sub(b.samples[i].t) >= rateWindow {
			cut = i
		}
	}
	b.samples = b.samples[cut:]
	if b.term {
		if force || now.Sub(b.lastDraw) >= redrawInterval {
			b.lastDraw = now
			b.drawLocked()
		}
		return
	}
	if force || now.Sub(b.lastLog) >= b.o.LogInterval {
		b.lastLog = now
		if b.o.Log != nil {
			b.o.Log.Info(b.o.Title+" progress", b.attrsLocked()...)
		}
	}
}

// rateLocked returns units per second over the window, and whether it is known.
func (b *Bar) rateLocked() (float64, bool) {
	first, last := b.samples[0], b.samples[len(b.samples)-1]
	dt := last.t.Sub(first.t).Seconds()
	if dt < 0.5 {
		return 0, false
	}
	return max(0, float64(last.done-first.done)) / dt, true
}

func (b *Bar) etaLocked() (time.Duration, bool) {
	rate, ok := b.rateLocked()
	if !ok || rate <= 0 || b.total <= 0 {
		return 0, false
	}
	left := max(0, b.total-b.done)
	return time.Duration(float64(left) / rate * float64(time.Second)), true
}

func (b *Bar) attrsLocked() []any {
	attrs := []any{"done", b.done}
	if b.total > 0 {
		attrs = append(attrs, "total", b.total, "percent", fmt.Sprintf("%.1f", 100*float64(b.done)/float64(b.total)))
	}
	if b.o.Unit != "" {
		attrs = append(attrs, "unit", b.o.Unit)
	}
	if rate, ok := b.rateLocked(); ok {
		attrs = append(attrs, "per_second", int64(rate))
	}
	if eta, ok := b.etaLocked(); ok {
		attrs = append(attrs, "eta", eta.Round(time.Second).String())
	}
	attrs = append(attrs, "elapsed", b.o.Now().Sub(b.started).Round(time.Second).String())
	return attrs
}

// drawLocked writes the bar over the current line:
// "copy  [████████░░░░░░░░]  52.0%  12,345/23,456 records  3,210/s  ETA 4s".
func (b *Bar) drawLocked() {
	var right strings.Builder
	if b.total > 0 {
		fmt.Fprintf(&right, " %5.1f%%  %s/%s", min(100, 100*float64(b.done)/float64(b.total)), units.Count(b.done), units.Count(b.total))
	} else {
		fmt.Fprintf(&right, "  %s", units.Count(b.done))
	}
	if b.o.Unit != "" {
		right.WriteString(" " + b.o.Unit)
	}
	if rate, ok := b.rateLocked(); ok {
		fmt.Fprintf(&right, "  %s/s", units.Count(int64(rate)))
	}
	if eta, ok := b.etaLocked(); ok && b.done < b.total {
		fmt.Fprintf(&right, "  ETA %s", eta.Round(time.Second))
	}
	left := b.o.Title + " "
	width := b.o.Width - len(left) - right.Len() - 3
	line := left
	if width >= 10 && b.total > 0 {
		width = min(width, 40)
		fill := int(float64(width) * min(1, float64(b.done)/float64(b.total)))
		line += "[" + strings.Repeat("█", fill) + strings.Repeat("░", width-fill) + "]"
	}
	fmt.Fprint(b.out, "\r\x1b[K"+line+right.String())
	b.drawn = true
}
