package balconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLocate(t *testing.T) {
	sep := string(os.PathListSeparator)
	tests := []struct {
		flag, env, want string
	}{
		{"", "", "Config.toml"},
		{"my.toml", "a.toml" + sep + "b.toml", "my.toml"},
		{"", "a.toml" + sep + "b.toml", "a.toml"},
		{"", sep + sep + "b.toml", "b.toml"},
		{"", sep, "Config.toml"},
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == "BAL_CONFIG_FILES" {
				return tt.env
			}
			return ""
		}
		if got := Locate(tt.flag, getenv); got != tt.want {
			t.Errorf("Locate(%q) with BAL_CONFIG_FILES=%q = %q, want %q", tt.flag, tt.env, got, tt.want)
		}
	}
	if got := Locate("", nil); got != "Config.toml" {
		t.Errorf("Locate with no environment = %q", got)
	}
}

func setKey(key, value string) func(*Doc) error {
	return func(d *Doc) error { return d.Set(key, value) }
}

// dirEntries lists the names in dir, to catch stray temp files.
func dirEntries(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestEditNewFileIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "dir")
	path := filepath.Join(dir, "Config.toml")
	if err := Edit(context.Background(), path, time.Second, setKey("token", "T1")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "token = \"T1\"\n" {
		t.Errorf("new file = %q", data)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
}

func TestEditKeepsModeWithoutGroupAndOther(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	if err := os.WriteFile(path, []byte("# mine\nclientId = \"c\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Edit(context.Background(), path, time.Second, setKey("token", "T1")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if want := "# mine\nclientId = \"c\"\ntoken = \"T1\"\n"; string(data) != want {
		t.Errorf("file = %q, want %q", data, want)
	}
	fi, _ := os.Stat(path)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode %o, want 0600 (0640 without group access: the file now holds a token)", got)
	}
}

func TestEditThroughSymlinkKeepsTheLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "Config.toml")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("clientId = \"c\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "Config.toml")
	if err := os.Symlink(filepath.Join("real", "Config.toml"), link); err != nil {
		t.Fatal(err)
	}
	if err := Edit(context.Background(), link, time.Second, setKey("token", "T1")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is no longer a link: %v %v", fi, err)
	}
	data, _ := os.ReadFile(target)
	if string(data) != "clientId = \"c\"\ntoken = \"T1\"\n" {
		t.Errorf("target = %q", data)
	}
}

func TestEditRefusalWritesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Config.toml")
	orig := "[token]\nx = 1\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirEntries(t, dir)
	err := Edit(context.Background(), path, time.Second, setKey("token", "T1"))
	var e *Error
	if !errors.As(err, &e) || e.Line != 1 {
		t.Fatalf("Edit = %v, want a *Error at line 1", err)
	}
	if data, _ := os.ReadFile(path); string(data) != orig {
		t.Errorf("file changed to %q", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode changed to %o", fi.Mode().Perm())
	}
	if after := dirEntries(t, dir); after != before && after != before+" Config.toml.lock" {
		t.Errorf("directory was %q, is %q", before, after)
	}

	// An error from fn aborts the edit too, even after a successful Set.
	boom := errors.New("boom")
	err = Edit(context.Background(), path, time.Second, func(d *Doc) error {
		if err := d.Set("other", "x"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Edit = %v, want boom", err)
	}
	if data, _ := os.ReadFile(path); string(data) != orig {
		t.Errorf("file changed to %q", data)
	}
}

func TestEditConcurrentWritesAllLand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Edit(context.Background(), path, 30*time.Second, setKey(fmt.Sprintf("k%02d", i), "v"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	doc, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if v, ok, _ := doc.Get(fmt.Sprintf("k%02d", i)); !ok || v != "v" {
			t.Errorf("k%02d lost: %q %v", i, v, ok)
		}
	}
}

func TestGitWarning(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	outside := filepath.Join(t.TempDir(), "Config.toml")
	if w := GitWarning(outside); w != "" {
		t.Errorf("outside a work tree: %q", w)
	}

	repo := t.TempDir()
	git(repo, "init", "-q")
	path := filepath.Join(repo, "Config.toml")
	w := GitWarning(path) // the file need not exist yet
	if !strings.Contains(w, path) || !strings.Contains(w, "add Config.toml to .gitignore") {
		t.Errorf("not ignored: %q", w)
	}
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte("Config.toml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := GitWarning(path); w != "" {
		t.Errorf("ignored: %q", w)
	}

	// A link in the work tree to a file outside it: what matters is the target.
	link := filepath.Join(repo, "linked.toml")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if w := GitWarning(link); w != "" {
		t.Errorf("link to a file outside the work tree: %q", w)
	}

	// Without git on PATH there is no warning and no error.
	t.Setenv("PATH", "")
	if w := GitWarning(filepath.Join(repo, "other.toml")); w != "" {
		t.Errorf("no git: %q", w)
	}
}

func TestMayBeInWorkTree(t *testing.T) {
	t.Setenv("GIT_DIR", "")
	t.Setenv("GIT_WORK_TREE", "")
	root := t.TempDir()
	if mayBeInWorkTree(root) {
		t.Skipf("%s lies in a git work tree: cannot test the negative case here", root)
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	// A submodule or a linked worktree has a .git file, not a directory.
	if err := os.WriteFile(filepath.Join(root, "a", ".git"), []byte("gitdir: ../x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mayBeInWorkTree(sub) {
		t.Errorf("%s has a .git above it", sub)
	}
	other := t.TempDir()
	t.Setenv("GIT_DIR", "/some/repo.git")
	if !mayBeInWorkTree(other) {
		t.Errorf("GIT_DIR is set: git must be asked")
	}
}
