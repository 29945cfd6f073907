// Command twauth gets OAuth 2.0 PKCE tokens for the X API and writes them
// into a Ballerina Config.toml. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/twauth/twauth/internal/cli"
)

func main() {
	// NotifyContext rather than an ignored inherited SIGINT: Ctrl-C always
	// ends a login cleanly (exit 130).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
