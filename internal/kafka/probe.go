package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Timing of the diagnosis of a cluster that does not answer.
const (
	// waitBeforeProbe is how long Ping waits for an answer before it says
	// what it waits for and probes the first seed.
	waitBeforeProbe = 3 * time.Second
	probeTimeout    = 3 * time.Second
)

// Probe dials the first seed of c the way the configuration says (TLS or not)
// and tells what answers there, as a hint for a connection that hangs or
// fails: a TLS listener reached in plaintext, a plaintext listener reached
// with TLS, a port that accepts but does not speak Kafka. "" when the seed
// answers a Kafka request as configured, or when nothing can be said.
func Probe(ctx context.Context, c config.Cluster) string {
	if len(c.BootstrapServers) == 0 {
		return ""
	}
	addr := c.BootstrapServers[0]
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return ""
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if c.TLS != nil {
		host, _, _ := net.SplitHostPort(addr)
		tc := &tls.Config{InsecureSkipVerify: true, ServerName: host} //nolint:gosec // a diagnosis only: is TLS spoken at all?
		tconn := tls.Client(conn, tc)
		err := tconn.HandshakeContext(ctx)
		switch {
		case err == nil:
			return ""
		case isTimeout(err):
			return fmt.Sprintf("%s accepted the connection but did not answer the TLS handshake: a plaintext listener (remove tls), or not a Kafka port", addr)
		case errors.Is(err, io.EOF), strings.Contains(err.Error(), "connection reset"),
			strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
			return fmt.Sprintf("%s does not speak TLS: a plaintext listener (remove tls, or use the TLS port)", addr)
		}
		return ""
	}
	// Plaintext: send an ApiVersions v0 request and look at what comes back.
	if _, err := conn.Write(apiVersionsV0()); err != nil {
		return ""
	}
	head := make([]byte, 8)
	n, err := io.ReadFull(conn, head)
	switch {
	case n >= 1 && head[0] == 0x15:
		// A TLS alert record: the server expected a handshake.
		return fmt.Sprintf("%s answers with TLS: a TLS listener (add tls: {} to the cluster)", addr)
	case n == 8 && binary.BigEndian.Uint32(head[4:8]) == probeCorrelationID:
		return ""
	case err != nil && isTimeout(err):
		return fmt.Sprintf("%s accepted the connection but did not answer a Kafka request within %s: a TLS listener (add tls), or not a Kafka port", addr, probeTimeout)
	case err != nil:
		return fmt.Sprintf("%s closed the connection on a Kafka request: a TLS or SASL listener reached in plaintext, or not a Kafka port", addr)
	}
	return fmt.Sprintf("%s answered, but not as Kafka does: is it a Kafka port?", addr)
}

// probeCorrelationID marks the probe's request.
const probeCorrelationID = 0x6b6d6967 // "kmig"

// apiVersionsV0 is a complete ApiVersions v0 request (request header v1, an
// empty body), the request every Kafka broker answers before anything else.
func apiVersionsV0() []byte {
	const clientID = "kmigrate-probe"
	body := make([]byte, 0, 32)
	body = binary.BigEndian.AppendUint16(body, 18) // ApiVersions
	body = binary.BigEndian.AppendUint16(body, 0)  // version 0
	body = binary.BigEndian.AppendUint32(body, probeCorrelationID)
	body = binary.BigEndian.AppendUint16(body, uint16(len(clientID)))
	body = append(body, clientID...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// ping runs fn (an authenticated request to the cluster); when it has not
// answered after waitBeforeProbe, it logs through cl's logger what it waits
// for and what a probe of the first seed found, and a failure carries that
// finding as its hint.
func ping(ctx context.Context, role Role, c config.Cluster, cl *kgo.Client, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var probed string
	timer := time.NewTimer(waitBeforeProbe)
	defer timer.Stop()
	for {
		select {
		case err := <-done:
			if err == nil {
				return nil
			}
			if probed == "" && (isTimeout(err) || Hint(err) == "") {
				probed = Probe(context.WithoutCancel(ctx), c)
			}
			return describe(role, c, err, probed)
		case <-timer.C:
			probed = Probe(ctx, c)
			msg := fmt.Sprintf("waiting for the %s cluster %s (%s) to answer", role, strings.Join(c.BootstrapServers, ","), protocol(c))
			kv := []any{"cluster", string(role), "waited", waitBeforeProbe.String(), "request_timeout", c.RequestTimeout.Duration.String()}
			if probed != "" {
				kv = append(kv, "hint", probed)
			}
			if l, ok := cl.OptValue(kgo.WithLogger).(kgo.Logger); ok && l != nil {
				l.Log(kgo.LogLevelWarn, msg, kv...)
			}
		}
	}
}

// protocol names the security protocol c configures, as Kafka's listeners do.
func protocol(c config.Cluster) string {
	switch {
	case c.TLS != nil && c.SASL != nil:
		return "SASL_SSL " + c.SASL.Mechanism
	case c.SASL != nil:
		return "SASL_PLAINTEXT " + c.SASL.Mechanism
	case c.TLS != nil:
		return "SSL"
	}
	return "PLAINTEXT"
}
