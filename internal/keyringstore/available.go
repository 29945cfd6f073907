package keyringstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// ProbeTimeout bounds Available: a locked keyring can block on an unlock
// prompt, and choosing the default store must not.
const ProbeTimeout = 3 * time.Second

// probeKey is the item Available writes, reads back and deletes, under
// DefaultService. No client id looks like it.
const probeKey = "twauth keyring probe (safe to delete)"

// Available reports whether an OS keyring is reachable and unlocked, by
// writing, reading back and deleting a probe item, all within
// ProbeTimeout (as gh does). Its errors: *UnavailableError (no keyring:
// no D-Bus session bus, no Secret Service), *LockedError (locked, or no
// answer in time), *TooBigError, and *ItemError when the probe read back
// is not what was written.
func Available() error {
	return probe(context.Background(), ProbeTimeout)
}

func probe(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	value := rand.Text()
	err := within(ctx, d, func() error {
		if err := keyring.Set(DefaultService, probeKey, value); err != nil {
			return err
		}
		got, err := keyring.Get(DefaultService, probeKey)
		if err != nil {
			return err
		}
		if err := keyring.Delete(DefaultService, probeKey); err != nil {
			return err
		}
		if got != value {
			return &ItemError{Service: DefaultService, Key: probeKey}
		}
		return nil
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &LockedError{Waited: d}
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return &TooBigError{Service: DefaultService, Key: probeKey, Size: len(value)}
	case err != nil:
		return fmt.Errorf("probe the OS keyring: %w", classify(err))
	}
	return nil
}
