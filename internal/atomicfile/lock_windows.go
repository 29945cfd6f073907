//go:build windows

package atomicfile

import (
	"os"
	"syscall"
)

// lockFlags opens a lock file, creating it; FILE_FLAG_OPEN_REPARSE_POINT
// opens a symbolic link (a reparse point) itself instead of its target, so
// that a link planted at the lock file's path never makes a file appear at
// its target. Lock's Lstat check refuses such a link first.
const lockFlags = os.O_CREATE | os.O_RDONLY | syscall.FILE_FLAG_OPEN_REPARSE_POINT

func isSymlinkRefusal(error) bool { return false }
