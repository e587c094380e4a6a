// Command kmigrate moves a live Apache Kafka cluster to another cluster: it takes
// inventory, replicates every record with an exact offset map, translates
// consumer-group positions, proves the copy and walks the operator through cutover.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kmigrate/kmigrate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
