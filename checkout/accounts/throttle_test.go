package accounts

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/merchd/merchd/checkout"
)

// TestHashingIsBounded: with every hashing slot busy, one more password
// check fails fast with RATE_LIMITED instead of allocating another 19 MiB.
func TestHashingIsBounded(t *testing.T) {
	th := newThrottle(ThrottleConfig{Off: true, MaxHashing: 2}, time.Now)
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 {
		go func() {
			_ = th.hash(context.Background(), func() { started <- struct{}{}; <-release })
		}()
	}
	<-started
	<-started
	err := th.hash(context.Background(), func() { t.Error("ran a third hash while two slots were busy") })
	var rl *checkout.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, checkout.ErrRateLimited) || rl.RetryAfter <= 0 {
		t.Fatalf("third hash: %v, want a RateLimitError with a retry-after", err)
	}
	close(release)
	ran := false
	for deadline := time.Now().Add(5 * time.Second); !ran && time.Now().Before(deadline); {
		_ = th.hash(context.Background(), func() { ran = true })
	}
	if !ran {
		t.Fatal("a slot never came free after the busy hashes finished")
	}
}

// TestKeyedLimiterCharges: a refused attempt charges no bucket, and the
// per-account bucket refuses across addresses.
func TestKeyedLimiterCharges(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	th := newThrottle(ThrottleConfig{SignInPerIP: 60, SignUpPerIP: 60, SignInPerAccount: 1, Burst: 2}, func() time.Time { return now })
	try := func(ip string) error {
		return th.allow("sign-in", limitCheck{th.signIn, ip}, limitCheck{th.account, "fan@example.com"})
	}
	if try("10.0.0.1") != nil || try("10.0.0.2") != nil {
		t.Fatal("the first two attempts (the burst) were refused")
	}
	err := try("10.0.0.3")
	var rl *checkout.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter < 50*time.Second || rl.RetryAfter > 61*time.Second {
		t.Fatalf("third attempt on one account from a third address: %v, want a wait of about a minute", err)
	}
	// The refusal did not charge 10.0.0.3's own bucket.
	if err := th.allow("sign-in", limitCheck{th.signIn, "10.0.0.3"}); err != nil {
		t.Fatalf("10.0.0.3 alone: %v", err)
	}
	now = now.Add(61 * time.Second)
	if err := try("10.0.0.4"); err != nil {
		t.Fatalf("after a minute the account may try again: %v", err)
	}
}

// TestKeyedLimiterForgets: idle keys are dropped, so a spray of addresses
// cannot grow memory for ever.
func TestKeyedLimiterForgets(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	k := newKeyedLimiter(1, 2)
	for i := range 1000 {
		k.reserve(string(rune('a'+i%26))+string(rune(i)), now)
	}
	now = now.Add(time.Hour)
	k.reserve("late", now)
	if len(k.m) != 1 {
		t.Fatalf("%d keys kept after an hour idle, want 1", len(k.m))
	}
}
