//go:build unix

package balconfig

import "syscall"

// openFlags opens a Config.toml without blocking: a FIFO swapped in after
// the Stat that refused one must not hang the read.
const openFlags = syscall.O_NONBLOCK
