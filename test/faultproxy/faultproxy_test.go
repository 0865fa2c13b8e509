package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every byte it reads with the same byte.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T, plan Plan) *Proxy {
	t.Helper()
	p, err := Start(echoServer(t), plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads until it has len(msg) bytes back, an error
// or a second without data; it returns what it read and the error.
func roundTrip(c net.Conn, msg []byte) ([]byte, error) {
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, 0, len(msg))
	buf := make([]byte, len(msg))
	for len(got) < len(msg) {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

func message(n int) []byte {
	msg := make([]byte, n)
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	return msg
}

func TestPassThroughCountsBothDirections(t *testing.T) {
	p := start(t, Plan{})
	for i := 0; i < 2; i++ {
		c := dial(t, p)
		msg := message(100_000)
		got, err := roundTrip(c, msg)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("connection %d: echoed %d bytes of %d, err %v", i+1, len(got), len(msg), err)
		}
		c.Close()
	}
	if got := p.Bytes(); got != 400_000 {
		t.Errorf("Bytes() = %d, want 400000 (2 connections, 100000 each way)", got)
	}
	if _, fired := p.Fired(); fired {
		t.Error("a plan without a fault fired")
	}
	if p.Connections() != 2 {
		t.Errorf("Connections() = %d", p.Connections())
	}
	var sum int64
	for _, b := range Bursts(p.Trace()) {
		sum += b.Len
	}
	if sum != 400_000 {
		t.Errorf("bursts add up to %d bytes", sum)
	}
}

func TestResetAtOffset(t *testing.T) {
	// 100 bytes out, then 50 of the 100 echoed: the connection is reset at
	// offset 150.
	p := start(t, Plan{Fault: Reset, After: 150})
	c := dial(t, p)
	got, err := roundTrip(c, message(100))
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Errorf("read error %v, want a connection reset", err)
	}
	if len(got) != 50 || !bytes.Equal(got, message(100)[:50]) {
		t.Errorf("read %d bytes before the reset, want the first 50", len(got))
	}
	chunk, fired := p.Fired()
	if !fired || chunk.Dir != ServerToClient || chunk.Conn != 1 {
		t.Errorf("Fired() = %+v, %v", chunk, fired)
	}
	// The fault happens once: the next connection passes.
	next := dial(t, p)
	if got, err := roundTrip(next, message(1000)); err != nil || len(got) != 1000 {
		t.Errorf("the connection after the fault: %d bytes, %v", len(got), err)
	}
}

func TestResetAtZeroCutsTheFirstByte(t *testing.T) {
	p := start(t, Plan{Fault: Reset, After: 0})
	c := dial(t, p)
	got, err := roundTrip(c, message(10))
	if err == nil || len(got) != 0 {
		t.Errorf("read %d bytes, err %v; want nothing and an error", len(got), err)
	}
	if chunk, fired := p.Fired(); !fired || chunk.Dir != ClientToServer || chunk.Start != 0 {
		t.Errorf("Fired() = %+v, %v", chunk, fired)
	}
}

func TestStallAtOffsetHoldsUntilClose(t *testing.T) {
	p := start(t, Plan{Fault: Stall, After: 60})
	c := dial(t, p)
	got, err := roundTrip(c, message(100))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read error %v, want a timeout: the connection stays open and silent", err)
	}
	// Offset 60 falls in the request: the echo server sees 60 bytes, and
	// the stalled connection drops its answer.
	if len(got) != 0 {
		t.Errorf("read %d bytes; the stall at 60 falls in the request", len(got))
	}
	// Writes still succeed: the proxy holds the connection open.
	if _, err := c.Write([]byte("more")); err != nil {
		t.Errorf("writing to a stalled connection: %v", err)
	}
	next := dial(t, p)
	if got, err := roundTrip(next, message(1000)); err != nil || len(got) != 1000 {
		t.Errorf("the connection after the fault: %d bytes, %v", len(got), err)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 10)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after Close the stalled connection reads %v, want its end", err)
	}
}

func TestStallInTheResponse(t *testing.T) {
	p := start(t, Plan{Fault: Stall, After: 130})
	c := dial(t, p)
	got, err := roundTrip(c, message(100))
	if !errors.Is(err, os.ErrDeadlineExceeded) || len(got) != 30 {
		t.Errorf("read %d bytes, err %v; want 30 and a timeout", len(got), err)
	}
}

func TestBurstsMergeTurns(t *testing.T) {
	trace := []Chunk{
		{Conn: 1, Dir: ClientToServer, Start: 0, Len: 10},
		{Conn: 1, Dir: ClientToServer, Start: 10, Len: 5},
		{Conn: 1, Dir: ServerToClient, Start: 15, Len: 20},
		{Conn: 2, Dir: ServerToClient, Start: 35, Len: 1},
		{Conn: 1, Dir: ClientToServer, Start: 36, Len: 4},
	}
	got := Bursts(trace)
	want := []Burst{
		{Conn: 1, Dir: ClientToServer, Start: 0, Len: 15},
		{Conn: 1, Dir: ServerToClient, Start: 15, Len: 20},
		{Conn: 2, Dir: ServerToClient, Start: 35, Len: 1},
		{Conn: 1, Dir: ClientToServer, Start: 36, Len: 4},
	}
	if len(got) != len(want) {
		t.Fatalf("Bursts = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("burst %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if want[1].Mid() != 25 {
		t.Errorf("Mid = %d", want[1].Mid())
	}
}
