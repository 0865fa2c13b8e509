package await

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntilReturnsWhenDone(t *testing.T) {
	calls := 0
	err := Until(context.Background(), time.Minute, time.Millisecond, "three calls", func(context.Context) (bool, string, error) {
		calls++
		return calls == 3, "", nil
	})
	if err != nil || calls != 3 {
		t.Errorf("err %v after %d calls", err, calls)
	}
}

func TestUntilTimesOutWithTheLastState(t *testing.T) {
	err := Until(context.Background(), 20*time.Millisecond, time.Millisecond, "certificate x to be issued", func(context.Context) (bool, string, error) {
		return false, "Issuing", nil
	})
	var timeout *TimeoutError
	if !errors.As(err, &timeout) {
		t.Fatalf("err %v, want a *TimeoutError", err)
	}
	if got, want := err.Error(), "timed out after 20ms waiting for certificate x to be issued (Issuing)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestUntilStopsOnAnError(t *testing.T) {
	boom := errors.New("forbidden")
	err := Until(context.Background(), time.Minute, time.Millisecond, "x", func(context.Context) (bool, string, error) {
		return false, "", boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err %v, want %v", err, boom)
	}
}

func TestUntilEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Until(ctx, time.Minute, time.Millisecond, "x", func(context.Context) (bool, string, error) {
		return false, "", nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// A command's deadline bounds its wait: the wait running into it is a
// timeout (exit code 124), not a failed request.
func TestUntilTimesOutAtItsContextsDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := Until(ctx, time.Minute, time.Millisecond, "x", func(ctx context.Context) (bool, string, error) {
		return false, "pending", ctx.Err()
	})
	var timeout *TimeoutError
	if !errors.As(err, &timeout) || timeout.State != "pending" {
		t.Errorf("err %v, want a *TimeoutError with the last state", err)
	}
}
