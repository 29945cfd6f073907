package keyringstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// UnavailableError: no keyring is reachable (on Linux: no D-Bus session
// bus, or no Secret Service provider on it, as in CI and over ssh).
type UnavailableError struct {
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("no OS keyring is reachable: %s (%v)", e.Reason, e.Err)
	}
	return "no OS keyring is reachable: " + e.Reason
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// LockedError: the keyring is locked, or did not answer within Waited
// (it then waits on an unlock prompt nobody may see).
type LockedError struct {
	Waited time.Duration
	Err    error
}

func (e *LockedError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("the OS keyring did not answer within %s: it is probably locked, waiting for its password in a prompt", e.Waited)
	}
	return fmt.Sprintf("the OS keyring is locked (%v)", e.Err)
}

func (e *LockedError) Unwrap() error { return e.Err }

// TooBigError: the keyring refused an item as too large (macOS allows
// about 3000 bytes per item, Windows 2560 for the secret).
type TooBigError struct {
	Service, Key string
	// Size is the length of the value refused, in bytes.
	Size int
}

func (e *TooBigError) Error() string {
	return fmt.Sprintf("the OS keyring refused item %s of service %s (%d bytes): too large for this keyring", e.Key, e.Service, e.Size)
}

// ItemError: the item of an entry the metadata file lists is missing
// (Missing) or does not hold twauth's JSON: another program removed or
// changed it, and the tokens it held are lost to twauth. The item's value
// is never part of the message.
type ItemError struct {
	Service, Key string
	Missing      bool
}

func (e *ItemError) Error() string {
	if e.Missing {
		return fmt.Sprintf("the OS keyring item %s of service %s is gone: another program removed it, and its tokens with it", e.Key, e.Service)
	}
	return fmt.Sprintf("the OS keyring item %s of service %s does not hold twauth's tokens: another program changed it", e.Key, e.Service)
}

// StrayItemError: Save wrote the store, but the item of an entry it no
// longer holds could not be deleted.
type StrayItemError struct {
	Service, Key string
	Err          error
}

func (e *StrayItemError) Error() string {
	return fmt.Sprintf("the store was saved, but the OS keyring item %s of service %s, whose entry it no longer holds, could not be deleted (%v)", e.Key, e.Service, e.Err)
}

func (e *StrayItemError) Unwrap() error { return e.Err }

// LeftoversError: MoveFromFile left these entries in the file store,
// because an interrupted refresh left refresh tokens beside it (journals,
// temporary files) that only a refresh through that file store may spend
// in the right order.
type LeftoversError struct {
	Path      string
	ClientIDs []string
}

func (e *LeftoversError) Error() string {
	return fmt.Sprintf("the token store %s still holds client id %s: an interrupted refresh left tokens beside it that a refresh through that file must recover first",
		e.Path, strings.Join(e.ClientIDs, ", "))
}

// classify turns a keyring call's error into an *UnavailableError or a
// *LockedError when it is one, else returns it as it is.
func classify(err error) error {
	var u *UnavailableError
	var l *LockedError
	if errors.As(err, &u) || errors.As(err, &l) {
		return err
	}
	if errors.Is(err, keyring.ErrUnsupportedPlatform) {
		return &UnavailableError{Reason: "go-keyring supports no keyring on this system", Err: err}
	}
	if c := classifyPlatform(err); c != nil {
		return c
	}
	return err
}
