// Command cloudsctl runs the two-clouds harness (internal/clouds) from a shell:
// `up` makes the namespaces, starts both clusters and the proxies and serves them
// until `down` or a signal; the fault commands are sent to it over a unix socket.
// tools/clouds builds and runs it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

const usage = `usage: tools/clouds [--dir DIR] COMMAND
  up [--source-topology single|seed] [--target-topology single|seed]
                                start both clouds and serve them until down (Ctrl-C)
  status                        the clouds, the bootstrap addresses, the faults in force
  down                          stop the clusters and proxies, delete the namespaces
  sweep                         delete namespaces of harness instances whose owner died
fault commands (sent to the running up):
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "clouds:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	global := flag.NewFlagSet("clouds", flag.ContinueOnError)
	dir := global.String("dir", filepath.Join(os.TempDir(), "kmclouds-cli"), "directory of the state, the control socket and the clusters")
	global.Usage = func() { fmt.Fprint(os.Stderr, usage+indent(clouds.Usage)) }
	if err := global.Parse(args); err != nil {
		return err
	}
	args = global.Args()
	if len(args) == 0 {
		global.Usage()
		return errors.New("no command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	state := filepath.Join(*dir, "state.json")
	sock := filepath.Join(*dir, "control.sock")
	switch args[0] {
	case "up":
		return up(ctx, args[1:], *dir, state, sock, out)
	case "sweep":
		return clouds.Sweep(ctx)
	case "status":
		data, err := os.ReadFile(state)
		if err != nil {
			return fmt.Errorf("no clouds up (%w)", err)
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
		faults, err := call(sock, "describe", nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "faults: %s\n", faults)
		return nil
	case "down":
		_, err := call(sock, "down", nil)
		return err
	case "help", "-h", "--help":
		global.Usage()
		return nil
	}
	reply, err := call(sock, "apply", args)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", reply)
	return nil
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n" }

func up(ctx context.Context, args []string, dir, state, sock string, out io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	srcTop := fs.String("source-topology", kafkatest.TopologySingle, "topology of the source cluster (aws)")
	tgtTop := fs.String("target-topology", kafkatest.TopologySingle, "topology of the target cluster (gcp)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := call(sock, "describe", nil); err == nil {
		return fmt.Errorf("clouds already up (control socket %s); run down first", sock)
	}
	_ = os.Remove(sock)
	upCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c, err := clouds.Up(upCtx, clouds.Options{
		Name: "clouds", Root: filepath.Join(dir, "clusters"), Owner: os.Getpid(),
		Source: kafkatest.Options{Topology: *srcTop}, Target: kafkatest.Options{Topology: *tgtTop},
	})
	if err != nil {
		return err
	}
	downCtx := context.Background()
	defer func() {
		if err := c.Down(downCtx); err != nil {
			fmt.Fprintln(os.Stderr, "clouds: down:", err)
		}
		_ = os.Remove(state)
		_ = os.Remove(sock)
	}()
	if err := c.SaveState(state, sock); err != nil {
		return err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, r *http.Request) {
		var words []string
		if err := json.NewDecoder(r.Body).Decode(&words); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := c.Apply(r.Context(), words); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(c.Describe())
	})
	mux.HandleFunc("POST /describe", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(c.Describe())
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "going down")
		select {
		case <-done:
		default:
			close(done)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	fmt.Fprintf(out, "clouds up: source (aws, %s) %s, target (gcp, %s) %s\n", c.Net.Links[clouds.AWS].Netns,
		strings.Join(c.Source.ProxiedBootstrap, ","), c.Net.Links[clouds.GCP].Netns, strings.Join(c.Target.ProxiedBootstrap, ","))
	fmt.Fprintf(out, "kmigrate bootstraps from the proxied addresses above; inside the clouds: source %s, target %s\n",
		strings.Join(c.Source.Bootstrap, ","), strings.Join(c.Target.Bootstrap, ","))
	fmt.Fprintf(out, "state in %s; serving until `tools/clouds down` or Ctrl-C\n", state)
	select {
	case <-ctx.Done():
	case <-done:
	}
	return nil
}

// call posts a command to the running `up` over its unix socket.
func call(sock, what string, words []string) (string, error) {
	cl := http.Client{
		Timeout: 10 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	body, _ := json.Marshal(words)
	resp, err := cl.Post("http://clouds/"+what, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return "", fmt.Errorf("reach the running `tools/clouds up` at %s: %w", sock, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(strings.TrimSpace(string(data)))
	}
	return strings.TrimSpace(string(data)), nil
}
