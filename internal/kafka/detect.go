package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Listener is what a broker listener speaks, as Detect found it.
type Listener struct {
	// TLS is set when the listener speaks TLS; TLSTrusted when its
	// certificate is trusted by the system roots (otherwise tls.ca_file is
	// needed, or the certificate is self-signed).
	TLS        bool `json:"tls"`
	TLSTrusted bool `json:"tls_trusted"`
	// SASL is set when the listener authenticates with SASL; Mechanisms are
	// those it enables.
	SASL       bool     `json:"sasl"`
	Mechanisms []string `json:"mechanisms,omitempty"`
}

// Protocol names the listener's security protocol as Kafka does.
func (l Listener) Protocol() string {
	switch {
	case l.TLS && l.SASL:
		return "SASL_SSL"
	case l.SASL:
		return "SASL_PLAINTEXT"
	case l.TLS:
		return "SSL"
	}
	return "PLAINTEXT"
}

// Detect connects to addr and finds out what its listener speaks: TLS or not
// (and whether the system roots trust its certificate), SASL or not, and with
// which mechanisms (a SaslHandshake lists them; a listener without SASL
// refuses it). Nothing is authenticated and no secret is needed.
func Detect(ctx context.Context, addr string) (Listener, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var l Listener
	conn, err := dialKafka(ctx, addr, nil)
	if err == nil {
		defer conn.Close()
		return l, saslProbe(conn, &l)
	}
	// Not Kafka in plaintext: TLS?
	host, _, _ := net.SplitHostPort(addr)
	for _, verify := range []bool{true, false} {
		tc := &tls.Config{ServerName: host, InsecureSkipVerify: !verify} //nolint:gosec // the second try only tells TLS from not-TLS
		conn, terr := dialKafka(ctx, addr, tc)
		if terr != nil {
			continue
		}
		defer conn.Close()
		l.TLS, l.TLSTrusted = true, verify
		return l, saslProbe(conn, &l)
	}
	return l, fmt.Errorf("detect the listener at %s: neither plaintext nor TLS Kafka answered: %w", addr, err)
}

// dialKafka connects (with TLS when tc is set) and checks that the peer
// answers an ApiVersions request as Kafka does.
func dialKafka(ctx context.Context, addr string, tc *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	first := time.Now().Add(3 * time.Second)
	if dl.Before(first) {
		first = dl
	}
	_ = conn.SetDeadline(first)
	if tc != nil {
		t := tls.Client(conn, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = t
	}
	if _, err := conn.Write(apiVersionsV0()); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := readResponse(conn, probeCorrelationID); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(dl)
	return conn, nil
}

// readResponse reads one response and returns its body after the correlation id.
func readResponse(conn net.Conn, correlation uint32) ([]byte, error) {
	head := make([]byte, 8)
	if _, err := io.ReadFull(conn, head); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(head[:4])
	if binary.BigEndian.Uint32(head[4:8]) != correlation || size < 4 || size > 1<<20 {
		return nil, errors.New("not a Kafka response")
	}
	body := make([]byte, size-4)
	_, err := io.ReadFull(conn, body)
	return body, err
}

// saslProbe sends a SaslHandshake and records what the listener answers.
func saslProbe(conn net.Conn, l *Listener) error {
	req := kmsg.NewSASLHandshakeRequest()
	req.Version = 1
	req.Mechanism = "PLAIN"
	const corr = probeCorrelationID + 1
	const clientID = "kmigrate-probe"
	msg := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	msg = binary.BigEndian.AppendUint16(msg, uint16(req.Version))
	msg = binary.BigEndian.AppendUint32(msg, corr)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(clientID)))
	msg = append(msg, clientID...)
	msg = req.AppendTo(msg)
	if _, err := conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)); err != nil {
		return fmt.Errorf("sasl handshake: %w", err)
	}
	body, err := readResponse(conn, corr)
	if err != nil {
		return fmt.Errorf("sasl handshake: %w", err)
	}
	resp := kmsg.NewSASLHandshakeResponse()
	resp.Version = 1
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("sasl handshake response: %w", err)
	}
	if errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.IllegalSaslState) {
		return nil // no SASL on this listener
	}
	l.SASL, l.Mechanisms = true, resp.SupportedMechanisms
	return nil
}
