package inventory

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kmigrate/kmigrate/internal/units"
)

// table is a report table, printed aligned for text and as a Markdown table.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// text prints the table aligned, each line indented.
func (t *table) text(w io.Writer, indent string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, indent+strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, indent+strings.Join(r, "\t"))
	}
	tw.Flush()
}

// markdown prints the table as GitHub-flavoured Markdown.
func (t *table) markdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.header, " | ")+" |")
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintln(w, "|"+strings.Join(seps, "|")+"|")
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = mdEscape(c)
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	fmt.Fprintln(w)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// num prints a count with units.Count, "?" for Unknown.
func num(n int64) string {
	if n < 0 {
		return "?"
	}
	return units.Count(n)
}

// records prints a record count, marked when it is an upper bound.
func records(n int64, upper bool) string {
	if upper && n >= 0 {
		return "≤" + num(n)
	}
	return num(n)
}

// size prints a size with units.Bytes, "?" for Unknown.
func size(n int64) string {
	if n < 0 {
		return "?"
	}
	return units.Bytes(n)
}

// stamp prints a Unix millisecond timestamp in UTC, "-" for Unknown.
func stamp(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// ago prints a duration in milliseconds compactly: 850ms, 12s, 3m20s, 5h, 12d.
func ago(ms int64) string {
	if ms < 0 {
		return "?"
	}
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return d.String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
