package serve

import (
	"context"
	"sync"
	"time"
)

// cache holds the last token from the Source and makes sure that at most one
// call to the Source runs at a time: requests that find the token too close
// to its expiry join the call in flight instead of starting another.
type cache struct {
	src      Source
	minValid time.Duration
	timeout  time.Duration // bound on one Source call
	now      func() time.Time

	mu     sync.Mutex
	tok    Token
	flight *flight // the Source call in flight, nil when none
}

type flight struct {
	done chan struct{} // closed when tok and err are set
	tok  Token
	err  error
}

// token returns a token valid beyond minValid from the cache, or waits for
// one call to the Source. fresh reports whether the caller waited for that
// call. The call runs on a context detached from ctx: a client that hangs
// up must not cancel a refresh that X may already have acted on (the
// refresh token rotates), so ctx bounds only the wait.
func (c *cache) token(ctx context.Context) (tok Token, fresh bool, err error) {
	c.mu.Lock()
	if c.tok.Expiry.Sub(c.now()) > c.minValid {
		tok = c.tok
		c.mu.Unlock()
		return tok, false, nil
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		go c.fetch(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.tok, true, f.err
	case <-ctx.Done():
		return Token{}, true, ctx.Err()
	}
}

func (c *cache) fetch(ctx context.Context, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	f.tok, f.err = c.src.Token(ctx, c.minValid)

	c.mu.Lock()
	if f.err == nil {
		c.tok = f.tok
	}
	c.flight = nil
	c.mu.Unlock()
	close(f.done)
}
