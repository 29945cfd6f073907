// Package atomicfile replaces a file atomically and durably, and serializes
// read-modify-write cycles of a file with a lock file beside it.
//
// Write never leaves a half-written file: it writes a temporary file in the
// target's directory, syncs it, and renames it over the target, so a reader
// sees either the old bytes or the new ones. Lock takes an exclusive lock on
// "<file>.lock" so that two processes do not interleave their reads and
// writes of the same file; it never follows a symlink at the lock file's
// path.
//
// The mode of a replaced file: a new file gets Options.Perm (0600). An
// existing file keeps its mode, except that with Options.Private it loses
// its group and other bits (mode &^ 0o077: 0644 becomes 0600, 0640 too),
// for a file that now holds a secret; and with Options.KeepReadOnly as
// well, a read-only file (no write bit at all: 0444, 0440, 0400) keeps its
// mode whole, since its owner made it so on purpose.
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// Options configures Write. The zero value is ready to use.
type Options struct {
	// Perm is the mode of a new file. 0 means 0600. An existing file keeps
	// its mode.
	Perm os.FileMode
	// DirPerm is the mode of a missing parent directory, created with
	// MkdirAll. 0 means 0700.
	DirPerm os.FileMode
	// Private, when true, clears the group and other bits (mode &^ 0o077) of
	// an existing file that has any of them.
	Private bool
	// KeepReadOnly, with Private, exempts a read-only file (mode&0o222 == 0)
	// from Private: it keeps its mode whole. A user who made a file
	// read-only for everyone (0444) chose who reads it, often a program
	// that runs as another user; a file that is writable keeps the group
	// and other bits only by accident (a umask of 022).
	KeepReadOnly bool
	// FS is the filesystem. nil means the real one (OSFS).
	FS FS
	// Locked says the caller holds the file's lock (see Lock), so no other
	// Write of this file is under way: after a successful write, Write
	// removes the temporary files that writes killed before their rename
	// left behind. They may hold secrets (a rotated refresh token).
	Locked bool
}

const (
	defaultPerm    os.FileMode = 0o600
	defaultDirPerm os.FileMode = 0o700
	maxSymlinks                = 40
)

// Write replaces the contents of the file at path with data, atomically and
// durably.
//
// A symlink at path is resolved to its final target, which is replaced while
// the link stays a link; the target of a dangling link is created. A missing
// parent directory is created with opts.DirPerm. The bytes go to a temporary
// file named "." + base + ".tmp-*" in the target's directory, which gets the
// target's mode (see the package documentation for Private and
// KeepReadOnly) or opts.Perm for a new file, is synced and closed, and is renamed over the target; then the
// directory is synced so that the rename survives a crash.
//
// If any step before the rename fails, the target is left byte-identical
// and the temporary file is removed. If only the final directory sync fails,
// the new content is already in place: Write reports the error, since the
// replacement may not survive a crash, but does not roll back (for a rotated
// refresh token the new content is the one worth keeping).
//
// Errors read "write <path>: <operation>: <cause>" and wrap the cause.
func Write(path string, data []byte, opts Options) (err error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	perm := opts.Perm
	if perm == 0 {
		perm = defaultPerm
	}
	dirPerm := opts.DirPerm
	if dirPerm == 0 {
		dirPerm = defaultDirPerm
	}
	fail := func(what string, cause error) error {
		return fmt.Errorf("write %s: %s: %w", path, what, unwrapPath(cause))
	}

	target, err := resolve(fsys, path)
	if err != nil {
		return fail("resolve symlink", err)
	}
	dir, base := filepath.Dir(target), filepath.Base(target)
	if err := fsys.MkdirAll(dir, dirPerm); err != nil {
		return fail(string(OpMkdirAll)+" "+dir, err)
	}

	mode := perm
	switch fi, err := fsys.Stat(target); {
	case err == nil:
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("write %s: %s is not a regular file", path, target)
		}
		mode = fi.Mode().Perm()
		if opts.Private && !(opts.KeepReadOnly && mode&0o222 == 0) {
			mode &^= 0o077
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fail(string(OpStat), err)
	}

	f, err := fsys.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fail(string(OpCreateTemp)+" in "+dir, err)
	}
	tmp := f.Name()
	closed, renamed := false, false
	defer func() {
		if err == nil || renamed {
			return
		}
		if !closed {
			_ = f.Close()
		}
		if rerr := fsys.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove temp file %s: %w", tmp, unwrapPath(rerr)))
		}
	}()

	// The mode is set first so that the fsync below also makes it durable.
	if err = f.Chmod(mode); err != nil {
		return fail(string(OpChmod), err)
	}
	if err = writeAll(f, data); err != nil {
		return fail(string(OpWrite), err)
	}
	if err = f.Sync(); err != nil {
		return fail(string(OpSync), err)
	}
	closed = true
	if err = f.Close(); err != nil {
		return fail(string(OpClose), err)
	}
	// The directory is opened before the rename, so that failing to open it
	// still leaves the old file in place.
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fail(string(OpOpenDir)+" "+dir, err)
	}
	defer d.Close()
	if err = fsys.Rename(tmp, target); err != nil {
		return fail(string(OpRename), err)
	}
	renamed = true
	if err = d.Sync(); err != nil {
		return fmt.Errorf("write %s: %s %s: %w (the new content is in place but may not survive a crash)",
			path, OpSyncDir, dir, unwrapPath(err))
	}
	if opts.Locked {
		removeStale(fsys, dir, base)
	}
	return nil
}

// removeStale removes, best effort, the temporary files of base in dir that
// a Write killed between CreateTemp and Rename left behind.
func removeStale(fsys FS, dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			_ = fsys.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func writeAll(w io.Writer, data []byte) error {
	for len(data) > 0 {
		n, err := w.Write(data)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// unwrapPath drops the *fs.PathError or *os.LinkError around an error: the
// messages Write builds already name the file.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) && le.Err != nil {
		return le.Err
	}
	return err
}

// resolve follows the symlinks at the final element of path until it names
// something that is not a symlink, or nothing (the target of a dangling
// link). Symlinks in the directories above are left to the OS.
func resolve(fsys FS, path string) (string, error) {
	for range maxSymlinks {
		fi, err := fsys.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		dest, err := fsys.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// Target is the file Write replaces for path: path with the symlinks at
// its final element followed, even to a target that does not exist yet.
func Target(path string) (string, error) {
	return resolve(OSFS{}, path)
}

// LockPath returns the lock file Lock uses for path: "<target>.lock" beside
// the symlink-resolved target of path.
func LockPath(path string) (string, error) {
	target, err := resolve(OSFS{}, path)
	if err != nil {
		return "", fmt.Errorf("lock %s: resolve symlink: %w", path, unwrapPath(err))
	}
	return target + ".lock", nil
}

// lockRetry is how often Lock tries again while another process holds the lock.
const lockRetry = 20 * time.Millisecond

// Lock takes an exclusive lock on the lock file of path (see LockPath),
// creating it with mode 0600 (and its directory with mode 0700) if needed.
// It tries again until timeout has passed, then returns a *LockTimeoutError;
// it returns ctx.Err() if ctx is done first. A timeout <= 0 means a single
// try.
//
// The lock file is opened without following symlinks: a symlink at its path
// (planted by someone who wants the file at its target created or opened)
// is refused. A lock file that cannot be created or opened, because its
// directory is not writable, its file system is read-only or a symlink sits
// at its path, is a *LockFileError.
//
// The returned unlock releases the lock. The lock file is left in place:
// deleting it would let a third process lock a new file while a second one
// holds the old.
func Lock(ctx context.Context, path string, timeout time.Duration) (unlock func() error, err error) {
	lockPath, err := LockPath(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(lockPath), defaultDirPerm); err != nil {
		return nil, &LockFileError{Path: lockPath, Err: unwrapPath(err)}
	}
	if err := refuseSymlink(lockPath); err != nil {
		return nil, err
	}
	fl := flock.New(lockPath, flock.SetPermissions(0o600), flock.SetFlag(lockFlags))
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ok, err := fl.TryLock()
	if !ok && err == nil && timeout > 0 {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		ok, err = fl.TryLockContext(tctx, lockRetry)
		cancel()
		if !ok && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	if err != nil {
		if isSymlinkRefusal(err) {
			return nil, &LockFileError{Path: lockPath, Err: ErrLockSymlink}
		}
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "open" {
			return nil, &LockFileError{Path: lockPath, Err: unwrapPath(err)}
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if !ok {
		return nil, &LockTimeoutError{Path: lockPath, Waited: time.Since(start)}
	}
	return fl.Unlock, nil
}

// refuseSymlink refuses a symlink at the lock file's path with a clear
// error before the open (which also refuses it, with a less clear one).
func refuseSymlink(lockPath string) error {
	if fi, err := os.Lstat(lockPath); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return &LockFileError{Path: lockPath, Err: ErrLockSymlink}
	}
	return nil
}

// ErrLockSymlink is the cause in a *LockFileError when a symlink sits at the
// lock file's path.
var ErrLockSymlink = errors.New("it is a symbolic link, and a lock file is never followed through one")

// LockFileError is returned by Lock when the lock file cannot be created or
// opened, so that no lock can be taken at all: its directory is not writable
// or cannot be created, its file system is read-only, or a symlink sits at
// its path (Err is then ErrLockSymlink). Nothing was read or written.
type LockFileError struct {
	Path string // the lock file
	Err  error  // the cause: ErrLockSymlink, or the system's error (fs.ErrPermission, ...)
}

func (e *LockFileError) Error() string {
	switch {
	case errors.Is(e.Err, ErrLockSymlink):
		return fmt.Sprintf("cannot use the lock file %s: %v; remove it (a lock file is an empty regular file, created again when needed)", e.Path, e.Err)
	case errors.Is(e.Err, fs.ErrPermission) || errors.Is(e.Err, syscall.EROFS):
		return fmt.Sprintf("cannot create the lock file %s: %v; make %s writable", e.Path, e.Err, filepath.Dir(e.Path))
	}
	return fmt.Sprintf("cannot create the lock file %s: %v", e.Path, e.Err)
}

func (e *LockFileError) Unwrap() error { return e.Err }

// LockTimeoutError is returned by Lock when another process held the lock
// for the whole timeout.
type LockTimeoutError struct {
	Path   string        // the lock file
	Waited time.Duration // how long Lock waited
}

func (e *LockTimeoutError) Error() string {
	return fmt.Sprintf("timed out after %s waiting for the lock file %s: another process holds it; "+
		"if none is running, remove the stale lock file %s", e.Waited.Round(time.Millisecond), e.Path, e.Path)
}
