package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

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

// output holds the --format and --out flags of a reporting command.
type output struct {
	format  string
	outFile string
	allowed []string
}

func (o *output) register(cmd *cobra.Command, allowed ...string) {
	o.allowed = allowed
	cmd.Flags().StringVar(&o.format, "format", formatText, "output format: "+strings.Join(allowed, ", "))
}

func (o *output) registerOut(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.outFile, "out", "", "write the report to this file instead of stdout")
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
	if o.outFile == "" {
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
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	case formatMarkdown:
		if markdown != nil {
			return markdown(w)
		}
	}
	return text(w)
}
