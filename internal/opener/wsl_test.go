package opener

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// A login's authorize URL, with the & and %XX that cmd.exe would misread.
const authorizeURL = "https://x.com/i/oauth2/authorize?response_type=code&client_id=abc" +
	"&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=tweet.read%20offline.access" +
	"&state=st&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"

// lookPathIn is an exec.LookPath over the commands on $PATH (name → path)
// and the files that exist, for absolute paths.
func lookPathIn(path map[string]string, files []string) func(string) (string, error) {
	return func(file string) (string, error) {
		if p, ok := path[file]; ok {
			return p, nil
		}
		if filepath.IsAbs(file) && slices.Contains(files, file) {
			return file, nil
		}
		return "", errors.New("not found")
	}
}

func TestSystemCommand(t *testing.T) {
	const (
		cmdOnPath  = "/mnt/c/WINDOWS/system32/cmd.exe"
		explOnPath = "/mnt/c/WINDOWS/explorer.exe"
	)
	winPath := map[string]string{"cmd.exe": cmdOnPath, "explorer.exe": explOnPath, "xdg-open": "/usr/bin/xdg-open"}
	escaped := cmdEscape(authorizeURL)
	type c = []string
	cases := []struct {
		name  string
		goos  string
		wsl   bool
		path  map[string]string
		files []string
		argv  []string
		dir   string
	}{
		{"linux desktop", "linux", false, map[string]string{"xdg-open": "/usr/bin/xdg-open", "www-browser": "/usr/bin/w3m"}, nil,
			c{"/usr/bin/xdg-open", authorizeURL}, ""},
		{"debian alternatives only", "linux", false, map[string]string{"x-www-browser": "/usr/bin/x-www-browser"}, nil,
			c{"/usr/bin/x-www-browser", authorizeURL}, ""},
		{"linux, Windows on PATH but not WSL", "linux", false, winPath, nil, c{"/usr/bin/xdg-open", authorizeURL}, ""},
		{"freebsd", "freebsd", false, map[string]string{"xdg-open": "/usr/local/bin/xdg-open"}, nil,
			c{"/usr/local/bin/xdg-open", authorizeURL}, ""},
		{"mac", "darwin", false, map[string]string{"open": "/usr/bin/open", "xdg-open": "/opt/bin/xdg-open"}, nil,
			c{"/usr/bin/open", authorizeURL}, ""},
		{"nothing", "linux", false, nil, nil, nil, ""},
		{"WSL: wslview first", "linux", true, map[string]string{"wslview": "/usr/bin/wslview", "cmd.exe": cmdOnPath}, nil,
			c{"/usr/bin/wslview", authorizeURL}, ""},
		{"WSL: cmd.exe from PATH, in its own directory", "linux", true, winPath, nil,
			c{cmdOnPath, "/c", "start", "", escaped}, "/mnt/c/WINDOWS/system32"},
		{"WSL, Windows not on PATH: cmd.exe at its place on C:", "linux", true,
			map[string]string{"xdg-open": "/usr/bin/xdg-open"}, c{"/mnt/c/Windows/System32/cmd.exe"},
			c{"/mnt/c/Windows/System32/cmd.exe", "/c", "start", "", escaped}, "/mnt/c/Windows/System32"},
		{"WSL: explorer.exe only", "linux", true, map[string]string{"explorer.exe": explOnPath}, nil,
			c{explOnPath, authorizeURL}, ""},
		{"WSL: explorer.exe at its place on C:", "linux", true, nil, c{"/mnt/c/Windows/explorer.exe"},
			c{"/mnt/c/Windows/explorer.exe", authorizeURL}, ""},
		{"WSL with interop off: WSLg's xdg-open", "linux", true, map[string]string{"xdg-open": "/usr/bin/xdg-open"}, nil,
			c{"/usr/bin/xdg-open", authorizeURL}, ""},
		{"WSL with nothing", "linux", true, nil, nil, nil, ""},
	}
	for _, tc := range cases {
		argv, dir := systemCommand(tc.goos, tc.wsl, lookPathIn(tc.path, tc.files), authorizeURL)
		if !reflect.DeepEqual(argv, tc.argv) || dir != tc.dir {
			t.Errorf("%s: systemCommand = %q in %q; want %q in %q", tc.name, argv, dir, tc.argv, tc.dir)
		}
	}
}

func TestIsWSL(t *testing.T) {
	const interop, interopLate = "/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late"
	cases := []struct {
		name  string
		goos  string
		vars  map[string]string
		files []string
		wsl   bool
	}{
		{"$WSL_DISTRO_NAME", "linux", map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, nil, true},
		{"$WSL_INTEROP", "linux", map[string]string{"WSL_INTEROP": "/run/WSL/8_interop"}, nil, true},
		{"under sudo: the interop file, no variables", "linux", nil, []string{interop}, true},
		{"systemd distro: WSLInterop-late", "linux", nil, []string{interopLate}, true},
		{"plain linux", "linux", nil, []string{"/mnt/c/Windows/System32/cmd.exe"}, false},
		{"windows with a WSL variable", "windows", map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, []string{interop}, false},
	}
	for _, tc := range cases {
		getenv := func(k string) string { return tc.vars[k] }
		exists := func(name string) bool { return slices.Contains(tc.files, name) }
		if got := isWSL(tc.goos, getenv, exists); got != tc.wsl {
			t.Errorf("%s: isWSL = %v", tc.name, got)
		}
	}
	if isWSL("linux", func(string) string { return "" }, nil) {
		t.Error("isWSL with no files to look at")
	}
}

// TestHeadlessWSL: WSL, found by its variables or by its interop file
// alone, has a browser (Windows'), unless over SSH.
func TestHeadlessWSL(t *testing.T) {
	cases := []struct {
		name     string
		vars     map[string]string
		files    []string
		headless bool
	}{
		{"interop file, no variables (sudo)", nil, []string{"/proc/sys/fs/binfmt_misc/WSLInterop"}, false},
		{"$WSL_INTEROP", map[string]string{"WSL_INTEROP": "/run/WSL/8_interop"}, nil, false},
		{"no WSL, no display", nil, []string{"/mnt/c/Windows/System32/cmd.exe"}, true},
		{"SSH into WSL", map[string]string{"WSL_DISTRO_NAME": "Ubuntu", "SSH_CONNECTION": "1 2 3 4"}, nil, true},
	}
	for _, tc := range cases {
		getenv := func(k string) string { return tc.vars[k] }
		exists := func(name string) bool { return slices.Contains(tc.files, name) }
		h, why := headlessIn("linux", getenv, exists, false)
		if h != tc.headless || h == (why == "") {
			t.Errorf("%s: Headless = %v, %q; want %v", tc.name, h, why, tc.headless)
		}
	}
}

// cmdLine is cmd.exe's reading of a command line, as far as it matters to
// a word without quotes: percent expansion, then carets and operators. It
// reports the text start would get, or why cmd.exe would do something
// else. Every %NAME% counts as a defined variable unless NAME starts with
// the caret that cmdEscape puts there: the most hostile environment.
func cmdLine(line string) (string, error) {
	for i := 0; i < len(line); i++ {
		if line[i] != '%' {
			continue
		}
		if j := strings.IndexByte(line[i+1:], '%'); j > 0 && line[i+1] != '^' {
			return "", errors.New("expands %" + line[i+1:i+1+j] + "%")
		}
	}
	var out strings.Builder
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '^' && i+1 == len(line):
			return "", errors.New("a caret at the end continues the line")
		case c == '^':
			i++
			out.WriteByte(line[i])
		case strings.IndexByte("&|<>()", c) >= 0:
			return "", errors.New("reads " + string(c) + " as an operator")
		case c == '"' || c == ' ' || c == '\t':
			return "", errors.New("the word would be quoted or split at " + string(c))
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), nil
}

func TestCmdEscape(t *testing.T) {
	cases := map[string]string{
		authorizeURL:                      authorizeURL,
		"https://a.test/?x=(1)|<2>^3&y=%": "https://a.test/?x=(1)|<2>^3&y=%",
		"https://a.test/%PATH%/%3A%":      "https://a.test/%PATH%/%3A%",
		// Not valid in a URL: percent-encoded, as a browser would.
		"https://a.test/a b\"c\td\x01é": "https://a.test/a%20b%22c%09d%01%C3%A9",
	}
	for in, want := range cases {
		esc := cmdEscape(in)
		got, err := cmdLine(esc)
		if err != nil || got != want {
			t.Errorf("cmdEscape(%q) = %q: cmd.exe %v, reads %q; want %q", in, esc, err, got, want)
		}
	}
	// The model catches what the escaping prevents.
	for _, raw := range []string{authorizeURL, "https://a.test/%PATH%"} {
		if _, err := cmdLine(raw); err == nil {
			t.Errorf("cmdLine(%q) found nothing to misread", raw)
		}
	}
}

// TestSystem runs System with fake openers on $PATH: under WSL wslview,
// else cmd.exe (run in its own directory); elsewhere xdg-open. Each gets
// the URL as systemCommand works it out, and its output goes to stderr.
func TestSystem(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("ShellExecute or open: nothing to fake")
	}
	realWSL := isWSL(runtime.GOOS, func(string) string { return "" }, fileExists)
	cwd, _ := os.Getwd()
	for _, tc := range []struct{ opener, wsl string }{{"wslview", "Ubuntu"}, {"cmd.exe", "Ubuntu"}, {"xdg-open", ""}} {
		if tc.wsl == "" && realWSL {
			continue // WSL's own interop file says WSL
		}
		dir := t.TempDir()
		out := filepath.Join(dir, "args")
		script := "#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$@\" > '" + out + "'\necho opened\n"
		if err := os.WriteFile(filepath.Join(dir, tc.opener), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", dir)
		t.Setenv("WSL_DISTRO_NAME", tc.wsl)
		t.Setenv("WSL_INTEROP", "")
		var stderr bytes.Buffer
		if err := System(&stderr)(context.Background(), authorizeURL); err != nil {
			t.Fatalf("%s: %v", tc.opener, err)
		}
		got, _ := os.ReadFile(out)
		want := cwd + "\n" + authorizeURL + "\n"
		if tc.opener == "cmd.exe" {
			want = dir + "\n/c\nstart\n\n" + cmdEscape(authorizeURL) + "\n"
		}
		if string(got) != want {
			t.Errorf("%s got\n%s\nwant\n%s", tc.opener, got, want)
		}
		if stderr.String() != "opened\n" {
			t.Errorf("%s: stderr %q", tc.opener, stderr.String())
		}
	}
	if realWSL {
		return
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv("WSL_DISTRO_NAME", "")
	err := System(io.Discard)(context.Background(), authorizeURL)
	if err == nil || !strings.Contains(err.Error(), "xdg-open") || !strings.Contains(err.Error(), "$BROWSER") {
		t.Errorf("no opener: %v", err)
	}
}
