//go:build unix

package main

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func TestInterruptContextArmsOnlyWhenWaitedOn(t *testing.T) {
	ctx, stop := interruptContext()
	c := ctx.(*lazySignalContext)
	if c.sigs != nil {
		t.Fatal("signals caught before anything waited on the context")
	}
	// Deriving a context waits on it.
	child, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if c.sigs == nil {
		t.Fatal("deriving a context did not catch the signals")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGINT did not cancel the context")
	}
	if ctx.Err() != context.Canceled || child.Err() != context.Canceled {
		t.Fatalf("Err() = %v, %v", ctx.Err(), child.Err())
	}
	stop()
	stop()
}

func TestInterruptContextStopBeforeWait(t *testing.T) {
	ctx, stop := interruptContext()
	stop()
	<-ctx.Done() // stop cancels, and arms nothing
	if ctx.(*lazySignalContext).sigs != nil {
		t.Fatal("signals caught after stop")
	}
}
