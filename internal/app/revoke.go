package app

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/store"
)

// Revoke is `twauth revoke`: it revokes the refresh and access tokens at X
// (RFC 7009), then removes the keys twauth wrote from Config.toml, then the
// entry from the store. A token X already considers invalid counts as
// revoked. When X cannot be reached nothing local is removed, so the
// command can be run again.
func (a *Runner) Revoke(ctx context.Context) (*Revoked, error) {
	f, err := a.st.Load()
	if err != nil {
		return nil, err
	}
	id := a.client.ClientID
	key := a.t.Key
	e := f.Clients[key]
	if e == nil {
		return nil, &NothingStoredError{ClientID: id, StorePath: a.st.Where(), Revoking: true}
	}
	if err := a.needSecret(); err != nil {
		return nil, err
	}
	// The keys to clear: those recorded at login, else the ones in force,
	// and then only where they still hold one of this app's tokens.
	keys := e.Config
	recorded := keys != nil
	if !recorded {
		keys = &store.ConfigKeys{Path: a.t.ConfigPath, TokenKey: a.t.TokenKey.Value, RefreshTokenKey: a.t.RefreshTokenKey.Value}
	}
	var doc *balconfig.Doc
	if keys.Path != "" && fileExists(keys.Path) {
		d, _, err := balconfig.Load(keys.Path)
		if err != nil {
			return nil, err
		}
		// Try the deletions on a copy first: a refusal stops everything.
		for _, k := range []string{keys.TokenKey, keys.RefreshTokenKey} {
			if k == "" {
				continue
			}
			if err := clearKey(d, keys, k); err != nil {
				return nil, annotatePath(err, keys.Path)
			}
		}
		doc = d
	}
	// Tokens earlier logins left in other keys, and refresh tokens a
	// killed refresh left on disk: revoked at X first, so that a failure
	// there stops the command with nothing changed and it can run again.
	earlier := a.earlierTokens(e, keys)
	for _, path := range slices.Sorted(maps.Keys(earlier)) {
		for _, t := range earlier[path] {
			if t.value == e.AccessToken || t.value == e.RefreshToken {
				continue
			}
			if _, err := a.client.Revoke(ctx, t.value, t.Kind); err != nil {
				return nil, &RevokeStoppedError{What: fmt.Sprintf("%s, key %s, holds a token of an earlier twauth login that could not be revoked at X", path, t.Key), Err: err}
			}
		}
	}
	for _, o := range a.st.Leftovers(ctx, key, e.RefreshToken) {
		if _, err := a.client.Revoke(ctx, o.RefreshToken, "refresh_token"); err != nil {
			return nil, &RevokeStoppedError{What: o.Where + " holds a refresh token an interrupted twauth refresh left that could not be revoked at X", Err: err}
		}
	}

	var notes []string
	if e.RefreshToken != "" {
		inv, err := a.client.Revoke(ctx, e.RefreshToken, "refresh_token")
		if err != nil {
			return nil, err
		}
		notes = append(notes, revokedText("refresh token", inv))
	}
	inv, err := a.client.Revoke(ctx, e.AccessToken, "access_token")
	if err != nil {
		return nil, err
	}
	notes = append(notes, revokedText("access token", inv))

	var removed, kept, blanked []string
	removedEarlier := map[string][]string{}
	if doc != nil {
		err := balconfig.Edit(ctx, keys.Path, a.d.LockTimeout, func(d *balconfig.Doc) error {
			removed, kept, blanked = nil, nil, nil
			for _, k := range []string{keys.TokenKey, keys.RefreshTokenKey} {
				if k == "" {
					continue
				}
				v, found, err := d.Get(k)
				if err != nil {
					return err
				}
				if !found || !holdsOurs(e, keys, recorded, k, v) {
					if found {
						kept = append(kept, k)
					}
					continue
				}
				if err := clearKey(d, keys, k); err != nil {
					return err
				}
				if _, created := keys.CreatedKey(k); created {
					removed = append(removed, k)
				} else {
					blanked = append(blanked, k)
				}
			}
			if gone := deleteEarlier(d, earlier[keys.Path]); len(gone) > 0 {
				removedEarlier[keys.Path] = gone
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("the tokens are revoked at X, but %s was not edited: %w", keys.Path, annotatePath(err, keys.Path))
		}
	}
	// Keys earlier logins wrote into other files. A file that cannot be
	// edited is only a warning: the tokens are revoked at X already.
	for _, path := range slices.Sorted(maps.Keys(earlier)) {
		if path == keys.Path && doc != nil {
			continue
		}
		var gone []string
		err := balconfig.Edit(ctx, path, a.d.LockTimeout, func(d *balconfig.Doc) error {
			gone = deleteEarlier(d, earlier[path])
			return nil
		})
		if err != nil {
			a.warn("%s still holds a token of an earlier twauth login, revoked at X now; the file was not edited: %v", path, annotatePath(err, path))
			continue
		}
		if len(gone) > 0 {
			removedEarlier[path] = gone
		}
	}
	if err := a.st.UpdateClearing(ctx, func(f *store.File) ([]string, error) {
		if cur := f.Clients[key]; cur != nil && cur.RefreshToken != e.RefreshToken {
			// Refreshed meanwhile (serve, a cron job): its new chain was
			// not revoked, so it stays.
			return nil, &RefreshedMeanwhileError{ClientID: id}
		}
		delete(f.Clients, key)
		return []string{key}, nil
	}); err != nil {
		return nil, err
	}
	return &Revoked{ClientID: id, Account: e.Account(), Notes: notes, ConfigPath: keys.Path, Removed: removed, Blanked: blanked, Kept: kept, RemovedEarlier: removedEarlier, StorePath: a.st.Where()}, nil
}

// RefreshedMeanwhileError: the chain was refreshed while revoke ran, so
// the store holds a refresh token revoke did not revoke.
type RefreshedMeanwhileError struct{ ClientID string }

func (e *RefreshedMeanwhileError) Error() string {
	return "the token of client id " + e.ClientID + " was refreshed while it was being revoked: the new one is still live and stays in the store"
}

// RevokeStoppedError: a token could not be revoked at X, so nothing local
// was changed and the revocation can simply be run again.
type RevokeStoppedError struct {
	What string
	Err  error
}

func (e *RevokeStoppedError) Error() string {
	return e.What + ": " + e.Err.Error() + "; nothing was changed"
}

func (e *RevokeStoppedError) Unwrap() error { return e.Err }

// Revoked is the outcome of Revoke.
type Revoked struct {
	ClientID string
	// Account is the X account whose tokens were revoked ("@name").
	Account string
	// Notes name what was revoked at X ("refresh token", "access token
	// (X already considered it invalid)").
	Notes      []string
	ConfigPath string
	// Removed are keys twauth had created; Blanked are keys the program
	// declares, set to ""; Kept hold a value that is not this app's token.
	Removed, Blanked, Kept []string
	// RemovedEarlier are keys earlier logins wrote, by file.
	RemovedEarlier map[string][]string
	StorePath      string
}

// clearKey removes key k from d when twauth created it, and blanks it
// (k = "") when the program declared it: a declared configurable with no
// value stops the program at start-up (docs/design.md, "Facts about
// Ballerina").
func clearKey(d *balconfig.Doc, keys *store.ConfigKeys, k string) error {
	c, _ := keys.CreatedKey(k)
	_, err := d.Unset(k, balconfig.Created{Key: c.Key == k, Table: c.Table})
	return err
}

// holdsOurs says whether v, the value of key k of the Config.toml keys
// record, is this app's token: the stored access or refresh token, or the
// one twauth wrote there (its SHA-256 recorded). A store written before the
// fingerprints were recorded counts every recorded key as twauth's.
func holdsOurs(e *store.Entry, keys *store.ConfigKeys, recorded bool, k, v string) bool {
	if v == e.AccessToken || v == e.RefreshToken {
		return true
	}
	if !recorded {
		return false
	}
	sum := keys.TokenSHA256
	if k == keys.RefreshTokenKey && k != keys.TokenKey {
		sum = keys.RefreshTokenSHA256
	}
	if keys.TokenSHA256 == "" && keys.RefreshTokenSHA256 == "" {
		return true
	}
	return sum != "" && store.Fingerprint(v) == sum
}

// earlierToken is a token an earlier login left in a Config.toml key.
type earlierToken struct {
	store.EarlierKey
	value string
}

// earlierTokens reads, file by file, the keys earlier logins of e wrote
// that still hold the token written there (same SHA-256), leaving out the
// keys revoke clears anyway. A file that is gone or cannot be read is
// skipped: there is nothing twauth can clear in it.
func (a *Runner) earlierTokens(e *store.Entry, cur *store.ConfigKeys) map[string][]earlierToken {
	out := map[string][]earlierToken{}
	docs := map[string]*balconfig.Doc{}
	for _, k := range e.Earlier {
		if cur.Names(k.Path, k.Key) {
			continue
		}
		d, ok := docs[k.Path]
		if !ok {
			if fileExists(k.Path) {
				var err error
				if d, _, err = balconfig.Load(k.Path); err != nil {
					a.warn("%s may hold a token of an earlier twauth login, but it cannot be read: %v", k.Path, err)
					d = nil
				}
			}
			docs[k.Path] = d
		}
		if d == nil {
			continue
		}
		if v, found, err := d.Get(k.Key); err == nil && found && store.Fingerprint(v) == k.SHA256 {
			out[k.Path] = append(out[k.Path], earlierToken{k, v})
		}
	}
	return out
}

// deleteEarlier removes from d each key of ts that still holds its token
// and returns the keys removed. A key the user has given another value
// since is kept, and so is one that cannot be deleted: the token in it is
// revoked at X already, and the current keys must still be cleared.
func deleteEarlier(d *balconfig.Doc, ts []earlierToken) []string {
	var removed []string
	for _, t := range ts {
		v, found, err := d.Get(t.Key)
		if err != nil || !found || v != t.value {
			continue
		}
		if _, err := d.Delete(t.Key); err != nil {
			continue
		}
		removed = append(removed, t.Key)
	}
	return removed
}

func revokedText(what string, alreadyInvalid bool) string {
	if alreadyInvalid {
		return what + " (X already considered it invalid)"
	}
	return what
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
