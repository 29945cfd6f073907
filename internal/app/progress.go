package app

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws one updating status line on a terminal ("Waiting for …
// 4:59 left · Ctrl-C to cancel") and lets other messages print above it.
// Off a terminal it prints the status once and nothing more.
type progress struct {
	mu          sync.Mutex
	w           io.Writer
	interactive bool
	status      string // the line being shown; "" when none
}

func newProgress(w io.Writer, interactive bool) *progress {
	return &progress{w: w, interactive: interactive}
}

// line prints a message, keeping the status line below it.
func (p *progress) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.status != "" {
		fmt.Fprint(p.w, p.status)
	}
}

// start shows what is awaited until deadline and returns the function that
// clears it.
func (p *progress) start(what string, deadline time.Time) (stop func()) {
	if !p.interactive {
		p.line("%s (up to %s)…", what, time.Until(deadline).Round(time.Second))
		return func() {}
	}
	render := func() {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		p.mu.Lock()
		p.status = fmt.Sprintf("%s · %d:%02d left · Ctrl-C to cancel", what, int(left.Minutes()), int(left.Seconds())%60)
		fmt.Fprint(p.w, "\r\033[K"+p.status)
		p.mu.Unlock()
	}
	render()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				render()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			p.mu.Lock()
			p.status = ""
			fmt.Fprint(p.w, "\r\033[K")
			p.mu.Unlock()
		})
	}
}
