package atomicfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

var errInjected = errors.New("injected fault")

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// tempFiles lists the temporary files Write may have left in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func skipOnWindows(t *testing.T, why string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip(why)
	}
}

func TestWriteNewFileAndDirectory(t *testing.T) {
	skipOnWindows(t, "Unix modes")
	dir := filepath.Join(t.TempDir(), "new", "sub")
	path := filepath.Join(dir, "Config.toml")
	if err := Write(path, []byte("token = \"x\"\n"), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); string(got) != "token = \"x\"\n" {
		t.Errorf("content = %q", got)
	}
	if m := modeOf(t, path); m != 0o600 {
		t.Errorf("new file mode = %o, want 600", m)
	}
	if m := modeOf(t, dir); m != 0o700 {
		t.Errorf("new dir mode = %o, want 700", m)
	}
	if m := modeOf(t, filepath.Dir(dir)); m != 0o700 {
		t.Errorf("new parent dir mode = %o, want 700", m)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

func TestWriteOptionsPerm(t *testing.T) {
	skipOnWindows(t, "Unix modes")
	dir := filepath.Join(t.TempDir(), "d")
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("x"), Options{Perm: 0o644, DirPerm: 0o750}); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, path); m != 0o644 {
		t.Errorf("mode = %o, want 644", m)
	}
	// The umask may clear bits of a new directory, never add them.
	if m := modeOf(t, dir); m&^0o750 != 0 || m&0o700 != 0o700 {
		t.Errorf("dir mode = %o, want 750 minus the umask", m)
	}
}

func TestWriteKeepsMode(t *testing.T) {
	skipOnWindows(t, "Unix modes")
	for _, tc := range []struct {
		name              string
		mode              os.FileMode
		private, readOnly bool
		want              os.FileMode
	}{
		{"0640 kept", 0o640, false, false, 0o640},
		{"0644 kept", 0o644, false, false, 0o644},
		{"0755 kept", 0o755, false, false, 0o755},
		{"0644 private", 0o644, true, false, 0o600},
		{"0660 private", 0o660, true, false, 0o600},
		{"0400 private", 0o400, true, false, 0o400},
		{"0600 private", 0o600, true, false, 0o600},
		{"0444 private", 0o444, true, false, 0o400},
		// KeepReadOnly: a file without write bits keeps its mode whole;
		// one its owner may write still loses group and other bits.
		{"0444 private keep read-only", 0o444, true, true, 0o444},
		{"0440 private keep read-only", 0o440, true, true, 0o440},
		{"0400 private keep read-only", 0o400, true, true, 0o400},
		{"0644 private keep read-only", 0o644, true, true, 0o600},
		{"0664 private keep read-only", 0o664, true, true, 0o600},
		{"0444 keep read-only without private", 0o444, false, true, 0o444},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Config.toml")
			writeFile(t, path, []byte("old"), tc.mode)
			if err := Write(path, []byte("new"), Options{Perm: 0o666, Private: tc.private, KeepReadOnly: tc.readOnly}); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); string(got) != "new" {
				t.Errorf("content = %q", got)
			}
			if m := modeOf(t, path); m != tc.want {
				t.Errorf("mode = %o, want %o", m, tc.want)
			}
		})
	}
}

func TestWriteThroughSymlink(t *testing.T) {
	skipOnWindows(t, "symlinks need privileges")
	root := t.TempDir()
	realDir := filepath.Join(root, "real")
	linkDir := filepath.Join(root, "links")
	for _, d := range []string{realDir, linkDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(realDir, "Config.toml")
	writeFile(t, target, []byte("old"), 0o640)

	t.Run("relative", func(t *testing.T) {
		link := filepath.Join(linkDir, "rel.toml")
		if err := os.Symlink("../real/Config.toml", link); err != nil {
			t.Fatal(err)
		}
		if err := Write(link, []byte("via relative link"), Options{}); err != nil {
			t.Fatal(err)
		}
		assertLink(t, link, "../real/Config.toml")
		if got := readFile(t, target); string(got) != "via relative link" {
			t.Errorf("target = %q", got)
		}
		if m := modeOf(t, target); m != 0o640 {
			t.Errorf("target mode = %o, want 640", m)
		}
		if tmp := tempFiles(t, linkDir); len(tmp) != 0 {
			t.Errorf("temp file in the link's directory: %v", tmp)
		}
	})
	t.Run("chain", func(t *testing.T) {
		l1 := filepath.Join(linkDir, "l1")
		l2 := filepath.Join(linkDir, "l2")
		if err := os.Symlink(target, l1); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("l1", l2); err != nil {
			t.Fatal(err)
		}
		if err := Write(l2, []byte("via chain"), Options{}); err != nil {
			t.Fatal(err)
		}
		assertLink(t, l1, target)
		assertLink(t, l2, "l1")
		if got := readFile(t, target); string(got) != "via chain" {
			t.Errorf("target = %q", got)
		}
	})
	t.Run("dangling", func(t *testing.T) {
		newTarget := filepath.Join(root, "missing-dir", "new.toml")
		link := filepath.Join(linkDir, "dangling")
		if err := os.Symlink(newTarget, link); err != nil {
			t.Fatal(err)
		}
		if err := Write(link, []byte("created"), Options{}); err != nil {
			t.Fatal(err)
		}
		assertLink(t, link, newTarget)
		if got := readFile(t, newTarget); string(got) != "created" {
			t.Errorf("target = %q", got)
		}
		if m := modeOf(t, newTarget); m != 0o600 {
			t.Errorf("new target mode = %o, want 600", m)
		}
	})
	t.Run("loop", func(t *testing.T) {
		a := filepath.Join(linkDir, "loop-a")
		b := filepath.Join(linkDir, "loop-b")
		if err := os.Symlink("loop-b", a); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("loop-a", b); err != nil {
			t.Fatal(err)
		}
		err := Write(a, []byte("x"), Options{})
		if err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
			t.Fatalf("err = %v, want a symlink loop error", err)
		}
	})
}

func assertLink(t *testing.T, link, want string) {
	t.Helper()
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink (mode %v)", link, fi.Mode())
	}
	if got, _ := os.Readlink(link); got != want {
		t.Errorf("%s -> %s, want -> %s", link, got, want)
	}
}

func TestWriteNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	err := Write(dir, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v", err)
	}
}

// TestWriteFaults fails each step of Write in turn: the old file must stay
// byte-identical and no temporary file may be left.
func TestWriteFaults(t *testing.T) {
	old := []byte("# old\r\ntoken = \"old\"\r\n")
	for _, tc := range []struct {
		op    Op
		cause error
		link  bool // write through a symlink, to reach OpReadlink
	}{
		{OpLstat, errInjected, false},
		{OpReadlink, errInjected, true},
		{OpMkdirAll, errInjected, false},
		{OpStat, errInjected, false},
		{OpCreateTemp, syscall.EACCES, false},
		{OpChmod, errInjected, false},
		{OpWrite, syscall.ENOSPC, false},
		{OpSync, syscall.EIO, false},
		{OpClose, syscall.EIO, false},
		{OpOpenDir, errInjected, false},
		{OpRename, syscall.EXDEV, false},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			if tc.link {
				skipOnWindows(t, "symlinks need privileges")
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "Config.toml")
			writeFile(t, target, old, 0o600)
			path := target
			if tc.link {
				path = filepath.Join(dir, "link.toml")
				if err := os.Symlink("Config.toml", path); err != nil {
					t.Fatal(err)
				}
			}
			calls := 0
			fsys := &FaultFS{Hook: func(op Op, _ string) error {
				if op == tc.op {
					calls++
					return tc.cause
				}
				return nil
			}}
			err := Write(path, bytes.Repeat([]byte("new content "), 1000), Options{FS: fsys})
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if calls == 0 {
				t.Fatalf("%s was never called", tc.op)
			}
			if !errors.Is(err, tc.cause) {
				t.Errorf("err = %v, does not wrap %v", err, tc.cause)
			}
			step := string(tc.op)
			if tc.op == OpLstat || tc.op == OpReadlink {
				step = "resolve symlink"
			}
			if want := "write " + path + ": " + step; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("err = %q, want prefix %q", err, want)
			}
			if got := readFile(t, target); !bytes.Equal(got, old) {
				t.Errorf("old file changed: %q", got)
			}
			if tmp := tempFiles(t, dir); len(tmp) != 0 {
				t.Errorf("temp files left: %v", tmp)
			}
		})
	}
}

// TestWriteDirSyncFault: once the rename is done the new content stays, but
// the caller learns that it may not be durable.
func TestWriteDirSyncFault(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Config.toml")
	writeFile(t, path, []byte("old"), 0o600)
	err := Write(path, []byte("new"), Options{FS: FailOn(OpSyncDir, syscall.EIO)})
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("err = %v, want EIO", err)
	}
	if !strings.HasPrefix(err.Error(), "write "+path+": sync directory ") {
		t.Errorf("err = %q", err)
	}
	if got := readFile(t, path); string(got) != "new" {
		t.Errorf("content = %q, want the new content", got)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

// TestWriteRemoveFault: when the cleanup fails too, both errors are reported.
func TestWriteRemoveFault(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Config.toml")
	writeFile(t, path, []byte("old"), 0o600)
	fsys := &FaultFS{Hook: func(op Op, _ string) error {
		switch op {
		case OpRename:
			return syscall.EXDEV
		case OpRemove:
			return syscall.EBUSY
		}
		return nil
	}}
	err := Write(path, []byte("new"), Options{FS: fsys})
	if !errors.Is(err, syscall.EXDEV) || !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("err = %v, want EXDEV and EBUSY", err)
	}
	if !strings.Contains(err.Error(), "remove temp file") {
		t.Errorf("err = %q does not mention the temp file", err)
	}
	if got := readFile(t, path); string(got) != "old" {
		t.Errorf("old file changed: %q", got)
	}
}

// TestWriteTempName: the temporary file sits beside the target and is named
// after it, so an interrupted write is recognizable.
func TestWriteTempName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Config.toml")
	var created string
	fsys := &FaultFS{Hook: func(op Op, name string) error {
		if op == OpWrite {
			created = name
		}
		return nil
	}}
	if err := Write(path, []byte("x"), Options{FS: fsys}); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(created) != dir || !strings.HasPrefix(filepath.Base(created), ".Config.toml.tmp-") {
		t.Errorf("temp file = %s", created)
	}
}

func TestFaultFSNilHook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := Write(path, []byte("ok"), Options{FS: &FaultFS{}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); string(got) != "ok" {
		t.Errorf("content = %q", got)
	}
}

type zeroWriter struct{}

func (zeroWriter) Write([]byte) (int, error) { return 0, nil }

func TestWriteAllShortWrite(t *testing.T) {
	if err := writeAll(zeroWriter{}, []byte("x")); err == nil {
		t.Fatal("writeAll did not report a writer that makes no progress")
	}
}

func BenchmarkWrite1MB(b *testing.B) {
	path := filepath.Join(b.TempDir(), "Config.toml")
	data := bytes.Repeat([]byte("key = \"value\" # comment\n"), 1<<20/24)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Write(path, data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWriteLockedRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	stale := []string{".tokens.json.tmp-123", ".tokens.json.tmp-456"}
	keep := []string{".other.json.tmp-1", "tokens.json.tmp-1", "notes"}
	for _, n := range append(append([]string{}, stale...), keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Without Locked another writer may own them: they stay.
	if err := Write(path, []byte("v1"), Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed by an unlocked Write", n)
		}
	}
	if err := Write(path, []byte("v2"), Options{Locked: true}); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s not removed: %v", n, err)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed, but it is not a temp file of tokens.json", n)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != "v2" {
		t.Errorf("content %q", data)
	}
}
