package inventory

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// doc is a report being written, in text or Markdown: the reports describe
// their content once and each doc lays it out.
type doc interface {
	title(s string)
	heading(s string)
	subheading(s string)
	line(s string)
	pairs(p [][2]string)
	table(t *table)
	// wide is a table whose later columns hold sentences: a terminal shows each
	// row as a block, Markdown as a table.
	wide(t *table)
	err() error
}

// textDoc lays a report out for a terminal: upper-case headings, aligned
// columns, two-space indents.
type textDoc struct {
	w io.Writer
}

func newTextDoc(w io.Writer) *textDoc { return &textDoc{w: &errWriter{w: w}} }

func (d *textDoc) title(s string) { fmt.Fprintln(d.w, s) }
func (d *textDoc) heading(s string) {
	fmt.Fprintf(d.w, "\n%s\n", strings.ToUpper(s))
}
func (d *textDoc) subheading(s string) { fmt.Fprintf(d.w, "\n  %s\n", s) }
func (d *textDoc) line(s string)       { fmt.Fprintf(d.w, "  %s\n", s) }
func (d *textDoc) pairs(p [][2]string) {
	tw := tabwriter.NewWriter(d.w, 0, 4, 2, ' ', 0)
	for _, kv := range p {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
}
func (d *textDoc) table(t *table) { t.text(d.w, "  ") }
func (d *textDoc) wide(t *table) {
	for _, r := range t.rows {
		fmt.Fprintf(d.w, "  %s  %s\n", r[0], r[1])
		for i := 2; i < len(r); i++ {
			switch {
			case r[i] == "-" || r[i] == "":
			case i == 2:
				fmt.Fprintf(d.w, "      %s\n", r[i])
			default:
				fmt.Fprintf(d.w, "      %s: %s\n", strings.ToLower(t.header[i]), r[i])
			}
		}
	}
}
func (d *textDoc) err() error { return d.w.(*errWriter).err }

// mdDoc lays a report out as Markdown, fit for pasting into a change ticket.
type mdDoc struct {
	w io.Writer
}

func newMarkdownDoc(w io.Writer) *mdDoc { return &mdDoc{w: &errWriter{w: w}} }

func (d *mdDoc) title(s string)      { fmt.Fprintf(d.w, "# %s\n\n", s) }
func (d *mdDoc) heading(s string)    { fmt.Fprintf(d.w, "## %s\n\n", s) }
func (d *mdDoc) subheading(s string) { fmt.Fprintf(d.w, "### %s\n\n", s) }
func (d *mdDoc) line(s string)       { fmt.Fprintf(d.w, "%s\n\n", s) }
func (d *mdDoc) pairs(p [][2]string) {
	for _, kv := range p {
		fmt.Fprintf(d.w, "- **%s**: %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(d.w)
}
func (d *mdDoc) table(t *table) { t.markdown(d.w) }
func (d *mdDoc) wide(t *table)  { t.markdown(d.w) }
func (d *mdDoc) err() error     { return d.w.(*errWriter).err }

// errWriter keeps the first write error so that report code can write freely
// and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
