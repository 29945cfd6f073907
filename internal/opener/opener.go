// Package opener opens the authorization URL in a browser: a command the
// user named (--browser or $BROWSER), else the system's opener (under WSL,
// the Windows browser; elsewhere github.com/pkg/browser). It also decides
// when no browser can be opened at all, so that a login on a headless
// machine does not wait in vain.
package opener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"github.com/pkg/browser"
)

// Func opens url in a browser and returns when the opener has finished
// (for a command: when it exits).
type Func func(ctx context.Context, url string) error

// Command returns a Func that runs the browser command spec with the URL:
// where an argument contains %s the URL replaces it, else the URL is the
// last argument. spec is split into words like a shell would for plain
// words and '…' or "…" quoting, without running a shell. The command's own
// output goes to stderr: stdout carries data only.
func Command(spec string, stderr io.Writer) (Func, error) {
	argv, err := splitWords(spec)
	if err != nil {
		return nil, fmt.Errorf("browser command %q: %w", spec, err)
	}
	if len(argv) == 0 {
		return nil, errors.New("the browser command is empty")
	}
	return func(ctx context.Context, url string) error {
		args := make([]string, 0, len(argv)+1)
		substituted := false
		for _, a := range argv[1:] {
			if strings.Contains(a, "%s") {
				a = strings.ReplaceAll(a, "%s", url)
				substituted = true
			}
			args = append(args, a)
		}
		if !substituted {
			args = append(args, url)
		}
		cmd := exec.CommandContext(ctx, argv[0], args...)
		cmd.Stdout = stderr
		cmd.Stderr = stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("browser command %s: %w", argv[0], err)
		}
		return nil
	}, nil
}

// pkgBrowser guards github.com/pkg/browser's package-level writers.
var pkgBrowser sync.Mutex

// System returns a Func that opens the URL with the system's opener, its
// output routed to stderr: under WSL the Windows browser (see
// Env.WSLLaunch), else xdg-open, open or rundll32 via github.com/pkg/browser.
func System(stderr io.Writer) Func {
	return func(ctx context.Context, url string) error {
		if l, ok := SystemEnv().WSLLaunch(url); ok {
			return l.run(ctx, stderr)
		}
		pkgBrowser.Lock()
		defer pkgBrowser.Unlock()
		browser.Stdout, browser.Stderr = stderr, stderr
		return browser.OpenURL(url)
	}
}

// splitWords splits s into words separated by blanks, honouring single and
// double quotes and backslash escapes outside single quotes.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\' && quote == '"' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
			i++
			cur.WriteRune(rs[i])
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == '\'' || r == '"':
			quote = r
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
