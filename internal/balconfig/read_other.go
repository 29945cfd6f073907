//go:build !unix

package balconfig

// openFlags adds nothing where there is no O_NONBLOCK: the Stat before the
// open refuses what is not a regular file.
const openFlags = 0
