// Package cli is kmigrate's command tree: one file per verb, flags turned into
// configuration, and output in text, JSON, YAML or Markdown. Commands return errors;
// only main exits, with the code ExitCode chooses.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kmigrate/kmigrate/internal/cutover"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Streams are the standard streams a command uses.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// ExitError carries a specific exit code. A command returns it when its result is
// a failure the user must act on (a failed verification, a plan with blockers)
// after it printed its report; Msg, when set, is printed too.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// ExitCode prints err to w (unless it is a bare ExitError) and returns the process
// exit code: 0 for nil, the ExitError's code, 1 otherwise. Under --log-format
// json the line is a JSON log record, like every other line on w.
func ExitCode(err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	var jl *jsonLogged
	print := func(msg string) { fmt.Fprintln(w, "kmigrate:", msg) }
	if errors.As(err, &jl) {
		print = func(msg string) {
			slog.New(slog.NewJSONHandler(w, nil)).Error("kmigrate failed", "err", msg)
		}
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			print(ee.Msg)
		}
		return ee.Code
	}
	print(err.Error())
	return 1
}

// jsonLogged marks an error of a command run with --log-format json, so that
// ExitCode prints it as a JSON record. It does not change the message.
type jsonLogged struct{ err error }

func (e *jsonLogged) Error() string { return e.err.Error() }
func (e *jsonLogged) Unwrap() error { return e.err }

// errorObject is what a command run with --format json prints on stdout when
// it fails before its report: a machine reading stdout gets JSON either way.
type errorObject struct {
	Error   string `json:"error"`
	Command string `json:"command"`
}

// globals are the flags every command shares.
type globals struct {
	configFile string
	// reverse selects the reverse migration (target to source) of a migration
	// that was cut over.
	reverse   bool
	logLevel  string
	logFormat string
	streams   Streams
}

// logger builds the process logger from the flags; logs go to stderr so that
// stdout carries only reports.
func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(g.streams.Err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.streams.Err, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", g.logFormat)
}

// setup builds the logger and loads the configuration, the first two steps of
// every command that talks to the clusters.
func (g *globals) setup() (*slog.Logger, *config.Config, error) {
	log, err := g.logger()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(g.configFile)
	if err != nil {
		return nil, nil, err
	}
	if g.reverse {
		if cfg, err = cutover.ReverseConfig(cfg); err != nil {
			return nil, nil, err
		}
	}
	return log, cfg, nil
}

// Run executes the command line args. When the command fails before its
// report under --format json, a JSON error object goes to stdout; under
// --log-format json the error is marked for ExitCode to print as JSON.
func Run(ctx context.Context, args []string, streams Streams) error {
	root := newRoot(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	var ee *ExitError
	if cmd != nil && !errors.As(err, &ee) {
		if f := cmd.Flags().Lookup("format"); f != nil && f.Value.String() == formatJSON {
			enc := json.NewEncoder(streams.Out)
			enc.SetIndent("", "  ")
			_ = enc.Encode(errorObject{Error: err.Error(), Command: cmd.CommandPath()})
		}
	}
	if f := root.PersistentFlags().Lookup("log-format"); f != nil && strings.EqualFold(f.Value.String(), "json") {
		return &jsonLogged{err}
	}
	return err
}

func newRoot(streams Streams) *cobra.Command {
	g := &globals{streams: streams}
	root := &cobra.Command{
		Use:   "kmigrate",
		Short: "Move a live Kafka cluster to another cluster, losing nothing and proving it",
		Long: `kmigrate moves a live Apache Kafka cluster to another cluster without losing a
message, without breaking consumer-group state and without the applications
noticing. It takes inventory of both clusters, replicates every record byte for
byte with an exact source-to-target offset map, translates consumer-group
positions through that map, verifies the copy with counts and SHA-256 checks, and
walks you through a zero-loss cutover.`,
		Example: `  kmigrate demo                          # the whole story on embedded clusters
  kmigrate config check -c migration.yaml
  kmigrate scan -c migration.yaml --cluster source
  kmigrate plan -c migration.yaml
  kmigrate run -c migration.yaml
  kmigrate verify -c migration.yaml --mode sample`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetIn(streams.In)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configFile, "config", "c", envOr("KMIGRATE_CONFIG", "kmigrate.yaml"), "configuration file (env KMIGRATE_CONFIG)")
	pf.StringVar(&g.logLevel, "log-level", envOr("KMIGRATE_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.BoolVar(&g.reverse, "reverse", false, "work on the reverse migration (target to source, id <migration>"+cutover.ReverseSuffix+") that rolls back a cutover that ended GO")
	root.AddCommand(
		newVersionCmd(g),
		newConfigCmd(g),
		newScanCmd(g),
		newPlanCmd(g),
		newRunCmd(g),
		newGroupsCmd(g),
		newStatusCmd(g),
		newVerifyCmd(g),
		newSchemasCmd(g),
		newACLsCmd(g),
		newQuotasCmd(g),
		newTranslateCmd(g),
		newDemoCmd(g),
		newResetCmd(g),
		newCutoverCmd(g),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others (such
// as `config`) fail on an unknown subcommand: cobra prints its help and exits
// 0, so that a typo like `kmigrate config chek` in a script looks like success.
// Without arguments such a command still prints its help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if cmd.Runnable() || !cmd.HasSubCommands() || cmd.Parent() == nil {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return errors.New(msg + "; run '" + cmd.CommandPath() + " --help' for the commands")
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
