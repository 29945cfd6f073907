package app

import (
	"fmt"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/twauth/twauth/internal/opener"
)

// launchPage writes a page that sends the browser on to authURL, readable
// by this user only, and returns its file:// URL. The browser is started
// with that URL rather than authURL, so the state and the code challenge
// never appear on a command line, where every user of the machine can read
// them (ps, /proc/PID/cmdline) and race the real browser to the listener
// with a code of their own (docs/design.md, "Security rules"). cleanup
// removes the page once the login is over.
func launchPage(authURL string) (pageURL string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "twauth-login-")
	if err != nil {
		return "", nil, fmt.Errorf("prepare the page that opens the browser: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	esc := html.EscapeString(authURL)
	page := `<!doctype html>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=` + esc + `">
<title>twauth: opening X</title>
<p>Opening X's authorization page… If nothing happens, <a href="` + esc + `">continue to X</a>.</p>
`
	path := filepath.Join(dir, "login.html")
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("prepare the page that opens the browser: %w", err)
	}
	p := filepath.ToSlash(path)
	if runtime.GOOS == "windows" {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), cleanup, nil
}

// opensDirectly reports whether the browser must get the URL itself: under
// WSL the Windows browser cannot read a page in the Linux file system (the
// URL is then on the Windows side's command line: SECURITY.md says so).
func opensDirectly(goos string) bool {
	return goos == "linux" && runtime.GOOS == "linux" && opener.WSL()
}
