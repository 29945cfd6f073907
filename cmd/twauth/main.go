// Command twauth gets OAuth 2.0 PKCE tokens for the X API and writes them
// into a Ballerina Config.toml. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/twauth/twauth/internal/cli"
)

func main() {
	// An interrupt cancels the context rather than killing the process, so
	// that Ctrl-C always ends a login cleanly (exit 130). A closed output
	// pipe (`twauth refresh -v 2>&1 | head -2`) must not kill twauth either:
	// with SIGPIPE ignored, writes fail with EPIPE and the durable sequence
	// finishes (docs/design.md, "The durable sequence").
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := interruptContext()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// interruptContext is signal.NotifyContext(ctx, SIGINT, SIGTERM) made lazy:
// it starts catching the signals only when something first waits on the
// context (Done, which deriving a context also calls). Catching them costs a
// dedicated thread and a goroutine, 0.2–0.3 ms of a 2 ms `twauth token`
// (BENCHMARKS.md: the fast path is 2.24× `cat` with it, 2.58× without, and
// issue 12 holds it to 2.5×), and the fast path (read the store, print)
// never waits on anything: until then, a signal ends the process the
// default way, with nothing half-written. Everything that waits (a lock, a
// request, the redirect, stdin) does so through the context, and catches
// them.
func interruptContext() (context.Context, func()) {
	inner, cancel := context.WithCancel(context.Background())
	c := &lazySignalContext{Context: inner, cancel: cancel, quit: make(chan struct{})}
	return c, c.stop
}

type lazySignalContext struct {
	context.Context
	cancel   context.CancelFunc
	armOnce  sync.Once
	stopOnce sync.Once
	quit     chan struct{}
	sigs     chan os.Signal
}

func (c *lazySignalContext) Done() <-chan struct{} {
	c.armOnce.Do(c.arm)
	return c.Context.Done()
}

func (c *lazySignalContext) arm() {
	c.sigs = make(chan os.Signal, 1)
	signal.Notify(c.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-c.sigs:
			c.cancel()
		case <-c.quit:
		}
	}()
}

// stop stops catching the signals (a later one kills the process again) and
// releases the context.
func (c *lazySignalContext) stop() {
	c.stopOnce.Do(func() {
		c.armOnce.Do(func() {}) // never arm after stop
		if c.sigs != nil {
			signal.Stop(c.sigs)
		}
		close(c.quit)
		c.cancel()
	})
}
