//go:build !unix && !windows

package atomicfile

import "os"

// lockFlags opens a lock file, creating it. This platform has no way to
// refuse a symlink in the open itself; Lock's Lstat check refuses one.
const lockFlags = os.O_CREATE | os.O_RDONLY

func isSymlinkRefusal(error) bool { return false }
