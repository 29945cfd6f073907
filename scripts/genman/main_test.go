package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600") // 2026-01-01T00:00:00Z
	dir := filepath.Join(t.TempDir(), "man")
	var stderr bytes.Buffer
	if code := run([]string{"-version", "v1.2.3", dir}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, want := range []string{"twauth.1", "twauth-login.1", "twauth-token.1", "twauth-refresh.1", "twauth-status.1",
		"twauth-revoke.1", "twauth-pkce.1", "twauth-url.1", "twauth-exchange.1", "twauth-version.1",
		"twauth-completion.1", "twauth-completion-bash.1"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s among %q", want, names)
		}
	}

	page := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	root := page("twauth.1")
	for _, want := range []string{
		".TH \"TWAUTH\" \"1\" \"Jan 2026\" \"twauth v1.2.3\" \"twauth manual\"\n",
		// Plain help text stays as --help shows it: <…> kept, indented
		// lines kept as lines.
		"environment variable TWAUTH_<FLAG>, e.g.",
		".EX\n  twauth login                       log in through the browser\n",
		"(default <user config dir>/twauth/tokens.json",
		"Ballerina Config.toml file to read",
	} {
		if !strings.Contains(root, want) {
			t.Errorf("twauth.1 lacks %q:\n%s", want, root)
		}
	}
	if login := page("twauth-login.1"); !strings.Contains(login, ".TH \"TWAUTH-LOGIN\" \"1\" \"Jan 2026\"") || !strings.Contains(login, "\\fB--client-id\\fP") {
		t.Errorf("twauth-login.1:\n%s", login)
	}
	for _, n := range names {
		if strings.Contains(page(n), "HISTORY") {
			t.Errorf("%s has cobra's dated HISTORY section", n)
		}
	}

	// man reads each page without a warning.
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("no man here")
	}
	for _, n := range names {
		cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", filepath.Join(dir, n))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil || errOut.Len() > 0 || !strings.Contains(out.String(), "NAME") {
			t.Errorf("man %s: %v %s", n, err, errOut.String())
		}
	}
}

func TestMarkdown(t *testing.T) {
	cases := map[string]string{
		"plain text.":                        "plain text.",
		"TWAUTH_<FLAG> *x* `y` [z] #1 a\\b":  `TWAUTH\_\<FLAG\> \*x\* \` + "`" + `y\` + "`" + ` \[z\] \#1 a\\b`,
		"- not a list\n+ nor\n1. this":       "\\- not a list\n\\+ nor\n1\\. this",
		"intro:\n  indented <a>\n  b\nafter": "intro:\n\n      indented <a>\n      b\n\nafter",
		"intro:\n\n  block\n\nafter":         "intro:\n\n      block\n\nafter",
	}
	for in, want := range cases {
		if got := markdown(in); got != want {
			t.Errorf("markdown(%q) =\n%q, want\n%q", in, got, want)
		}
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	for _, args := range [][]string{nil, {"a", "b"}, {"-nope", "dir"}} {
		stderr.Reset()
		if code := run(args, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
			t.Errorf("%q: exit %d, %q", args, code, stderr.String())
		}
	}
}
