package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func yes() *bool                         { v := true; return &v }
func no() *bool                          { v := false; return &v }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func lastLine(s string) string           { i := strings.LastIndex(s, "\r\x1b[K"); return s[i+4:] }
func countDraws(s string) int            { return strings.Count(s, "\r\x1b[K") }
func newBar(out *bytes.Buffer, c *clock) *Bar {
	return New(out, Options{Title: "copy", Unit: "records", Total: 1000, Terminal: yes(), Width: 100, Now: c.now})
}

func TestTerminalBar(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := newBar(&out, c)
	b.Set(0, 0)
	if got := lastLine(out.String()); !strings.Contains(got, "  0.0%  0/1,000 records") || !strings.Contains(got, "[░░░░") {
		t.Errorf("first draw %q", got)
	}
	// Redraws are throttled.
	b.Set(10, 0)
	if n := countDraws(out.String()); n != 1 {
		t.Errorf("%d draws within the redraw interval, want 1", n)
	}
	c.advance(2 * time.Second)
	b.Set(500, 0)
	got := lastLine(out.String())
	for _, want := range []string{"copy [", "█", " 50.0%  500/1,000 records", "250/s", "ETA 2s"} {
		if !strings.Contains(got, want) {
			t.Errorf("draw %q lacks %q", got, want)
		}
	}
	if len([]rune(got)) > 100 {
		t.Errorf("draw is %d columns, wider than 100", len([]rune(got)))
	}
	c.advance(time.Second)
	b.Add(500)
	b.Finish()
	if got := out.String(); !strings.HasSuffix(got, "\n") || !strings.Contains(lastLine(got), "100.0%  1,000/1,000 records") || strings.Contains(lastLine(got), "ETA") {
		t.Errorf("final draw %q", lastLine(got))
	}
	n := out.Len()
	b.Set(2000, 0)
	b.Finish()
	if out.Len() != n {
		t.Error("the bar drew after Finish")
	}
}

func TestWriterKeepsLogsAndBarApart(t *testing.T) {
	var term bytes.Buffer // stdout and stderr on one terminal
	c := newClock()
	b := newBar(&term, c)
	w := b.Writer(&term)
	b.Set(100, 0)
	term.Reset()
	if _, err := w.Write([]byte("level=WARN msg=hello\n")); err != nil {
		t.Fatal(err)
	}
	got := term.String()
	if !strings.HasPrefix(got, "\r\x1b[Klevel=WARN msg=hello\n\r\x1b[Kcopy [") {
		t.Errorf("a log line while the bar shows: %q; want the bar cleared, the line, the bar again", got)
	}
	// Not a terminal: the writer is the one given.
	var plain bytes.Buffer
	nb := New(&plain, Options{Terminal: no()})
	if nb.Writer(&plain) != &plain {
		t.Error("a plain bar wrapped the writer")
	}
}

func TestPlainLines(t *testing.T) {
	var out, logs bytes.Buffer
	c := newClock()
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	b := New(&out, Options{Title: "scan", Unit: "partitions", Total: 200, Log: log, LogInterval: 5 * time.Second, Terminal: no(), Now: c.now})
	c.advance(time.Second)
	b.Set(20, 0)
	if logs.Len() != 0 {
		t.Errorf("logged before the interval: %s", logs.String())
	}
	c.advance(4 * time.Second)
	b.Set(100, 0)
	want := `level=INFO msg="scan progress" done=100 total=200 percent=50.0 unit=partitions per_second=20 eta=5s elapsed=5s` + "\n"
	if logs.String() != want {
		t.Errorf("log line\n got %q\nwant %q", logs.String(), want)
	}
	c.advance(time.Second)
	b.Set(150, 0)
	b.Finish()
	if n := strings.Count(logs.String(), "\n"); n != 2 || !strings.Contains(logs.String(), "done=150") {
		t.Errorf("after Finish: %q; want one more line with done=150", logs.String())
	}
	if out.Len() != 0 {
		t.Errorf("a plain bar wrote to its output: %q", out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}
