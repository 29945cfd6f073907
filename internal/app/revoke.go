package app

import (
	"context"
	"fmt"
	"sort"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/store"
)

// Revoke is `twauth revoke`: it revokes the refresh and access tokens at X
// (RFC 7009), then removes the keys twauth wrote from Config.toml, then the
// entry from the store. A token X already considers invalid counts as
// revoked. When X cannot be reached nothing local is removed, so the
// command can be run again.
func (a *App) Revoke(ctx context.Context) error {
	if err := a.setup(true); err != nil {
		return err
	}
	f, err := a.store.Load()
	if err != nil {
		return err
	}
	id := a.client.ClientID
	e := f.Clients[id]
	if e == nil {
		return &oauth.LoginNeededError{Reason: fmt.Sprintf("nothing is stored for client id %s, so there is nothing to revoke", id)}
	}
	if err := a.needSecret(e); err != nil {
		return err
	}
	// The keys to clear: those recorded at login, else the ones in force,
	// and then only where they still hold one of this app's tokens.
	keys := e.Config
	recorded := keys != nil
	if !recorded {
		keys = &store.ConfigKeys{Path: a.cfgPath, TokenKey: a.s.TokenKey, RefreshTokenKey: a.s.RefreshTokenKey}
	}
	var doc *balconfig.Doc
	if keys.Path != "" && fileExists(keys.Path) {
		d, _, err := balconfig.Load(keys.Path)
		if err != nil {
			return err
		}
		// Try the deletions on a copy first: a refusal stops everything.
		for _, k := range []string{keys.TokenKey, keys.RefreshTokenKey} {
			if k == "" {
				continue
			}
			if _, err := d.Delete(k); err != nil {
				return annotatePath(err, keys.Path)
			}
		}
		doc = d
	}
	earlier := a.earlierToClear(e, keys)

	var notes []string
	if e.RefreshToken != "" {
		inv, err := a.client.Revoke(ctx, e.RefreshToken, "refresh_token")
		if err != nil {
			return err
		}
		notes = append(notes, revokedText("refresh token", inv))
	}
	inv, err := a.client.Revoke(ctx, e.AccessToken, "access_token")
	if err != nil {
		return err
	}
	notes = append(notes, revokedText("access token", inv))

	var removed []string
	if doc != nil {
		err := balconfig.Edit(ctx, keys.Path, a.s.LockTimeout, func(d *balconfig.Doc) error {
			removed = nil
			for _, k := range []string{keys.TokenKey, keys.RefreshTokenKey} {
				if k == "" {
					continue
				}
				v, found, err := d.Get(k)
				if err != nil {
					return err
				}
				if !found || (!recorded && v != e.AccessToken && v != e.RefreshToken) {
					continue
				}
				if _, err := d.Delete(k); err != nil {
					return err
				}
				removed = append(removed, k)
			}
			return deleteEarlier(d, earlier[keys.Path], &removed)
		})
		if err != nil {
			return fmt.Errorf("the tokens are revoked at X, but %s was not edited: %w", keys.Path, annotatePath(err, keys.Path))
		}
	}
	// Keys earlier logins wrote into other files. A file that cannot be
	// edited is only a warning: the tokens are revoked at X already.
	removedEarlier := map[string][]string{}
	for _, path := range sortedKeys(earlier) {
		if path == keys.Path && doc != nil {
			continue
		}
		var gone []string
		err := balconfig.Edit(ctx, path, a.s.LockTimeout, func(d *balconfig.Doc) error {
			gone = nil
			return deleteEarlier(d, earlier[path], &gone)
		})
		if err != nil {
			a.warn("%s still holds a token an earlier twauth login wrote, now revoked at X; it was not edited: %v", path, annotatePath(err, path))
			continue
		}
		if len(gone) > 0 {
			removedEarlier[path] = gone
		}
	}
	if err := a.store.Update(ctx, func(f *store.File) error {
		delete(f.Clients, id)
		return nil
	}); err != nil {
		return err
	}
	if a.s.JSON {
		out := map[string]any{"client_id": id, "revoked": true, "config": keys.Path, "removed_keys": removed, "store": a.store.Path}
		if len(removedEarlier) > 0 {
			out["removed_earlier_keys"] = removedEarlier
		}
		return a.printJSON(out)
	}
	a.say("Revoked at X: %s.", joinAnd(notes))
	if len(removed) > 0 {
		a.say("Removed %s from %s.", joinAnd(quoteAll(removed)), keys.Path)
	}
	for _, path := range sortedKeys(removedEarlier) {
		a.say("Removed %s from %s (written by an earlier login).", joinAnd(quoteAll(removedEarlier[path])), path)
	}
	a.say("Removed client id %s from %s.", id, a.store.Path)
	return nil
}

// earlierToClear groups by file the keys earlier logins of e wrote, leaving
// out the keys revoke clears anyway and files that no longer exist.
func (a *App) earlierToClear(e *store.Entry, cur *store.ConfigKeys) map[string][]store.EarlierKey {
	out := map[string][]store.EarlierKey{}
	for _, k := range e.Earlier {
		if k.Path == cur.Path && (k.Key == cur.TokenKey || k.Key == cur.RefreshTokenKey) {
			continue
		}
		if !fileExists(k.Path) {
			continue
		}
		out[k.Path] = append(out[k.Path], k)
	}
	return out
}

// deleteEarlier removes each key of ks from d that still holds the token
// twauth wrote there (same SHA-256); a key the user has since given another
// value, or that no longer parses as twauth left it, is kept.
func deleteEarlier(d *balconfig.Doc, ks []store.EarlierKey, removed *[]string) error {
	for _, k := range ks {
		v, found, err := d.Get(k.Key)
		if err != nil || !found || store.Fingerprint(v) != k.SHA256 {
			continue
		}
		if _, err := d.Delete(k.Key); err != nil {
			return err
		}
		*removed = append(*removed, k.Key)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func revokedText(what string, alreadyInvalid bool) string {
	if alreadyInvalid {
		return what + " (X already considered it invalid)"
	}
	return what
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = "key " + x
	}
	return out
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}
