package e2e

import (
	"syscall"
	"time"
)

// sleepUntil sleeps until deadline, or less when a signal interrupts it.
// On Linux the Go runtime's timers wake a millisecond late at best (its
// netpoller waits with epoll, in whole milliseconds), and the crash tests
// kill at chosen microseconds; nanosleep(2) keeps that precision without
// spinning, which would take a CPU from twauth.
func sleepUntil(deadline time.Time) {
	if d := time.Until(deadline); d > 0 {
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil)
	}
}
