//go:build !windows

package opener

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
)

// systemOpen opens url with the command of systemCommand.
func systemOpen(ctx context.Context, url string, stderr io.Writer) error {
	argv, dir := systemCommand(runtime.GOOS, isWSL(runtime.GOOS, os.Getenv, fileExists), exec.LookPath, url)
	if argv == nil {
		return errors.New("found no program that opens one (xdg-open, x-www-browser, www-browser; open on macOS): install xdg-utils, or set $BROWSER")
	}
	return start(ctx, argv[0], argv[1:], dir, stderr)
}
