package store

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/twauth/twauth/internal/atomicfile"
)

// PendingTTL is how long a login started by `twauth url` can be finished.
const PendingTTL = 10 * time.Minute

// maxPending bounds how many started logins are kept.
const maxPending = 8

// Pending is a login started by `twauth url` and finished by `twauth
// exchange`: everything but the client secret that the exchange needs.
type Pending struct {
	ClientID    string    `json:"client_id"`
	RedirectURI string    `json:"redirect_uri"`
	Scopes      []string  `json:"scopes"`
	State       string    `json:"state"`
	Verifier    string    `json:"code_verifier"`
	Method      string    `json:"code_challenge_method"`
	AuthURL     string    `json:"auth_url"`
	TokenURL    string    `json:"token_url"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type pendingFile struct {
	Version int        `json:"version"`
	Pending []*Pending `json:"pending"`
	// Used remembers the logins already taken, by the SHA-256 of their
	// state, until they would have expired: a redirect pasted twice is
	// told apart from a forged one.
	Used []usedPending `json:"used,omitempty"`
}

type usedPending struct {
	StateSHA256 string    `json:"state_sha256"`
	Until       time.Time `json:"until"`
}

// PendingPath is the file beside the store that holds started logins.
func (s *Store) PendingPath() string {
	return filepath.Join(filepath.Dir(s.Path), "pending.json")
}

func (s *Store) loadPending() (*pendingFile, error) {
	path := s.PendingPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &pendingFile{Version: Version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pending logins: %w", err)
	}
	var pf pendingFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return nil, &CorruptError{Path: path, Reason: "not valid JSON"}
	}
	return &pf, nil
}

func (s *Store) updatePending(ctx context.Context, fn func(pf *pendingFile) error) error {
	path := s.PendingPath()
	timeout := s.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	unlock, err := atomicfile.Lock(ctx, path, timeout)
	if err != nil {
		return err
	}
	defer unlock()
	pf, err := s.loadPending()
	if err != nil {
		return err
	}
	if err := fn(pf); err != nil {
		return err
	}
	pf.Version = Version
	data, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(data, '\n'), atomicfile.Options{Private: true, FS: s.FS, Locked: true}); err != nil {
		return fmt.Errorf("save pending logins: %w", err)
	}
	return nil
}

// AddPending records p, dropping logins that expired by now and the oldest
// ones beyond a handful.
func (s *Store) AddPending(ctx context.Context, p *Pending, now time.Time) error {
	return s.updatePending(ctx, func(pf *pendingFile) error {
		kept := pf.Pending[:0]
		for _, q := range pf.Pending {
			if q != nil && now.Before(q.ExpiresAt) {
				kept = append(kept, q)
			}
		}
		kept = append(kept, p)
		if len(kept) > maxPending {
			kept = kept[len(kept)-maxPending:]
		}
		pf.Pending = kept
		return nil
	})
}

// NoPendingError means there is no pending login to finish.
type NoPendingError struct{ Expired, Used bool }

func (e *NoPendingError) Error() string {
	if e.Used {
		return "this redirect was already exchanged (a pending login is used once, and X accepts its code once)"
	}
	if e.Expired {
		return "the pending login expired (it lasts 10 minutes)"
	}
	return "no pending login"
}

// StateMismatchError means a redirect's state matches no pending login.
type StateMismatchError struct{}

func (e *StateMismatchError) Error() string {
	return "the state in the redirect URL matches no pending login (a stale or forged redirect)"
}

// TakePending removes and returns the pending login to finish: the one
// whose state equals state (compared in constant time) when state is not
// empty, else the newest one of clientID ("" = any client). A pending login
// is used once: it is removed even if the exchange then fails. Expired
// logins are dropped, with their verifiers.
func (s *Store) TakePending(ctx context.Context, state, clientID string, now time.Time) (*Pending, error) {
	var found *Pending
	err := s.updatePending(ctx, func(pf *pendingFile) error {
		idx, err := pf.pick(state, clientID, now)
		if err != nil {
			return err
		}
		found = pf.Pending[idx]
		pf.Pending = append(pf.Pending[:idx:idx], pf.Pending[idx+1:]...)
		pf.Used = append(pf.Used, usedPending{StateSHA256: Fingerprint(found.State), Until: found.ExpiresAt})
		if len(pf.Used) > 4*maxPending {
			pf.Used = pf.Used[len(pf.Used)-4*maxPending:]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// PeekPending is TakePending without taking: the login exchange would
// finish, so that everything else can be checked before it is used up.
func (s *Store) PeekPending(state, clientID string, now time.Time) (*Pending, error) {
	pf, err := s.loadPending()
	if err != nil {
		return nil, err
	}
	idx, err := pf.pick(state, clientID, now)
	if err != nil {
		return nil, err
	}
	return pf.Pending[idx], nil
}

// pick drops what expired by now and finds the login to finish.
func (pf *pendingFile) pick(state, clientID string, now time.Time) (int, error) {
	var live []*Pending
	expired := false
	for _, q := range pf.Pending {
		if q == nil {
			continue
		}
		if !now.Before(q.ExpiresAt) {
			expired = true
			continue
		}
		live = append(live, q)
	}
	idx := -1
	for i, q := range live {
		switch {
		case state != "":
			if subtle.ConstantTimeCompare([]byte(q.State), []byte(state)) == 1 {
				idx = i
			}
		case clientID == "" || q.ClientID == clientID:
			idx = i // the newest wins: entries are in order of creation
		}
	}
	pf.Pending = live
	used := pf.Used[:0]
	for _, u := range pf.Used {
		if now.Before(u.Until) {
			used = append(used, u)
		}
	}
	pf.Used = used
	if idx >= 0 {
		return idx, nil
	}
	stateSum := Fingerprint(state)
	switch {
	case state != "" && slices.ContainsFunc(used, func(u usedPending) bool { return u.StateSHA256 == stateSum }):
		return -1, &NoPendingError{Used: true}
	case len(live) > 0 && state != "":
		return -1, &StateMismatchError{}
	case expired:
		return -1, &NoPendingError{Expired: true}
	}
	return -1, &NoPendingError{}
}

// PrunePending removes the pending logins that expired by now, with their
// verifiers. It writes only when there is something to remove.
func (s *Store) PrunePending(ctx context.Context, now time.Time) error {
	pf, err := s.loadPending()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(pf.Pending, func(p *Pending) bool { return p == nil || !now.Before(p.ExpiresAt) }) {
		return nil
	}
	return s.updatePending(ctx, func(pf *pendingFile) error {
		pf.Pending = slices.DeleteFunc(pf.Pending, func(p *Pending) bool { return p == nil || !now.Before(p.ExpiresAt) })
		return nil
	})
}
