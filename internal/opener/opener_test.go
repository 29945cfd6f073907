package opener

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	cases := map[string][]string{
		"firefox":                           {"firefox"},
		"  chromium   --new-window ":        {"chromium", "--new-window"},
		`"/Applications/My Browser" --x %s`: {"/Applications/My Browser", "--x", "%s"},
		`open -a 'Google Chrome'`:           {"open", "-a", "Google Chrome"},
		`a\ b "c\"d" 'e\f'`:                 {"a b", `c"d`, `e\f`},
		`""`:                                {""},
	}
	for in, want := range cases {
		got, err := splitWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitWords(`"open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestCommandPassesTheURL(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	script := filepath.Join(dir, "browser.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+out+"\necho launched\necho oops >&2\n"), 0o755)
	const u = "https://x.example/i/oauth2/authorize?a=1&b=2"

	for spec, want := range map[string]string{
		script + " --flag":            "--flag\n" + u + "\n",
		script + " --url=%s --second": "--url=" + u + "\n--second\n",
	} {
		var stderr bytes.Buffer
		open, err := Command(spec, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		if err := open(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if string(got) != want {
			t.Errorf("%s: args %q, want %q", spec, got, want)
		}
		if stderr.String() != "launched\noops\n" {
			t.Errorf("the command's stdout and stderr were not routed to stderr: %q", stderr.String())
		}
	}
	open, _ := Command(filepath.Join(dir, "missing"), &bytes.Buffer{})
	if err := open(context.Background(), u); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing command: %v", err)
	}
	if _, err := Command("  ", nil); err == nil {
		t.Error("empty command accepted")
	}
}

func TestHeadless(t *testing.T) {
	cases := []struct {
		name     string
		goos     string
		env      map[string]string
		explicit bool
		headless bool
		reason   string
	}{
		{"linux desktop", "linux", map[string]string{"DISPLAY": ":0"}, false, false, ""},
		{"wayland", "linux", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, false, false, ""},
		{"linux no display", "linux", nil, false, true, "no display"},
		{"linux no display, $BROWSER", "linux", map[string]string{"BROWSER": "w3m"}, false, false, ""},
		{"linux no display, --browser", "linux", nil, true, false, ""},
		{"ssh with X forwarding", "linux", map[string]string{"SSH_CONNECTION": "1 2 3 4", "DISPLAY": "localhost:10"}, false, true, "SSH session"},
		{"ssh client only", "linux", map[string]string{"SSH_CLIENT": "1 2 3"}, false, true, "SSH session"},
		{"ssh tty", "freebsd", map[string]string{"SSH_TTY": "/dev/pts/1"}, false, true, "SSH session"},
		{"ssh with $BROWSER", "linux", map[string]string{"SSH_CONNECTION": "1 2 3 4", "BROWSER": "lynx"}, false, false, ""},
		{"ssh into a mac", "darwin", map[string]string{"SSH_CONNECTION": "1 2 3 4"}, false, true, "SSH session"},
		{"mac", "darwin", nil, false, false, ""},
		{"windows", "windows", nil, false, false, ""},
		{"wsl", "linux", map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, false, false, ""},
		{"freebsd desktop", "freebsd", map[string]string{"DISPLAY": ":0"}, false, false, ""},
	}
	for _, tc := range cases {
		getenv := func(k string) string { return tc.env[k] }
		h, why := Headless(tc.goos, getenv, tc.explicit)
		if h != tc.headless || !strings.Contains(why, tc.reason) || (!h && why != "") {
			t.Errorf("%s: Headless = %v, %q; want %v, %q", tc.name, h, why, tc.headless, tc.reason)
		}
	}
}
