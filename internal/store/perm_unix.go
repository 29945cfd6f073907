//go:build unix

package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckPermissions refuses a store that another user could write: its
// directory or file writable by group or others, or owned by another user
// (as ssh refuses such a ~/.ssh). Another user could then plant a file
// twauth would adopt, or swap the store for one of their own chains. A
// missing directory or file is fine: twauth creates them 0700 and 0600.
func CheckPermissions(path string) error {
	target := path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	}
	for _, p := range []string{filepath.Dir(target), target} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		uid := os.Getuid()
		switch {
		case int(st.Uid) != uid:
			return &UnsafeError{Path: p, Dir: fi.IsDir(), OtherOwner: true, UID: int(st.Uid)}
		case fi.Mode().Perm()&0o022 != 0:
			return &UnsafeError{Path: p, Dir: fi.IsDir(), Mode: fi.Mode().Perm()}
		}
	}
	return nil
}
