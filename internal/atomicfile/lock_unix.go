//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"syscall"
)

// lockFlags opens a lock file, creating it, without following a symlink at
// its path (O_NOFOLLOW: the open fails with ELOOP instead).
const lockFlags = os.O_CREATE | os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC

func isSymlinkRefusal(err error) bool { return errors.Is(err, syscall.ELOOP) }
