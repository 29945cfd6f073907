// Package keyringstore keeps twauth's secrets in the OS keyring (macOS
// Keychain, Windows Credential Manager, the Secret Service on Linux
// desktops) through github.com/zalando/go-keyring, and the rest of the
// store in a metadata file (docs/design.md, "Where tokens live").
//
// Backend implements store.Backend: one keyring item per store key (the
// client id), whose value is the JSON {"access_token", "refresh_token"};
// everything that is not secret (expiry, scopes, username, the Config.toml
// keys written, earlier keys) stays in the metadata file, a plain
// store.Store file with its tokens blanked. The lock and the journals are
// the metadata file's, so a refresh keeps the guarantees of the durable
// sequence: X's answer is journalled to a 0600 file before it is decoded,
// and a crash before the keyring write recovers from that journal.
package keyringstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
	"github.com/twauth/twauth/internal/store"
	"github.com/zalando/go-keyring"
)

// DefaultService is the keyring service name items are filed under when
// none is given ("--store keyring:").
const DefaultService = "twauth"

// DefaultTimeout bounds each keyring call of Load and Save: long enough
// for a user to answer an unlock prompt, short enough that a session where
// nobody sees the prompt fails instead of holding the store's lock.
const DefaultTimeout = 30 * time.Second

// Backend is a store.Backend that keeps secrets in the OS keyring and the
// rest in a metadata file. Use it as store.Store{Path: metadataPath,
// Backend: New(service, &store.Store{Path: metadataPath})}.
type Backend struct {
	service string
	meta    *store.Store
	// Timeout bounds each keyring call of Load and Save; 0 means
	// DefaultTimeout. A call that outlives it fails with a *LockedError.
	Timeout time.Duration
	// tolerant: a damaged item leaves its entry without secrets instead
	// of failing Load (see Tolerant).
	tolerant bool
	// seen holds the value of each item as this process last read or
	// wrote it, so that Save rewrites only the items that changed: Save
	// follows a Load under the same lock.
	seen *seen
}

type seen struct {
	mu sync.Mutex
	m  map[string]secrets
}

func (s *seen) is(key string, v secrets) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[key]
	return ok && old == v
}

// set records v as the value of key's item; forget when unknown.
func (s *seen) set(key string, v secrets, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if known {
		s.m[key] = v
	} else {
		delete(s.m, key)
	}
}

// New returns the keyring backend filing items under service (""
// means DefaultService), with its metadata, lock and journals in the plain
// file store at file.Path. Only file.Path and file.FS are used: file may
// be the very Store the backend is then plugged into.
func New(service string, file *store.Store) *Backend {
	if service == "" {
		service = DefaultService
	}
	return &Backend{service: service, meta: &store.Store{Path: file.Path, FS: file.FS}, seen: &seen{m: map[string]secrets{}}}
}

// Tolerant returns a view of b whose Load does not fail on a damaged item
// (*ItemError): the entry comes back with its metadata and no secrets, and
// Save writes no item for it until the entry gets secrets again. It is for
// the commands that repair or inspect: a login replaces the entry, a
// revoke removes it (and clears the Config.toml keys its metadata lists),
// status shows it.
func (b *Backend) Tolerant() *Backend {
	c := *b
	c.tolerant = true
	return &c
}

// Service is the keyring service name items are filed under.
func (b *Backend) Service() string { return b.service }

// MetadataPath is the metadata file.
func (b *Backend) MetadataPath() string { return b.meta.Path }

// Where names the backend: "keyring:SERVICE (metadata in PATH)".
func (b *Backend) Where() string {
	return fmt.Sprintf("keyring:%s (metadata in %s)", b.service, b.meta.Path)
}

// Lock takes the metadata file's lock (<metadata>.lock): the keyring has
// no lock of its own.
func (b *Backend) Lock(ctx context.Context, timeout time.Duration) (func() error, error) {
	return atomicfile.Lock(ctx, b.meta.Path, timeout)
}

// secrets is the value of an item.
type secrets struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// Load reads the metadata file and fills each entry's secrets from its
// item. Secrets the metadata file itself holds (a plain file store wrote
// the same path after this backend did) win over the item: they are the
// newer, and the next Save moves them into the keyring. An entry whose
// item is missing or not twauth's JSON fails with an *ItemError (unless b
// is Tolerant).
func (b *Backend) Load(ctx context.Context) (*store.File, error) {
	f, err := b.meta.Load()
	if err != nil {
		return nil, err
	}
	for _, key := range f.Keys() {
		e := f.Clients[key]
		if hasSecrets(e) {
			b.seen.set(key, secrets{}, false)
			continue
		}
		s, err := b.get(ctx, key)
		b.seen.set(key, s, err == nil)
		var ie *ItemError
		if errors.As(err, &ie) && b.tolerant {
			continue
		}
		if err != nil {
			return nil, err
		}
		e.AccessToken, e.RefreshToken = s.AccessToken, s.RefreshToken
	}
	return f, nil
}

// Save writes the secrets of every entry to its item, then the metadata
// file with the secrets blanked (so a crash never leaves metadata naming
// an item that is not there yet), then deletes the items of entries the
// metadata file held and f no longer does. An item whose value this
// process has just read or written is not written again. f is not
// modified. An entry without secrets (a damaged one kept by a Tolerant
// load) gets no item.
func (b *Backend) Save(ctx context.Context, f *store.File) error {
	var before []string
	if old, err := b.meta.Load(); err == nil {
		before = old.Keys()
	}
	meta := &store.File{Version: f.Version, Clients: make(map[string]*store.Entry, len(f.Clients))}
	for _, key := range f.Keys() {
		e := f.Clients[key]
		if s := (secrets{AccessToken: e.AccessToken, RefreshToken: e.RefreshToken}); hasSecrets(e) && !b.seen.is(key, s) {
			err := b.set(ctx, key, s)
			// A set that failed or timed out may still land.
			b.seen.set(key, s, err == nil)
			if err != nil {
				return err
			}
		}
		m := *e
		m.AccessToken, m.RefreshToken = "", ""
		meta.Clients[key] = &m
	}
	if err := b.meta.Save(meta); err != nil {
		return err
	}
	var errs []error
	for _, key := range before {
		if _, kept := f.Clients[key]; kept {
			continue
		}
		b.seen.set(key, secrets{}, false)
		if err := b.delete(ctx, key); err != nil {
			errs = append(errs, &StrayItemError{Service: b.service, Key: key, Err: err})
		}
	}
	return errors.Join(errs...)
}

func hasSecrets(e *store.Entry) bool { return e.AccessToken != "" || e.RefreshToken != "" }

// get reads and decodes the item of key.
func (b *Backend) get(ctx context.Context, key string) (secrets, error) {
	var v string
	err := b.call(ctx, func() (err error) {
		v, err = keyring.Get(b.service, key)
		return err
	})
	if errors.Is(err, keyring.ErrNotFound) {
		return secrets{}, &ItemError{Service: b.service, Key: key, Missing: true}
	}
	if err != nil {
		return secrets{}, fmt.Errorf("read keyring item %s of service %s: %w", key, b.service, classify(err))
	}
	var s secrets
	if json.Unmarshal([]byte(v), &s) != nil || s.AccessToken == "" && s.RefreshToken == "" {
		return secrets{}, &ItemError{Service: b.service, Key: key}
	}
	return s, nil
}

// set writes the item of key.
func (b *Backend) set(ctx context.Context, key string, s secrets) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	err = b.call(ctx, func() error { return keyring.Set(b.service, key, string(v)) })
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return &TooBigError{Service: b.service, Key: key, Size: len(v)}
	}
	if err != nil {
		return fmt.Errorf("write keyring item %s of service %s: %w", key, b.service, classify(err))
	}
	return nil
}

// delete removes the item of key; a missing item is no error.
func (b *Backend) delete(ctx context.Context, key string) error {
	err := b.call(ctx, func() error { return keyring.Delete(b.service, key) })
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return nil
	}
	return classify(err)
}

// call runs one keyring call, bounded by b.Timeout.
func (b *Backend) call(ctx context.Context, fn func() error) error {
	d := b.Timeout
	if d == 0 {
		d = DefaultTimeout
	}
	return within(ctx, d, fn)
}

// busCheck is busReachable; the go-keyring mock's tests replace it.
var busCheck = busReachable

// within runs fn, giving up after d or when ctx is done: a keyring call
// can block on an unlock prompt nobody sees, and go-keyring's calls take
// no context. fn then finishes (or not) on its own.
func within(ctx context.Context, d time.Duration, fn func() error) error {
	if err := busCheck(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return &LockedError{Waited: d}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// KeptInKeyring lists, sorted, the entries of a store file read as a
// plain file store whose secrets are not in it: the metadata this backend
// wrote, whose tokens are in a keyring. A file store that finds some
// should say the tokens are in the keyring rather than that none are
// stored.
func KeptInKeyring(f *store.File) []string {
	var out []string
	for key, e := range f.Clients {
		if e != nil && !hasSecrets(e) {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}
