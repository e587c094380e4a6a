package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// Output formats a command can print.
const (
	formatText     = "text"
	formatJSON     = "json"
	formatYAML     = "yaml"
	formatMarkdown = "markdown"
)

// formats are the output formats of every reporting command. A command
// without a Markdown rendering of its own prints its text in Markdown.
var formats = []string{formatText, formatJSON, formatYAML, formatMarkdown}

// output holds the flags every reporting command shares, with the same names,
// choices and meaning: --format, --out and --timeout.
type output struct {
	format  string
	outFile string
	timeout time.Duration
	allowed []string
}

// register adds --format, --out and --timeout to cmd; timeout is the default
// of --timeout (0: no limit).
func (o *output) register(cmd *cobra.Command, timeout time.Duration) {
	o.allowed = formats
	f := cmd.Flags()
	f.StringVar(&o.format, "format", formatText, "output format: "+strings.Join(formats, ", "))
	f.StringVar(&o.outFile, "out", "", "write the report to this file instead of stdout")
	f.DurationVar(&o.timeout, "timeout", timeout, "how long the whole command may take (0: no limit)")
}

// context returns ctx bounded by --timeout.
func (o *output) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("--timeout %s reached", o.timeout))
}

func (o *output) validate() error {
	for _, a := range o.allowed {
		if o.format == a {
			return nil
		}
	}
	return fmt.Errorf("--format %q: use one of %s", o.format, strings.Join(o.allowed, ", "))
}

// writer returns where the report goes and a function that closes it.
func (o *output) writer(stdout io.Writer) (io.Writer, func() error, error) {
	if o.outFile == "" || o.outFile == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(o.outFile)
	if err != nil {
		return nil, nil, fmt.Errorf("create report file: %w", err)
	}
	return f, f.Close, nil
}

// render writes v as JSON or YAML, or calls the command's own text or Markdown
// writer.
func (o *output) render(w io.Writer, v any, text, markdown func(io.Writer) error) error {
	switch o.format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		// Through JSON, so that YAML has the field names JSON has.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		return enc.Close()
	case formatMarkdown:
		if markdown != nil {
			return markdown(w)
		}
		fmt.Fprintln(w, "```")
		if err := text(w); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, "```")
		return err
	}
	return text(w)
}
