//go:build !linux

package e2e

import "time"

// sleepUntil sleeps until deadline. Outside Linux the Go runtime's
// netpoller (kqueue, event ports) takes its timeouts in nanoseconds.
func sleepUntil(deadline time.Time) { time.Sleep(time.Until(deadline)) }
