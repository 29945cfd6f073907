//go:build !unix

package store

// CheckPermissions: without Unix owners and modes, the user's profile
// directory (the default) is the user's alone.
func CheckPermissions(string) error { return nil }
