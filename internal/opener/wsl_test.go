package opener

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// A login's authorize URL, with the & and %XX that cmd.exe would misread.
const authorizeURL = "https://x.com/i/oauth2/authorize?response_type=code&client_id=abc" +
	"&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=tweet.read%20offline.access" +
	"&state=st&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"

// fakeEnv is an Env over a table: the variables set, the files that exist
// and the commands on $PATH (name → path).
func fakeEnv(goos string, vars map[string]string, files []string, path map[string]string) Env {
	return Env{
		GOOS:   goos,
		Getenv: func(k string) string { return vars[k] },
		Exists: func(name string) bool {
			for _, f := range files {
				if f == name {
					return true
				}
			}
			return false
		},
		LookPath: func(file string) (string, error) {
			if p, ok := path[file]; ok {
				return p, nil
			}
			return "", errors.New("not found")
		},
	}
}

func TestWSLLaunch(t *testing.T) {
	const (
		interop     = "/proc/sys/fs/binfmt_misc/WSLInterop"
		interopLate = "/proc/sys/fs/binfmt_misc/WSLInterop-late"
		cmdOnPath   = "/mnt/c/WINDOWS/system32/cmd.exe"
		explOnPath  = "/mnt/c/WINDOWS/explorer.exe"
	)
	distro := map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}
	winPath := map[string]string{"cmd.exe": cmdOnPath, "explorer.exe": explOnPath}
	escaped := cmdEscape(authorizeURL)
	cases := []struct {
		name  string
		goos  string
		vars  map[string]string
		files []string
		path  map[string]string
		want  Launch
		ok    bool
	}{
		{"plain linux, even with cmd.exe on PATH", "linux", nil, nil, winPath, Launch{}, false},
		{"a WSL variable on windows itself", "windows", distro, []string{interop}, winPath, Launch{}, false},
		{"wslview first", "linux", distro, nil,
			map[string]string{"wslview": "/usr/bin/wslview", "cmd.exe": cmdOnPath},
			Launch{Argv: []string{"/usr/bin/wslview", authorizeURL}}, true},
		{"cmd.exe from PATH, in its own directory", "linux", distro, nil, winPath,
			Launch{Argv: []string{cmdOnPath, "/c", "start", "", escaped}, Dir: "/mnt/c/WINDOWS/system32"}, true},
		{"only $WSL_INTEROP set", "linux", map[string]string{"WSL_INTEROP": "/run/WSL/1_interop"}, nil, winPath,
			Launch{Argv: []string{cmdOnPath, "/c", "start", "", escaped}, Dir: "/mnt/c/WINDOWS/system32"}, true},
		{"under sudo: no variables, the interop file, Windows not on PATH", "linux", nil,
			[]string{interop, "/mnt/c/Windows/System32/cmd.exe"}, nil,
			Launch{Argv: []string{"/mnt/c/Windows/System32/cmd.exe", "/c", "start", "", escaped}, Dir: "/mnt/c/Windows/System32"}, true},
		{"systemd distro: WSLInterop-late, explorer.exe only", "linux", nil, []string{interopLate},
			map[string]string{"explorer.exe": explOnPath},
			Launch{Argv: []string{explOnPath, authorizeURL}}, true},
		{"explorer.exe at its place on C:", "linux", distro, []string{"/mnt/c/Windows/explorer.exe"}, nil,
			Launch{Argv: []string{"/mnt/c/Windows/explorer.exe", authorizeURL}}, true},
		{"WSL with interop off and no wslview", "linux", distro, nil, map[string]string{"xdg-open": "/usr/bin/xdg-open"}, Launch{}, false},
	}
	for _, tc := range cases {
		got, ok := fakeEnv(tc.goos, tc.vars, tc.files, tc.path).WSLLaunch(authorizeURL)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: WSLLaunch = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestHeadlessWSL: WSL, found by its variables or by its interop file
// alone, has a browser (Windows'), SSH or not.
func TestHeadlessWSL(t *testing.T) {
	cases := []struct {
		name     string
		vars     map[string]string
		files    []string
		headless bool
	}{
		{"interop file, no variables (sudo)", nil, []string{"/proc/sys/fs/binfmt_misc/WSLInterop"}, false},
		{"WSLInterop-late", nil, []string{"/proc/sys/fs/binfmt_misc/WSLInterop-late"}, false},
		{"$WSL_INTEROP", map[string]string{"WSL_INTEROP": "/run/WSL/8_interop"}, nil, false},
		{"no WSL, no display", nil, []string{"/mnt/c/Windows/System32/cmd.exe"}, true},
		{"SSH into WSL", map[string]string{"WSL_DISTRO_NAME": "Ubuntu", "SSH_CONNECTION": "1 2 3 4"}, nil, true},
	}
	for _, tc := range cases {
		h, why := fakeEnv("linux", tc.vars, tc.files, nil).Headless(false)
		if h != tc.headless || (h == (why == "")) {
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

// TestSystemUnderWSL runs System with a WSL environment and a fake
// wslview, then a fake cmd.exe, on $PATH: each gets the URL as worked out
// by WSLLaunch, its output goes to stderr, and cmd.exe runs in its own
// directory.
func TestSystemUnderWSL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("WSL is Linux")
	}
	for _, name := range []string{"wslview", "cmd.exe"} {
		dir := t.TempDir()
		out := filepath.Join(dir, "args")
		script := "#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$@\" > '" + out + "'\necho opened\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", dir)
		t.Setenv("WSL_DISTRO_NAME", "Ubuntu")
		var stderr bytes.Buffer
		if err := System(&stderr)(context.Background(), authorizeURL); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := os.ReadFile(out)
		cwd, _ := os.Getwd()
		want := cwd + "\n" + authorizeURL + "\n"
		if name == "cmd.exe" {
			want = dir + "\n/c\nstart\n\n" + cmdEscape(authorizeURL) + "\n"
		}
		if string(got) != want {
			t.Errorf("%s got\n%s\nwant\n%s", name, got, want)
		}
		if stderr.String() != "opened\n" {
			t.Errorf("%s: stderr %q", name, stderr.String())
		}
	}
}
