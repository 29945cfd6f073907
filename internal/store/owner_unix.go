//go:build unix

package store

import (
	"os"
	"syscall"
)

// ownedPrivate reports whether a leftover file is the user's own and
// private (0600 or stricter): only such a file can hold a token twauth
// wrote. A file planted by another user is never adopted.
func ownedPrivate(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return int(st.Uid) == os.Getuid() && fi.Mode().Perm()&0o077 == 0
}
