package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestFenceRefusal: a fenced dial with a lapsed lease fails with ErrFenced
// marked temporary (the client keeps its records and retries: the holder may
// extend the lease again); once revoked the refusal is final.
func TestFenceRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	f := NewFence()
	dial := f.dialer(nil)
	temporary := func(err error) bool {
		var te interface{ Temporary() bool }
		return errors.As(err, &te) && te.Temporary()
	}
	ctx := context.Background()
	f.Extend(time.Now().Add(-time.Second))
	if _, err := dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrFenced) || !temporary(err) {
		t.Fatalf("dial with a lapsed lease: %v (temporary %t), want a temporary ErrFenced", err, temporary(err))
	}
	f.Extend(time.Now().Add(time.Minute))
	conn, err := dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with a held lease: %v", err)
	}
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatalf("write with a held lease: %v", err)
	}
	f.Revoke()
	if _, err := conn.Write([]byte("x")); !errors.Is(err, ErrFenced) || temporary(err) {
		t.Fatalf("write after revoke: %v (temporary %t), want a final ErrFenced", err, temporary(err))
	}
	if _, err := dial(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrFenced) || temporary(err) {
		t.Fatalf("dial after revoke: %v (temporary %t), want a final ErrFenced", err, temporary(err))
	}
}
