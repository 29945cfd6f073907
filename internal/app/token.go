package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/store"
)

// SaveError is a rotated token set that X issued but twauth could not make
// durable. Exit code 1.
type SaveError struct {
	Path string
	Err  error
}

func (e *SaveError) Error() string {
	return fmt.Sprintf("X issued a new refresh token, but saving it to %s failed (%v): unless it reached Config.toml or --json output, run twauth login", e.Path, e.Err)
}

func (e *SaveError) Unwrap() error { return e.Err }

// ExitCode is 1.
func (e *SaveError) ExitCode() int { return 1 }

// TokenOptions are the flags of `twauth token`.
type TokenOptions struct {
	// MinValid: a token that expires sooner is refreshed first.
	MinValid time.Duration
	// RefreshToken, when set, is used instead of the stored one.
	RefreshToken string
}

// Token is `twauth token`: it prints a valid access token. A token valid
// for longer than MinValid is answered from the store alone, with no lock
// and no network. Otherwise it refreshes under the store's lock, re-reading
// the store first: another twauth may have refreshed meanwhile.
func (a *App) Token(ctx context.Context, o TokenOptions) error {
	// A refresh token passed in (CI) means a fresh checkout: its own
	// ./Config.toml, not the one an earlier job recorded.
	a.followRecorded = o.RefreshToken == ""
	if err := a.openStore(); err != nil {
		return err
	}
	// The fast path reads Config.toml only when no client id was given.
	if a.s.ClientID == "" {
		if err := a.loadConfig(); err != nil {
			return err
		}
	}
	id, _, err := a.resolveClientLight()
	if err != nil {
		return err
	}
	f, err := a.store.Load()
	if err != nil {
		return err
	}
	if id == "" {
		if id, err = a.onlyClient(f); err != nil {
			return err
		}
	}
	fresh := func(e *store.Entry) bool {
		return e != nil && e.AccessToken != "" && e.Expiry.Sub(a.now()) > o.MinValid
	}
	e := f.Clients[id]
	if !fresh(e) {
		if e == nil && o.RefreshToken == "" {
			return &oauth.LoginNeededError{Reason: fmt.Sprintf("no token is stored for client id %s", id)}
		}
		if err := a.setup(true); err != nil {
			return err
		}
		if err := a.needSecret(e); err != nil {
			return err
		}
		a.adoptRecordedKeys(e)
		writeConfig := a.docExists
		if writeConfig {
			if err := a.checkConfigKeys(a.s.TokenKey, a.s.RefreshTokenKey); err != nil {
				return err
			}
		}
		var refreshed bool
		e, refreshed, err = a.refreshLocked(ctx, o.RefreshToken, fresh, writeConfig)
		if err != nil {
			return err
		}
		if refreshed && writeConfig {
			if err := a.writeConfig(ctx, e); err != nil {
				return err
			}
		}
		if refreshed && !fresh(e) {
			// A server whose tokens live less than --min-valid (zitadel's
			// example OP: 5 minutes) would be asked on every call.
			a.warn("the new access token is valid for only %s, not more than --min-valid %s: every twauth token will refresh; lower --min-valid",
				e.Expiry.Sub(a.now()).Round(time.Second), o.MinValid)
		}
	}
	if a.s.JSON {
		return a.printJSON(tokenJSON(e, false))
	}
	_, err = fmt.Fprintln(a.env.Stdout, e.AccessToken)
	return err
}

// resolveClientLight is resolveClient without requiring Config.toml.
func (a *App) resolveClientLight() (string, string, error) {
	if a.doc == nil {
		return a.s.ClientID, a.s.ClientSecret, nil
	}
	return a.resolveClient()
}

func (a *App) onlyClient(f *store.File) (string, error) {
	ids := f.ClientIDs()
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		return "", &oauth.LoginNeededError{Reason: "no token is stored and no client id is set"}
	}
	return "", usagef("the token store holds several apps (%v): pick one with --client-id or TWAUTH_CLIENT_ID", ids)
}

// needSecret refuses to refresh a confidential client's token without its
// secret: X would answer unauthorized_client.
func (a *App) needSecret(e *store.Entry) error {
	if e != nil && e.Confidential && !a.client.Confidential() {
		msg := fmt.Sprintf("client id %s is a confidential client (it logged in with a client secret), and X needs the secret for this too: set TWAUTH_CLIENT_SECRET or %s in %s", e.ClientID, a.s.ClientSecretKey, a.cfgPath)
		if a.secretNote != "" {
			msg += " (" + a.secretNote + ")"
		}
		return &UsageError{Msg: msg}
	}
	return nil
}

// refreshLocked refreshes under the store's lock. The store is re-read
// once the lock is held; when fresh says the entry found there is good
// enough (another twauth refreshed it meanwhile) no request is made. After
// X answers, the rotated pair is saved, fsynced, before anything else
// happens: that is the only window in which a crash loses the chain.
func (a *App) refreshLocked(ctx context.Context, explicitRT string, fresh func(*store.Entry) bool, configWritten bool) (*store.Entry, bool, error) {
	id := a.client.ClientID
	unlock, err := a.store.Lock(ctx)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	f, err := a.store.Load()
	if err != nil {
		return nil, false, err
	}
	old := f.Clients[id]
	if fresh != nil && fresh(old) {
		return old, false, nil
	}
	rt := explicitRT
	if rt == "" {
		switch {
		case old == nil:
			return nil, false, &oauth.LoginNeededError{Reason: fmt.Sprintf("no token is stored for client id %s", id)}
		case old.RefreshToken == "":
			return nil, false, &oauth.LoginNeededError{Reason: fmt.Sprintf("the token of client id %s has no refresh token (log in with the offline.access scope to get one)", id)}
		}
		rt = old.RefreshToken
	}
	// X's answer goes to disk the moment it is read, before it is
	// decoded: a kill from then on leaves the rotated refresh token where
	// the next refresh finds it (recoverOrphan). Once the store holds the
	// tokens, the journals go.
	a.client.OnRefreshAnswer = func(body []byte) {
		if err := a.store.Journal(id, body); err != nil {
			a.warn("could not keep X's answer on disk before reading it (%v); the refresh goes on", err)
		}
	}
	defer func() { a.client.OnRefreshAnswer = nil }()
	tok, err := a.client.Refresh(ctx, rt)
	if err != nil && explicitRT == "" {
		tok, err = a.recoverOrphan(ctx, id, rt, tok, err)
	}
	if err != nil {
		var se *oauth.ServerError
		if explicitRT != "" && errors.As(err, &se) && se.Rejected() {
			return nil, false, &SeedRejectedError{Err: se}
		}
		return nil, false, err
	}
	cfg := a.configKeys(tok)
	if !configWritten && old != nil {
		cfg = old.Config
	} else if !configWritten {
		cfg = nil
	}
	e := a.newEntry(tok, old, cfg)
	e.CarryEarlier(old)
	f.Clients[id] = e
	if err := a.store.Save(f); err != nil {
		return e, true, &SaveError{Path: a.store.Path, Err: err}
	}
	// The store holds the new pair: the journals of this app's answers
	// are stale copies now.
	a.store.RemoveJournals(id)
	return e, true, nil
}

// SeedRejectedError: X refused the refresh token a script passed in with
// --refresh-token or TWAUTH_REFRESH_TOKEN. Exit code 4, and a fix for where
// such a token comes from (a CI secret), not only "log in".
type SeedRejectedError struct{ Err *oauth.ServerError }

func (e *SeedRejectedError) Error() string {
	what := e.Err.Code
	if e.Err.Description != "" {
		what += " (" + e.Err.Description + ")"
	}
	return "X refused the refresh token from --refresh-token or TWAUTH_REFRESH_TOKEN: " + what +
		": it was already used (X rotates it on every refresh: save the refresh_token that every twauth refresh --json prints, as the README's CI recipe does), revoked, or is another app's." +
		" Seed a new one: twauth login where a browser can open, then twauth refresh --json | jq -r .refresh_token"
}

// ExitCode is 4: a login is needed to get a new chain.
func (e *SeedRejectedError) ExitCode() int { return 4 }

func (e *SeedRejectedError) Unwrap() error { return e.Err }

// maxOrphans bounds the refresh attempts recoverOrphan makes.
const maxOrphans = 3

// recoverOrphan handles a stored refresh token that X rejected. A twauth
// killed after X rotated the token but before its store replaced the old
// one may have left the new token in a temporary store file: recoverOrphan
// tries those (newest first) and returns the first token set X grants, or
// the original error.
func (a *App) recoverOrphan(ctx context.Context, id, rt string, tok *oauth.Token, err error) (*oauth.Token, error) {
	var se *oauth.ServerError
	if !errors.As(err, &se) || !se.Rejected() {
		return tok, err
	}
	for i, o := range a.store.Orphans(id, rt) {
		if i == maxOrphans {
			break
		}
		t, rerr := a.client.Refresh(ctx, o.Entry.RefreshToken)
		if rerr == nil {
			a.warn("X had already rotated the stored refresh token; its successor was recovered from %s, left by an interrupted twauth", o.Path)
			return t, nil
		}
		if !errors.As(rerr, &se) || !se.Rejected() {
			return nil, rerr
		}
	}
	return tok, err
}

// writeConfig copies a refreshed token set into Config.toml. It runs after
// the store holds the rotated tokens, so an interrupt no longer stops it:
// the two files stay in step.
func (a *App) writeConfig(ctx context.Context, e *store.Entry) error {
	err := balconfig.Edit(context.WithoutCancel(ctx), a.cfgPath, a.s.LockTimeout, func(d *balconfig.Doc) error {
		return a.setTokenKeys(d, e.AccessToken, e.RefreshToken)
	})
	if err != nil {
		return fmt.Errorf("the new tokens are saved in %s, but %s was not updated: %w", a.store.Path, a.cfgPath, annotatePath(err, a.cfgPath))
	}
	return nil
}

// RefreshOptions are the flags of `twauth refresh`.
type RefreshOptions struct {
	// RefreshToken, when set, is used instead of the stored one (a CI
	// secret).
	RefreshToken string
}

// Refresh is `twauth refresh`: it uses the refresh token now and saves the
// rotated pair: the store first, then Config.toml (created when missing),
// then the output.
func (a *App) Refresh(ctx context.Context, o RefreshOptions) error {
	// A refresh token passed in (CI) means a fresh checkout: its own
	// ./Config.toml, not the one an earlier job recorded.
	a.followRecorded = o.RefreshToken == ""
	if err := a.setup(true); err != nil {
		return err
	}
	f, err := a.store.Load()
	if err != nil {
		return err
	}
	if err := a.needSecret(f.Clients[a.client.ClientID]); err != nil {
		return err
	}
	a.adoptRecordedKeys(f.Clients[a.client.ClientID])
	if err := a.checkConfigKeys(a.s.TokenKey, a.s.RefreshTokenKey); err != nil {
		return err
	}
	e, _, err := a.refreshLocked(ctx, o.RefreshToken, nil, true)
	if err != nil {
		var se *SaveError
		if !errors.As(err, &se) {
			return err
		}
		// The store could not take the new refresh token: everything
		// else still gets it, so it is not lost.
		_ = a.writeConfig(ctx, e)
		if a.s.JSON {
			_ = a.printJSON(tokenJSON(e, true))
		}
		return err
	}
	cfgErr := a.writeConfig(ctx, e)
	if a.s.JSON {
		if err := a.printJSON(tokenJSON(e, true)); err != nil {
			return err
		}
	} else if cfgErr == nil {
		where := fmt.Sprintf("%s, key %s", a.cfgPath, a.s.TokenKey)
		if e.Config != nil && e.Config.RefreshTokenKey != "" {
			where += " (refresh token: key " + e.Config.RefreshTokenKey + ")"
		}
		a.say("Refreshed the token of app %s: it expires %s. Saved to %s and %s.", e.ClientID, whenText(e.Expiry, a.now()), a.store.Path, where)
	}
	return cfgErr
}

// tokenJSON is the --json form of a token set; the refresh token only for
// `refresh`, whose job is to hand it over.
func tokenJSON(e *store.Entry, withRefresh bool) map[string]any {
	m := map[string]any{
		"access_token": e.AccessToken,
		"token_type":   e.TokenType,
		"expires_at":   e.Expiry.UTC().Format(time.RFC3339),
		"scope":        e.Scope,
	}
	if withRefresh {
		m["refresh_token"] = e.RefreshToken
	}
	return m
}
