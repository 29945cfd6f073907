// Package interop holds interoperability tests: twauth against OAuth 2.0
// servers this project did not write. It has test files only.
package interop

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// exampleop logs every request through slog's default logger; the
	// tests record the requests themselves.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to d for the goroutines that serve or send
// HTTP (the OP, twauth's listener, the clients' connections) to end, and
// returns the stacks of those that did not.
func leakedGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		// The first goroutine is this one.
		for _, g := range strings.Split(string(buf), "\n\n")[1:] {
			for _, mark := range []string{"net/http.", "twauth/internal/", "zitadel/oidc", "interop."} {
				if strings.Contains(g, mark) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
