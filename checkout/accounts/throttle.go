package accounts

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/merchd/merchd/checkout"
)

// ThrottleConfig bounds authentication work. Rates are per minute; a burst
// is how many may come at once before the rate applies. The zero value
// means DefaultThrottle.
type ThrottleConfig struct {
	// Off disables the per-IP and per-account rates (tests that sign up
	// hundreds of customers from 127.0.0.1). The hashing bound stays.
	Off bool
	// SignInPerIP, SignUpPerIP: attempts per minute from one address.
	SignInPerIP, SignUpPerIP float64
	// SignInPerAccount: attempts per minute on one email, whatever the
	// address (a botnet guessing one password).
	SignInPerAccount float64
	// Burst is how many attempts of each kind may come at once.
	Burst int
	// MaxHashing bounds concurrent argon2id computations (19 MiB each);
	// more fail fast with ErrRateLimited. 0 means the number of CPUs.
	MaxHashing int
}

// DefaultThrottle allows a fan who mistypes a few times and stops a guesser:
// 10 sign-ins a minute per address, 5 per account, 3 sign-ups a minute per
// address, bursts of 5.
func DefaultThrottle() ThrottleConfig {
	return ThrottleConfig{SignInPerIP: 10, SignUpPerIP: 3, SignInPerAccount: 5, Burst: 5}
}

// Validate reports unusable settings.
func (c ThrottleConfig) Validate() error {
	if c.MaxHashing < 0 {
		return fmt.Errorf("accounts: max concurrent password hashing %d is negative", c.MaxHashing)
	}
	if c.Off || c.isZero() {
		return nil
	}
	if c.SignInPerIP <= 0 || c.SignUpPerIP <= 0 || c.SignInPerAccount <= 0 || c.Burst < 1 {
		return fmt.Errorf("accounts: throttle rates must be positive and the burst at least 1: %+v", c)
	}
	return nil
}

func (c ThrottleConfig) isZero() bool {
	return c.SignInPerIP == 0 && c.SignUpPerIP == 0 && c.SignInPerAccount == 0 && c.Burst == 0
}

// throttle holds the limiters of the accounts service.
type throttle struct {
	cfg     ThrottleConfig
	now     func() time.Time
	signIn  *keyedLimiter
	signUp  *keyedLimiter
	account *keyedLimiter
	hashing chan struct{}
}

// newThrottle applies cfg; a zero cfg means DefaultThrottle.
func newThrottle(cfg ThrottleConfig, now func() time.Time) *throttle {
	if !cfg.Off && cfg.isZero() {
		mh := cfg.MaxHashing
		cfg = DefaultThrottle()
		cfg.MaxHashing = mh
	}
	n := cfg.MaxHashing
	if n == 0 {
		n = runtime.NumCPU()
	}
	perMin := func(x float64) rate.Limit { return rate.Limit(x / 60) }
	return &throttle{cfg: cfg, now: now, hashing: make(chan struct{}, n),
		signIn:  newKeyedLimiter(perMin(cfg.SignInPerIP), cfg.Burst),
		signUp:  newKeyedLimiter(perMin(cfg.SignUpPerIP), cfg.Burst),
		account: newKeyedLimiter(perMin(cfg.SignInPerAccount), cfg.Burst)}
}

// allow takes one token from each of the limiters for their keys; if any
// refuses, none is charged and the longest wait is returned.
func (t *throttle) allow(what string, checks ...limitCheck) error {
	if t.cfg.Off {
		return nil
	}
	now := t.now()
	var wait time.Duration
	var taken []*rate.Reservation
	for _, c := range checks {
		if c.key == "" {
			continue
		}
		r := c.l.reserve(c.key, now)
		taken = append(taken, r)
		if d := r.DelayFrom(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		for _, r := range taken {
			r.CancelAt(now)
		}
		return &checkout.RateLimitError{What: what, RetryAfter: wait}
	}
	return nil
}

type limitCheck struct {
	l   *keyedLimiter
	key string
}

// hash runs f while holding one of the hashing slots; when all are busy
// for longer than a short wait it refuses instead of queueing memory.
func (t *throttle) hash(ctx context.Context, f func()) error {
	// A free slot is taken at once. (A single select with the timer could
	// pick the timer even with a slot free, if this goroutine was not run
	// for 200 ms on a busy machine: select chooses among ready cases at
	// random.)
	select {
	case t.hashing <- struct{}{}:
	default:
		timer := time.NewTimer(200 * time.Millisecond)
		defer timer.Stop()
		select {
		case t.hashing <- struct{}{}:
		case <-timer.C:
			return &checkout.RateLimitError{What: "password hashing", RetryAfter: time.Second}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-t.hashing }()
	f()
	return nil
}

// keyedLimiter is a token bucket per key (an address, an email), forgetting
// keys idle long enough to be full again. It never holds more than maxKeys:
// past that, the idle ones go first and then the oldest.
type keyedLimiter struct {
	mu    sync.Mutex
	r     rate.Limit
	burst int
	m     map[string]*keyedEntry
	swept time.Time
}

type keyedEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxKeys = 100_000

func newKeyedLimiter(r rate.Limit, burst int) *keyedLimiter {
	return &keyedLimiter{r: r, burst: burst, m: map[string]*keyedEntry{}}
}

func (k *keyedLimiter) reserve(key string, now time.Time) *rate.Reservation {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.m[key]
	if e == nil {
		k.sweep(now)
		e = &keyedEntry{lim: rate.NewLimiter(k.r, k.burst)}
		k.m[key] = e
	}
	e.seen = now
	return e.lim.ReserveN(now, 1)
}

// sweep drops keys idle long enough to have refilled their bucket.
func (k *keyedLimiter) sweep(now time.Time) {
	if len(k.m) < maxKeys && now.Sub(k.swept) < time.Minute {
		return
	}
	k.swept = now
	full := time.Duration(float64(k.burst)/float64(k.r)*float64(time.Second)) + time.Second
	for key, e := range k.m {
		if now.Sub(e.seen) > full {
			delete(k.m, key)
		}
	}
	for key := range k.m { // still full: forget arbitrary ones
		if len(k.m) < maxKeys {
			break
		}
		delete(k.m, key)
	}
}
