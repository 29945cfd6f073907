package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/store"
)

// runComplete runs cobra's hidden __complete command, as the shell scripts of
// `twauth completion` do, and returns its stdout: one candidate a line,
// then ":" and the directive.
func runComplete(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	deps := cli.Deps{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	code := cli.Run(context.Background(), deps, append([]string{"__complete"}, args...))
	if code != 0 {
		t.Fatalf("twauth __complete %q: exit %d\n%s", args, code, stderr.String())
	}
	// cobra's own trace of the directive is all stderr may hold: a
	// completion that cannot read the store says nothing.
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.HasPrefix(s, "Completion ended with directive: ") {
		t.Errorf("twauth __complete %q: stderr %q", args, s)
	}
	return stdout.String()
}

func compLines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// compNoFiles and compFiles are the directive lines: ShellCompDirectiveNoFileComp
// (the shell offers no file names) and ShellCompDirectiveDefault.
const (
	compNoFiles = ":4"
	compFiles   = ":0"
)

func TestCompletionFixedValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"login", "--pkce-method", ""}, compLines("S256", "plain", compNoFiles)},
		{[]string{"url", "--pkce-method", "S"}, compLines("S256", compNoFiles)},
		{[]string{"login", "--pkce-method=p"}, compLines("plain", compNoFiles)},
		{[]string{"pkce", "--method", ""}, compLines("S256", "plain", compNoFiles)},
		{[]string{"pkce", "--method", "x"}, compLines(compNoFiles)},
		// The shells are the subcommands of completion.
		{[]string{"completion", ""}, compLines(
			"bash\tGenerate the autocompletion script for bash",
			"fish\tGenerate the autocompletion script for fish",
			"powershell\tGenerate the autocompletion script for powershell",
			"zsh\tGenerate the autocompletion script for zsh",
			compNoFiles)},
		{[]string{"completion", "z"}, compLines("zsh\tGenerate the autocompletion script for zsh", compNoFiles)},
		// --store: a file, or the keyring and etcd forms once the word
		// starts like them; nothing lists keyring services or etcd
		// endpoints.
		{[]string{"status", "--store", ""}, compLines(compFiles)},
		{[]string{"status", "--store", "./st"}, compLines(compFiles)},
		{[]string{"status", "--store", "/tmp/keyring"}, compLines(compFiles)},
		{[]string{"token", "--store", "k"}, compLines(
			"keyring\tthe OS keyring, service twauth",
			"keyring:\tkeyring:SERVICE, the OS keyring under another service name",
			compNoFiles)},
		{[]string{"token", "--store", "keyring"}, compLines(
			"keyring\tthe OS keyring, service twauth",
			"keyring:\tkeyring:SERVICE, the OS keyring under another service name",
			compNoFiles)},
		{[]string{"token", "--store", "keyring:"}, compLines(compNoFiles)},
		{[]string{"token", "--store", "keyring:my"}, compLines(compNoFiles)},
		// One form that needs more: no space after it (NoFileComp|NoSpace).
		{[]string{"token", "--store", "e"}, compLines(
			"etcd://\tetcd://HOST:PORT[,HOST:PORT...]/PREFIX, one chain shared by many machines", ":6")},
		{[]string{"token", "--store", "etcd:"}, compLines(
			"etcd://\tetcd://HOST:PORT[,HOST:PORT...]/PREFIX, one chain shared by many machines", ":6")},
		{[]string{"token", "--store", "etcd://127.0.0.1:2379/x"}, compLines(compNoFiles)},
	} {
		if got := runComplete(t, nil, tc.args...); got != tc.want {
			t.Errorf("__complete %q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

func TestCompletionScopes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"login", "--scopes", "tw"}, compLines("tweet.read", "tweet.write", "tweet.moderate.write", compNoFiles)},
		{[]string{"url", "--scopes", "off"}, compLines("offline.access", compNoFiles)},
		// The last word is completed; those before it are kept and not
		// offered again.
		{[]string{"login", "--scopes", "tweet.read tw"}, compLines("tweet.read tweet.write", "tweet.read tweet.moderate.write", compNoFiles)},
		{[]string{"login", "--scopes", "tweet.read,users.read,u"}, compLines("tweet.read,users.read,users.email", compNoFiles)},
		{[]string{"login", "--scopes=users.read b"}, compLines(
			"users.read block.read", "users.read block.write", "users.read bookmark.read", "users.read bookmark.write",
			"users.read broadcast.read", "users.read broadcast.write", compNoFiles)},
		// Scopes only X's API metadata lists are X's scopes too.
		{[]string{"login", "--scopes", "tweet.read timeline"}, compLines("tweet.read timeline.read", compNoFiles)},
		{[]string{"login", "--scopes", "tweet.read nope"}, compLines(compNoFiles)},
	} {
		if got := runComplete(t, nil, tc.args...); got != tc.want {
			t.Errorf("__complete %q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
	// An empty word offers every scope.
	got := runComplete(t, nil, "login", "--scopes", "")
	if n := strings.Count(got, "\n"); n != 26 || !strings.HasPrefix(got, "tweet.read\n") || !strings.Contains(got, "\nbroadcast.write\n") {
		t.Errorf("__complete login --scopes '': %d lines\n%s", n, got)
	}
}

// completionStore writes a store with two apps of two accounts each, and
// accounts without a username or with no account at all.
func completionStore(t *testing.T, path string) {
	t.Helper()
	entry := func(id, userID, username string) *store.Entry {
		return &store.Entry{ClientID: id, AccessToken: "a-" + id + userID, RefreshToken: "r-" + id + userID, TokenType: "bearer", UserID: userID, Username: username}
	}
	err := (&store.Store{Path: path}).Update(context.Background(), func(f *store.File) error {
		for _, e := range []*store.Entry{
			entry("app-b", "30", "carol"),
			entry("app-a", "20", "bob"),
			entry("app-a", "10", "alice"),
			entry("app-b", "10", "alice"),
			entry("app-c", "77", ""),
			entry("old-app", "", ""),
		} {
			f.Clients[e.Key()] = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompletionFromStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "tokens.json")
	completionStore(t, path)
	withStore := func(args ...string) []string {
		return append([]string{args[0], "--store", path}, args[1:]...)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"client ids with their accounts", nil, withStore("token", "--client-id", ""),
			compLines("app-a\t@alice @bob", "app-b\t@alice @carol", "app-c\t77", "old-app", compNoFiles)},
		{"client ids by prefix", nil, withStore("login", "--client-id", "app-"),
			compLines("app-a\t@alice @bob", "app-b\t@alice @carol", "app-c\t77", compNoFiles)},
		{"client id as --client-id=", nil, withStore("status", "--client-id=o"), compLines("old-app", compNoFiles)},
		{"accounts of the app given", nil, withStore("token", "--client-id", "app-b", "--account", ""),
			compLines("@alice", "@carol", compNoFiles)},
		{"accounts of the app in TWAUTH_CLIENT_ID", map[string]string{"TWAUTH_CLIENT_ID": "app-a"}, withStore("refresh", "--account", ""),
			compLines("@alice", "@bob", compNoFiles)},
		{"the flag wins over TWAUTH_CLIENT_ID", map[string]string{"TWAUTH_CLIENT_ID": "app-a"}, withStore("refresh", "--client-id", "app-c", "--account", ""),
			compLines("77", compNoFiles)},
		{"accounts of every app, each once", nil, withStore("status", "--account", ""),
			compLines("@alice", "@bob", "@carol", "77", compNoFiles)},
		{"accounts by prefix", nil, withStore("status", "--account", "@b"), compLines("@bob", compNoFiles)},
		{"names without their @", nil, withStore("status", "--account", "c"), compLines("carol", compNoFiles)},
		{"user ids", nil, withStore("status", "--account", "7"), compLines("77", compNoFiles)},
		{"an app the store lacks", nil, withStore("token", "--client-id", "nobody", "--account", ""), compLines(compNoFiles)},
		{"the store in TWAUTH_STORE", map[string]string{"TWAUTH_STORE": path}, []string{"token", "--client-id", "app-c"},
			compLines("app-c\t77", compNoFiles)},
		{"--store wins over TWAUTH_STORE", map[string]string{"TWAUTH_STORE": filepath.Join(dir, "none.json")}, withStore("token", "--client-id", "app-c"),
			compLines("app-c\t77", compNoFiles)},
		{"a store not there yet", nil, []string{"token", "--store", filepath.Join(dir, "none.json"), "--client-id", ""}, compLines(compNoFiles)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runComplete(t, tc.env, tc.args...); got != tc.want {
				t.Errorf("__complete %q:\n got %q\nwant %q", tc.args, got, tc.want)
			}
		})
	}
}

// TestCompletionKeyringStore: a keyring store keeps its client ids and
// usernames in the default file, which completion reads without asking
// the keyring.
func TestCompletionKeyringStore(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	def, err := store.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if def != filepath.Join(home, "twauth", "tokens.json") {
		t.Fatalf("default store %s is not under XDG_CONFIG_HOME", def)
	}
	completionStore(t, def)
	for _, args := range [][]string{
		{"token", "--store", "keyring", "--client-id", "app-c"},
		{"token", "--store", "keyring:mine", "--client-id", "app-c"},
		{"token", "--client-id", "app-c"},
	} {
		if got, want := runComplete(t, nil, args...), compLines("app-c\t77", compNoFiles); got != want {
			t.Errorf("__complete %q:\n got %q\nwant %q", args, got, want)
		}
	}
}

// TestCompletionUnreadableStore: a store twauth cannot read or would
// refuse completes nothing, and completion still succeeds, silently.
func TestCompletionUnreadableStore(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T, path string){
		"corrupt": func(t *testing.T, path string) {
			mkdirFor(t, path)
			writeFile(t, path, "{not json")
		},
		"empty": func(t *testing.T, path string) {
			mkdirFor(t, path)
			writeFile(t, path, "")
		},
		"a directory": func(t *testing.T, path string) {
			if err := os.MkdirAll(path, 0o700); err != nil {
				t.Fatal(err)
			}
		},
		"writable by others": func(t *testing.T, path string) {
			completionStore(t, path)
			if err := os.Chmod(path, 0o666); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state", "tokens.json")
			setup(t, path)
			for _, args := range [][]string{
				{"token", "--store", path, "--client-id", ""},
				{"token", "--store", path, "--account", ""},
				{"token", "--store", path, "--client-id", "app-a", "--account", "@"},
			} {
				if got, want := runComplete(t, nil, args...), compLines(compNoFiles); got != want {
					t.Errorf("__complete %q:\n got %q\nwant %q", args, got, want)
				}
			}
		})
	}
}

func mkdirFor(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
}
