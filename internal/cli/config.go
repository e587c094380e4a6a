package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	cmd.AddCommand(newConfigCheckCmd(g), newConfigInitCmd(g))
	return cmd
}

// configCheckResult is the report of `config check`, one row per problem.
type configCheckResult struct {
	File     string               `json:"file" yaml:"file"`
	Valid    bool                 `json:"valid" yaml:"valid"`
	Errors   []configCheckError   `json:"errors,omitempty" yaml:"errors,omitempty"`
	Warnings []string             `json:"warnings,omitempty" yaml:"warnings,omitempty"`
	Summary  map[string]string    `json:"summary,omitempty" yaml:"summary,omitempty"`
	Connect  []configCheckConnect `json:"connect,omitempty" yaml:"connect,omitempty"`
	// Blockers are problems only --connect finds, such as source and target
	// being one cluster.
	Blockers []string `json:"blockers,omitempty" yaml:"blockers,omitempty"`
}

type configCheckError struct {
	Line    int    `json:"line,omitempty" yaml:"line,omitempty"`
	Col     int    `json:"col,omitempty" yaml:"col,omitempty"`
	Key     string `json:"key,omitempty" yaml:"key,omitempty"`
	Message string `json:"message" yaml:"message"`
}

type configCheckConnect struct {
	Cluster   string `json:"cluster" yaml:"cluster"`
	OK        bool   `json:"ok" yaml:"ok"`
	ClusterID string `json:"cluster_id,omitempty" yaml:"cluster_id,omitempty"`
	Brokers   int    `json:"brokers,omitempty" yaml:"brokers,omitempty"`
	Error     string `json:"error,omitempty" yaml:"error,omitempty"`
}

func newConfigCheckCmd(g *globals) *cobra.Command {
	var out output
	var connect bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a configuration file and report every problem at once",
		Long: `Check decodes the configuration strictly (unknown keys are errors), applies
defaults and validates every setting, reporting all problems at once with
file:line:col and the key. Secrets are never printed. With --connect it also logs
in to both clusters. Exit status 0 when valid, 1 otherwise.`,
		Example: `  kmigrate config check -c migration.yaml
  kmigrate config check -c migration.yaml --connect --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			res := configCheckResult{File: g.configFile}
			cfg, err := config.Load(g.configFile)
			var errs config.Errors
			switch {
			case errors.As(err, &errs):
				for _, e := range errs {
					res.Errors = append(res.Errors, configCheckError{Line: e.Line, Col: e.Col, Key: e.Key, Message: e.Msg})
				}
			case err != nil:
				res.Errors = append(res.Errors, configCheckError{Message: err.Error()})
			default:
				res.Valid = true
				res.Summary, res.Warnings = summarize(cfg)
				if connect {
					ctx, cancel := out.context(cmd.Context())
					res.Connect = checkConnections(ctx, cfg)
					cancel()
					for _, c := range res.Connect {
						res.Valid = res.Valid && c.OK
					}
					if s, t := res.Connect[0], res.Connect[1]; s.OK && t.OK && s.ClusterID != "" && s.ClusterID == t.ClusterID {
						res.Blockers = append(res.Blockers, fmt.Sprintf("source and target are the same cluster (cluster id %s): a migration onto itself would copy every topic onto itself", s.ClusterID))
						res.Valid = false
					}
				}
			}
			w, closeOut, err := out.writer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			err = out.render(w, res, func(w io.Writer) error { return res.text(w, errs) }, nil)
			if cerr := closeOut(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if !res.Valid {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	out.register(cmd, 30*time.Second)
	cmd.Flags().BoolVar(&connect, "connect", false, "also connect and authenticate to both clusters")
	return cmd
}

func (r configCheckResult) text(w io.Writer, errs config.Errors) error {
	if len(r.Errors) > 0 {
		if errs != nil {
			fmt.Fprintln(w, errs.Error())
		} else {
			for _, e := range r.Errors {
				fmt.Fprintln(w, e.Message)
			}
		}
		_, err := fmt.Fprintf(w, "%s: %d problem(s)\n", r.File, len(r.Errors))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range []string{"migration", "source", "target", "topics", "groups", "http", "schemas"} {
		if v, ok := r.Summary[k]; ok {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	for _, c := range r.Connect {
		if c.OK {
			fmt.Fprintf(tw, "connect %s\tOK, %d brokers, cluster id %s\n", c.Cluster, c.Brokers, c.ClusterID)
		} else {
			fmt.Fprintf(tw, "connect %s\tFAILED: %s\n", c.Cluster, c.Error)
		}
	}
	tw.Flush()
	for _, b := range r.Blockers {
		fmt.Fprintf(w, "error: %s\n", b)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	status := "OK"
	if !r.Valid {
		status = "FAILED"
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", r.File, status)
	return err
}

// summarize describes the effective configuration without any secret.
func summarize(c *config.Config) (map[string]string, []string) {
	var warnings []string
	cluster := func(role string, cl config.Cluster) string {
		s := strings.Join(cl.BootstrapServers, ",")
		proto := "PLAINTEXT"
		if cl.TLS != nil {
			proto = "SSL"
			if cl.TLS.InsecureSkipVerify {
				warnings = append(warnings, role+".tls.insecure_skip_verify is on: broker certificates are not checked")
			}
		}
		if cl.SASL != nil {
			if cl.TLS != nil {
				proto = "SASL_SSL"
			} else {
				proto = "SASL_PLAINTEXT"
				switch cl.SASL.Mechanism {
				case config.MechanismPlain:
					warnings = append(warnings, role+": SASL PLAIN without TLS sends the password in clear text")
				case config.MechanismOAuthBearer:
					warnings = append(warnings, role+": OAUTHBEARER without TLS sends the bearer token in clear text (add "+role+".tls)")
				case config.MechanismAWSMSKIAM:
					warnings = append(warnings, role+": AWS_MSK_IAM without TLS: MSK serves IAM only on its TLS listener (port 9098); add "+role+".tls")
				}
			}
			proto += " " + cl.SASL.Mechanism
			if cl.SASL.Username != "" {
				proto += " user " + cl.SASL.Username
			}
		}
		return s + " (" + proto + ")"
	}
	sel := func(s config.Selection) string {
		inc := "all"
		if len(s.Include) > 0 {
			inc = "include " + strings.Join(s.Include, ", ")
		}
		if len(s.Exclude) > 0 {
			inc += "; exclude " + strings.Join(s.Exclude, ", ")
		}
		return inc
	}
	for _, k := range c.InlineSecrets {
		warnings = append(warnings, k+" is written in the file: anyone who can read it has the credential; use ${ENV_VAR} or "+passwordFileHint(k))
	}
	sum := map[string]string{
		"migration": c.Migration,
		"source":    cluster("source", c.Source),
		"target":    cluster("target", c.Target),
		"topics":    sel(c.Topics),
		"groups":    sel(c.Groups),
		"http":      c.HTTP.Listen,
	}
	if sc := c.Schemas; sc != nil {
		reg := func(role string, r config.Registry) string {
			if r.Topic != "" {
				return "topic " + r.Topic + " on the " + role + " cluster"
			}
			d := r.URL
			if r.BasicAuth != nil {
				d += " (basic auth user " + r.BasicAuth.Username + ")"
				if strings.HasPrefix(r.URL, "http://") {
					warnings = append(warnings, "schemas."+role+": basic auth over http:// sends the password in clear text")
				}
			}
			if r.TLS != nil && r.TLS.InsecureSkipVerify {
				warnings = append(warnings, "schemas."+role+".tls.insecure_skip_verify is on: registry certificates are not checked")
			}
			return d
		}
		sum["schemas"] = reg("source", sc.Source) + " -> " + reg("target", sc.Target) + fmt.Sprintf(", include_deleted %v", sc.IncludeDeleted)
	}
	return sum, warnings
}

func checkConnections(ctx context.Context, c *config.Config) []configCheckConnect {
	var b kafka.Builder
	var out []configCheckConnect
	for _, side := range []struct {
		role kafka.Role
		cl   config.Cluster
	}{{kafka.Source, c.Source}, {kafka.Target, c.Target}} {
		r := configCheckConnect{Cluster: string(side.role)}
		id, err := connectOnce(ctx, &b, side.role, side.cl)
		if err != nil {
			r.Error = err.Error()
		} else {
			r.OK, r.Brokers, r.ClusterID = true, id.Brokers, id.ClusterID
		}
		out = append(out, r)
	}
	return out
}

func connectOnce(ctx context.Context, b *kafka.Builder, role kafka.Role, c config.Cluster) (kafka.Identity, error) {
	cl, err := b.Client(ctx, role, c)
	if err != nil {
		return kafka.Identity{}, err
	}
	defer cl.Close()
	return kafka.Identify(ctx, role, c, cl)
}

// passwordFileHint names the file-based alternative to an inline secret key.
func passwordFileHint(key string) string {
	if strings.HasSuffix(key, ".sasl.password") {
		return "password_file"
	}
	return "a profile or the environment's AWS credentials"
}

// contextWithTimeout bounds the command's context by timeout (0: no limit).
func contextWithTimeout(cmd *cobra.Command, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), timeout)
}
