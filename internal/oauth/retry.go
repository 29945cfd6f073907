package oauth

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// RetryPolicy bounds the retries of a refresh or a revocation. A code
// exchange is never retried.
type RetryPolicy struct {
	// Attempts is the most requests made in all; 0 means 4.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each next one
	// and jittered by up to a fifth; 0 means 1 s.
	Backoff time.Duration
	// MaxWait is the longest wait twauth accepts, from Retry-After or
	// backoff; a server asking for longer gets no retry. 0 means 30 s.
	MaxWait time.Duration
	// Sleep waits for d or until ctx ends; nil means a timer. Tests record
	// the waits through it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetry is the policy used when a Client's Retry is zero.
var DefaultRetry = RetryPolicy{Attempts: 4, Backoff: time.Second, MaxWait: 30 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts == 0 {
		p.Attempts = DefaultRetry.Attempts
	}
	if p.Backoff == 0 {
		p.Backoff = DefaultRetry.Backoff
	}
	if p.MaxWait == 0 {
		p.MaxWait = DefaultRetry.MaxWait
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// retryAfter decides whether the request that failed with err on try
// (0-based) may be sent again, and after how long. Only answers that show
// the request was not acted on qualify: 429, 5xx, and connection failures
// before the request was written.
func (p RetryPolicy) retryAfter(try int, err error) (time.Duration, bool) {
	if try+1 >= p.Attempts {
		return 0, false
	}
	backoff := p.Backoff << try
	backoff += time.Duration(rand.Int64N(int64(backoff)/5 + 1))
	var se *ServerError
	var ne *NetworkError
	switch {
	case errors.As(err, &se):
		if se.Status != http.StatusTooManyRequests && se.Status < 500 {
			return 0, false
		}
		if se.RetryAfter > 0 {
			if se.RetryAfter > p.MaxWait {
				return 0, false
			}
			return se.RetryAfter, true
		}
	case errors.As(err, &ne):
		// Never written: safe to send again.
	default:
		return 0, false
	}
	if backoff > p.MaxWait {
		backoff = p.MaxWait
	}
	return backoff, true
}

func (p RetryPolicy) sleep(ctx context.Context, d time.Duration) error {
	return p.Sleep(ctx, d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
