// Package opener opens the authorization URL in a browser: a command the
// user named (--browser or $BROWSER), else the system's opener (xdg-open,
// open, ShellExecute on Windows; under WSL, the Windows browser). It also
// decides when no browser can be opened at all, so that a login on a
// headless machine does not wait in vain.
package opener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
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
		return start(ctx, argv[0], args, "", stderr)
	}, nil
}

// start runs a browser command in dir, its output to stderr, and waits for
// it.
func start(ctx context.Context, name string, args []string, dir string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("browser command %s: %w", name, err)
	}
	return nil
}

// System returns a Func that opens the URL with the system's opener, its
// output routed to stderr: see systemCommand, and on Windows ShellExecute.
func System(stderr io.Writer) Func {
	return func(ctx context.Context, url string) error { return systemOpen(ctx, url, stderr) }
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
