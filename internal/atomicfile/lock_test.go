package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// increment is one read-modify-write of a counter file under the lock. The
// sleep between the read and the write makes a lost update all but certain
// if the lock does not serialize. holder is created exclusively while the
// lock is held, which catches two holders at once.
func increment(ctx context.Context, counter string) error {
	unlock, err := Lock(ctx, counter, 30*time.Second)
	if err != nil {
		return err
	}
	defer unlock()
	holder, err := os.OpenFile(counter+".holder", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("two holders of the lock at once: %w", err)
	}
	holder.Close()
	defer os.Remove(counter + ".holder")

	n := 0
	if b, err := os.ReadFile(counter); err == nil {
		if n, err = strconv.Atoi(string(b)); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	time.Sleep(time.Millisecond)
	return Write(counter, []byte(strconv.Itoa(n+1)), Options{})
}

func counterValue(t *testing.T, path string) int {
	t.Helper()
	n, err := strconv.Atoi(string(readFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLockGoroutines(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "counter")
	const workers, rounds = 4, 15
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Go(func() {
			for range rounds {
				if err := increment(t.Context(), counter); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	if n := counterValue(t, counter); n != workers*rounds {
		t.Errorf("counter = %d, want %d: updates were lost", n, workers*rounds)
	}
}

const helperEnv = "ATOMICFILE_LOCK_HELPER"

// TestLockHelperProcess is the child of TestLockProcesses, not a test.
func TestLockHelperProcess(t *testing.T) {
	counter := os.Getenv(helperEnv)
	if counter == "" {
		t.Skip("helper process for TestLockProcesses")
	}
	rounds, _ := strconv.Atoi(os.Getenv(helperEnv + "_ROUNDS"))
	for range rounds {
		if err := increment(context.Background(), counter); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

func TestLockProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	counter := filepath.Join(t.TempDir(), "counter")
	const procs, rounds = 3, 15
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+counter, helperEnv+"_ROUNDS="+strconv.Itoa(rounds))
		outs[i] = new(strings.Builder)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	if n := counterValue(t, counter); n != procs*rounds {
		t.Errorf("counter = %d, want %d: updates were lost", n, procs*rounds)
	}
}

func TestLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	unlock, err := Lock(t.Context(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	for _, timeout := range []time.Duration{0, 150 * time.Millisecond} {
		start := time.Now()
		_, err = Lock(t.Context(), path, timeout)
		var lte *LockTimeoutError
		if !errors.As(err, &lte) {
			t.Fatalf("timeout %v: err = %v, want *LockTimeoutError", timeout, err)
		}
		if elapsed := time.Since(start); elapsed < timeout {
			t.Errorf("gave up after %v, before the timeout %v", elapsed, timeout)
		}
		if lte.Waited < timeout {
			t.Errorf("Waited = %v, want >= %v", lte.Waited, timeout)
		}
		if lte.Path != path+".lock" {
			t.Errorf("Path = %s", lte.Path)
		}
		msg := lte.Error()
		for _, want := range []string{"another process holds it", "remove the stale lock file " + path + ".lock"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		if strings.Contains(msg, "twauth") || strings.Contains(msg, "--") {
			t.Errorf("message %q names a command or a flag", msg)
		}
	}
}

func TestLockReleasedAfterUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	unlock, err := Lock(t.Context(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		u, err := Lock(context.Background(), path, 10*time.Second)
		if err == nil {
			err = u()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	// The lock file stays: removing it would race with the next locker.
	fi, err := os.Stat(path + ".lock")
	if err != nil {
		t.Fatalf("lock file removed: %v", err)
	}
	skipOnWindows(t, "Unix modes")
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("lock file mode = %o, want 600", m)
	}
}

func TestLockContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	unlock, err := Lock(t.Context(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := Lock(ctx, path, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while waiting: err = %v, want context.Canceled", err)
	}
	if _, err := Lock(ctx, path, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: err = %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer dcancel()
	if _, err := Lock(dctx, path, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: err = %v, want context.DeadlineExceeded", err)
	}
}

func TestLockBesideSymlinkTarget(t *testing.T) {
	skipOnWindows(t, "symlinks need privileges")
	root := t.TempDir()
	target := filepath.Join(root, "real", "Config.toml")
	link := filepath.Join(root, "Config.toml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	lp, err := LockPath(link)
	if err != nil {
		t.Fatal(err)
	}
	if lp != target+".lock" {
		t.Errorf("LockPath = %s, want %s", lp, target+".lock")
	}
	// The target's directory does not exist yet: Lock creates it.
	unlock, err := Lock(t.Context(), link, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(target + ".lock"); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, filepath.Dir(target)); m != 0o700 {
		t.Errorf("created dir mode = %o, want 700", m)
	}
	// Locking through the link and through the target is the same lock.
	if _, err := Lock(t.Context(), target, 0); err == nil {
		t.Error("the target is not locked by a lock taken through its link")
	}
}

func TestLockErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, nil, 0o600)
	// A path under a regular file: the directory cannot be created.
	if _, err := Lock(t.Context(), filepath.Join(file, "Config.toml"), 0); err == nil {
		t.Error("Lock under a regular file succeeded")
	}
	skipOnWindows(t, "symlinks need privileges")
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(t.Context(), loop, 0); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("Lock through a symlink loop: err = %v", err)
	}
}

// TestLockRefusesSymlink: a symlink planted at the lock file's path (to a
// file that does not exist, or to one that does) is refused with a
// *LockFileError, and nothing is created or opened at its target.
func TestLockRefusesSymlink(t *testing.T) {
	skipOnWindows(t, "symlinks need privileges")
	dir := t.TempDir()
	path := filepath.Join(dir, "Config.toml")
	for _, existing := range []bool{false, true} {
		target := filepath.Join(dir, fmt.Sprintf("victim-%v", existing))
		if existing {
			writeFile(t, target, []byte("precious"), 0o644)
		}
		if err := os.Remove(path + ".lock"); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path+".lock"); err != nil {
			t.Fatal(err)
		}
		_, err := Lock(t.Context(), path, time.Second)
		var lfe *LockFileError
		if !errors.As(err, &lfe) || !errors.Is(err, ErrLockSymlink) || lfe.Path != path+".lock" {
			t.Fatalf("target exists %v: Lock = %v, want a *LockFileError for the symlink", existing, err)
		}
		if msg := err.Error(); !strings.Contains(msg, path+".lock") || !strings.Contains(msg, "symbolic link") || !strings.Contains(msg, "remove it") {
			t.Errorf("message %q", msg)
		}
		if existing {
			if got := readFile(t, target); string(got) != "precious" || modeOf(t, target) != 0o644 {
				t.Errorf("the target changed: %q %o", got, modeOf(t, target))
			}
		} else if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the link's target was created: %v", err)
		}
	}
}

// TestLockOpenDoesNotFollow holds the open itself to not following a link,
// for a link planted after Lock's check: the open fails and creates nothing.
func TestLockOpenDoesNotFollow(t *testing.T) {
	skipOnWindows(t, "symlinks need privileges")
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	link := filepath.Join(dir, "Config.toml.lock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(link, lockFlags, 0o600)
	if err == nil {
		f.Close()
		t.Fatal("the lock file was opened through a symlink")
	}
	if !isSymlinkRefusal(err) {
		t.Errorf("open = %v, want ELOOP", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target was created: %v", err)
	}
}

// TestLockFileError: a lock file that cannot be created is a *LockFileError
// naming it, whatever the reason.
func TestLockFileError(t *testing.T) {
	dir := t.TempDir()
	// The lock file's path is a directory: it cannot be opened as a file.
	path := filepath.Join(dir, "Config.toml")
	if err := os.Mkdir(path+".lock", 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Lock(t.Context(), path, 0)
	var lfe *LockFileError
	if !errors.As(err, &lfe) || lfe.Path != path+".lock" || errors.Is(err, ErrLockSymlink) {
		t.Fatalf("lock file is a directory: Lock = %v, want a *LockFileError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "cannot create the lock file "+path+".lock") {
		t.Errorf("message %q", msg)
	}
}

// TestLockUnwritableDirectory: the case that matters most, a project
// directory the user cannot write.
func TestLockUnwritableDirectory(t *testing.T) {
	skipOnWindows(t, "Unix modes")
	if os.Geteuid() == 0 {
		t.Skip("root writes any directory")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	// The lock file in the directory, and a lock file whose directory
	// would have to be created in it.
	for _, path := range []string{filepath.Join(dir, "Config.toml"), filepath.Join(dir, "sub", "Config.toml")} {
		_, err := Lock(t.Context(), path, 0)
		var lfe *LockFileError
		if !errors.As(err, &lfe) || !errors.Is(err, fs.ErrPermission) || lfe.Path != path+".lock" {
			t.Fatalf("Lock(%s) = %v, want a *LockFileError wrapping fs.ErrPermission", path, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "make "+filepath.Dir(path)+" writable") {
			t.Errorf("message %q", msg)
		}
	}
}
