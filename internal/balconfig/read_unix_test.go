//go:build unix

package balconfig

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadFIFO: a FIFO is refused at once, not read (which would wait for a
// writer forever).
func TestReadFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Config.toml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for name, read := range readers {
		t.Run(name, func(t *testing.T) {
			wantFileError(t, read(path), path, "named pipe (FIFO)", "not a regular file")
		})
	}
}

// TestReadDevice: /dev/zero would be read forever.
func TestReadDevice(t *testing.T) {
	const path = "/dev/zero"
	if _, err := os.Stat(path); err != nil {
		t.Skip(err)
	}
	for name, read := range readers {
		if name == "Edit" {
			continue // would create /dev/zero.lock
		}
		t.Run(name, func(t *testing.T) {
			wantFileError(t, read(path), path, "a device", "not a regular file")
		})
	}
	// Through a symlink, as a Config.toml in a project directory.
	link := filepath.Join(t.TempDir(), "Config.toml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	wantFileError(t, readers["Edit"](link), link, "a device")
	if _, err := os.Lstat(path + ".lock"); err == nil {
		t.Errorf("Edit created %s.lock", path)
	}
}
