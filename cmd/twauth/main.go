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
	// An interrupt cancels the context rather than killing the process, so
	// that Ctrl-C always ends a login cleanly (exit 130). A closed output
	// pipe (`twauth refresh -v 2>&1 | head -2`) must not kill twauth either:
	// with SIGPIPE ignored, writes fail with EPIPE and the durable sequence
	// finishes (docs/design.md, "The durable sequence").
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
