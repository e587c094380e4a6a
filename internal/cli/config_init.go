package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
)

func newConfigInitCmd(g *globals) *cobra.Command {
	var source, target, migration, file string
	var force bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented starter configuration from two bootstrap addresses",
		Long: `Init connects to the first address of --source and of --target, finds out what
each listener speaks (TLS or not, and whether its certificate is trusted; SASL
or not, and which mechanisms it enables), and writes a commented starter
configuration that says so. Secrets are never written: the file refers to
environment variables (${SOURCE_PASSWORD}, ...) to set before 'kmigrate config
check'. Nothing is authenticated. An existing file is kept unless --force.`,
		Example: `  kmigrate config init --source b-1.msk.example:9096 --target kafka.gcp.example:9092 -o migration.yaml
  kmigrate config init --source localhost:9092 --target localhost:9093 --migration test -o -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" || target == "" {
				return errors.New("--source and --target are required: a bootstrap address (HOST:PORT[,HOST:PORT]) of each cluster")
			}
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			var found [2]kafka.Listener
			for i, addrs := range []string{source, target} {
				addr := strings.Split(addrs, ",")[0]
				l, err := kafka.Detect(ctx, addr)
				if err != nil {
					return fmt.Errorf("%s cluster: %w", []string{"source", "target"}[i], err)
				}
				found[i] = l
			}
			text := starterConfig(migration, source, target, found[0], found[1])
			if _, err := config.Parse("starter", []byte(text), func(string) (string, bool) { return os.DevNull, true }); err != nil {
				return fmt.Errorf("the starter configuration does not validate (a bug): %w", err)
			}
			if file == "-" {
				_, err := io.WriteString(cmd.OutOrStdout(), text)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(file, flags, 0o600)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists: keep it, or overwrite it with --force", file)
			}
			if err != nil {
				return fmt.Errorf("write the starter configuration: %w", err)
			}
			if _, err := io.WriteString(f, text); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", file, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write %s: %w", file, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: source %s, target %s; set the variables it names, then: kmigrate config check -c %s --connect\n",
				file, found[0].Protocol(), found[1].Protocol(), file)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "bootstrap address of the source cluster (HOST:PORT[,HOST:PORT])")
	f.StringVar(&target, "target", "", "bootstrap address of the target cluster")
	f.StringVar(&migration, "migration", "my-migration", "the migration's name")
	f.StringVarP(&file, "out", "o", "kmigrate.yaml", `file to write ("-": standard output)`)
	f.BoolVar(&force, "force", false, "overwrite an existing file")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long the whole command may take (0: no limit)")
	return cmd
}

// starterConfig is the commented configuration for the two listeners found.
func starterConfig(migration, source, target string, src, tgt kafka.Listener) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# kmigrate configuration, written by 'kmigrate config init' on %s.
# Check it with: kmigrate config check -c FILE --connect
# Every key is described in the README (Configuration).
migration: %s                 # names the state topic and kmigrate's groups

`, time.Now().UTC().Format(time.RFC3339), migration)
	cluster(&b, "source", source, src)
	cluster(&b, "target", target, tgt)
	b.WriteString(`topics:
  include: [".*"]                  # anchored regular expressions; Kafka-internal and kmigrate's own are always excluded
  exclude: []
groups:
  exclude: ["console-consumer-.*"]
replication:
  compression: lz4
group_sync:
  enabled: true
http:
  listen: 127.0.0.1:8080           # dashboard, /metrics, /api/status; "off" disables
`)
	return b.String()
}

func cluster(b *strings.Builder, role, addrs string, l kafka.Listener) {
	env := strings.ToUpper(role)
	fmt.Fprintf(b, "%s:\n  # %s: the listener at %s speaks %s", role, role, strings.Split(addrs, ",")[0], l.Protocol())
	if l.SASL {
		fmt.Fprintf(b, " (mechanisms: %s)", strings.Join(l.Mechanisms, ", "))
	}
	fmt.Fprintf(b, "\n  bootstrap_servers: [%s]\n", strings.Join(strings.Split(addrs, ","), ", "))
	if l.TLS {
		if l.TLSTrusted {
			b.WriteString("  tls: {}                          # the system roots trust its certificate\n")
		} else {
			fmt.Fprintf(b, "  tls:\n    ca_file: ${%s_CA_FILE}           # its certificate is not signed by a system root: the CA that signed it\n", env)
		}
	}
	if !l.SASL {
		return
	}
	mech := preferredMechanism(l.Mechanisms)
	fmt.Fprintf(b, "  sasl:\n    mechanism: %s\n", mech)
	switch mech {
	case config.MechanismAWSMSKIAM:
		fmt.Fprintf(b, "    aws:\n      region: ${%s_AWS_REGION}     # credentials: environment, shared files, web identity, instance role\n", env)
	case config.MechanismOAuthBearer:
		fmt.Fprintf(b, "    oauth:\n      token_file: ${%s_TOKEN_FILE}  # or token_command: [program, args...]\n", env)
	default:
		fmt.Fprintf(b, "    username: ${%s_USERNAME}\n    password: ${%s_PASSWORD}         # or password_file: /run/secrets/...\n", env, env)
	}
	if !l.TLS && mech != config.MechanismScramSHA256 && mech != config.MechanismScramSHA512 {
		b.WriteString("    # this listener has no TLS: the credential travels in clear text\n")
	}
}

// preferredMechanism is the strongest of the mechanisms a listener enables.
func preferredMechanism(ms []string) string {
	for _, m := range []string{config.MechanismScramSHA512, config.MechanismScramSHA256, config.MechanismAWSMSKIAM, config.MechanismOAuthBearer, config.MechanismPlain} {
		if slices.Contains(ms, m) {
			return m
		}
	}
	return config.MechanismScramSHA512
}
