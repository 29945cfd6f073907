package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"syscall"
)

// FS is the filesystem seam of Write: every operation Write performs goes
// through it, so tests can inject a fault at any step (see FaultFS).
//
// Paths are the ones Write computed: the symlink-resolved target, its
// directory, and the temporary file's name as returned by File.Name.
type FS interface {
	// CreateTemp creates a new file in dir, like os.CreateTemp, with mode 0600.
	CreateTemp(dir, pattern string) (File, error)
	// Rename replaces newpath with oldpath, like os.Rename.
	Rename(oldpath, newpath string) error
	// Remove removes a file, like os.Remove.
	Remove(name string) error
	// MkdirAll creates a directory and its parents, like os.MkdirAll.
	MkdirAll(path string, perm os.FileMode) error
	// Stat follows symlinks, like os.Stat.
	Stat(name string) (os.FileInfo, error)
	// Lstat does not follow symlinks, like os.Lstat.
	Lstat(name string) (os.FileInfo, error)
	// Readlink returns a symlink's destination, like os.Readlink.
	Readlink(name string) (string, error)
	// OpenDir opens a directory so that its entries can be synced.
	OpenDir(name string) (Dir, error)
}

// File is a temporary file created by FS.CreateTemp. *os.File implements it.
type File interface {
	Name() string
	Write(p []byte) (int, error)
	Sync() error
	Chmod(mode os.FileMode) error
	Close() error
}

// Dir is a directory opened by FS.OpenDir. Sync makes a rename in it durable.
type Dir interface {
	Sync() error
	Close() error
}

// OSFS is the FS of the real operating system.
//
// Its Dir.Sync is a no-op on Windows, which cannot flush a directory handle,
// and ignores EINVAL and ENOTSUP from filesystems that do not support
// syncing a directory.
type OSFS struct{}

var _ FS = OSFS{}

// CreateTemp implements FS.
func (OSFS) CreateTemp(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// Stat implements FS.
func (OSFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

// Lstat implements FS.
func (OSFS) Lstat(name string) (os.FileInfo, error) { return os.Lstat(name) }

// Readlink implements FS.
func (OSFS) Readlink(name string) (string, error) { return os.Readlink(name) }

// OpenDir implements FS.
func (OSFS) OpenDir(name string) (Dir, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osDir{f}, nil
}

type osDir struct{ f *os.File }

func (d osDir) Sync() error {
	if runtime.GOOS == "windows" {
		return nil
	}
	err := d.f.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

func (d osDir) Close() error { return d.f.Close() }

// Op names one operation of FS, File or Dir. Its value is the word used in
// Write's error messages.
type Op string

// The operations FaultFS can fail.
const (
	OpCreateTemp Op = "create temp file"
	OpWrite      Op = "write"
	OpSync       Op = "sync"
	OpChmod      Op = "chmod"
	OpClose      Op = "close"
	OpRename     Op = "rename"
	OpRemove     Op = "remove"
	OpMkdirAll   Op = "create directory"
	OpStat       Op = "stat"
	OpLstat      Op = "lstat"
	OpReadlink   Op = "readlink"
	OpOpenDir    Op = "open directory"
	OpSyncDir    Op = "sync directory"
)

// FaultFS wraps an FS and lets a test fail any operation. It is meant for
// the tests of every package that writes through this one:
//
//	fsys := &atomicfile.FaultFS{Hook: func(op atomicfile.Op, name string) error {
//		if op == atomicfile.OpRename {
//			return syscall.EXDEV
//		}
//		return nil
//	}}
//	err := atomicfile.Write(path, data, atomicfile.Options{FS: fsys})
//
// Hook runs before each operation with the operation and the path it acts
// on: the directory for OpCreateTemp, OpMkdirAll and OpOpenDir, the
// temporary file for OpWrite, OpSync, OpChmod, OpClose and OpRemove, the
// destination for OpRename, the directory for OpSyncDir. A non-nil error is
// returned instead of performing the operation, except for OpWrite, which
// first writes half of the bytes (a disk that fills up mid-write) and then
// returns the error. A nil Hook fails nothing. Hook may be called from
// several goroutines if the FaultFS is shared.
type FaultFS struct {
	FS   FS // the wrapped filesystem; nil means OSFS{}
	Hook func(op Op, name string) error
}

var _ FS = (*FaultFS)(nil)

// FailOn returns a FaultFS over the real filesystem that fails every call
// of op with err.
func FailOn(op Op, err error) *FaultFS {
	return &FaultFS{Hook: func(o Op, _ string) error {
		if o == op {
			return err
		}
		return nil
	}}
}

func (f *FaultFS) inner() FS {
	if f.FS == nil {
		return OSFS{}
	}
	return f.FS
}

func (f *FaultFS) hook(op Op, name string) error {
	if f.Hook == nil {
		return nil
	}
	return f.Hook(op, name)
}

// CreateTemp implements FS.
func (f *FaultFS) CreateTemp(dir, pattern string) (File, error) {
	if err := f.hook(OpCreateTemp, dir); err != nil {
		return nil, &fs.PathError{Op: "createtemp", Path: dir, Err: err}
	}
	file, err := f.inner().CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

// Rename implements FS.
func (f *FaultFS) Rename(oldpath, newpath string) error {
	if err := f.hook(OpRename, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return f.inner().Rename(oldpath, newpath)
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if err := f.hook(OpRemove, name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return f.inner().Remove(name)
}

// MkdirAll implements FS.
func (f *FaultFS) MkdirAll(path string, perm os.FileMode) error {
	if err := f.hook(OpMkdirAll, path); err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return f.inner().MkdirAll(path, perm)
}

// Stat implements FS.
func (f *FaultFS) Stat(name string) (os.FileInfo, error) {
	if err := f.hook(OpStat, name); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return f.inner().Stat(name)
}

// Lstat implements FS.
func (f *FaultFS) Lstat(name string) (os.FileInfo, error) {
	if err := f.hook(OpLstat, name); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return f.inner().Lstat(name)
}

// Readlink implements FS.
func (f *FaultFS) Readlink(name string) (string, error) {
	if err := f.hook(OpReadlink, name); err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return f.inner().Readlink(name)
}

// OpenDir implements FS.
func (f *FaultFS) OpenDir(name string) (Dir, error) {
	if err := f.hook(OpOpenDir, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	d, err := f.inner().OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &faultDir{Dir: d, fs: f, name: name}, nil
}

type faultFile struct {
	File
	fs *FaultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.hook(OpWrite, f.Name()); err != nil {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.fs.hook(OpSync, f.Name()); err != nil {
		return &fs.PathError{Op: "sync", Path: f.Name(), Err: err}
	}
	return f.File.Sync()
}

func (f *faultFile) Chmod(mode os.FileMode) error {
	if err := f.fs.hook(OpChmod, f.Name()); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.Name(), Err: err}
	}
	return f.File.Chmod(mode)
}

// Close always closes the underlying file, so that a failed close leaks no
// descriptor, and then reports the injected error.
func (f *faultFile) Close() error {
	err := f.File.Close()
	if herr := f.fs.hook(OpClose, f.Name()); herr != nil {
		return &fs.PathError{Op: "close", Path: f.Name(), Err: herr}
	}
	return err
}

type faultDir struct {
	Dir
	fs   *FaultFS
	name string
}

func (d *faultDir) Sync() error {
	if err := d.fs.hook(OpSyncDir, d.name); err != nil {
		return &fs.PathError{Op: "sync", Path: d.name, Err: err}
	}
	return d.Dir.Sync()
}
