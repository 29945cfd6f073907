package app

import (
	"context"
	"errors"
	"time"

	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/store"
)

// SeedRejectedError: X refused the refresh token a script passed in
// (a CI secret), as opposed to the stored one.
type SeedRejectedError struct{ Err *oauth.ServerError }

func (e *SeedRejectedError) Error() string {
	what := e.Err.Code
	if e.Err.Description != "" {
		what += " (" + e.Err.Description + ")"
	}
	return "X refused the refresh token that was passed in: " + what
}

func (e *SeedRejectedError) Unwrap() error { return e.Err }

// Fresh reports whether e holds an access token valid for longer than
// minValid at now.
func Fresh(e *store.Entry, now time.Time, minValid time.Duration) bool {
	return e != nil && e.AccessToken != "" && e.Expiry.Sub(now) > minValid
}

// Refreshed is the outcome of a refresh.
type Refreshed struct {
	Entry *store.Entry
	// Refreshed is false when the stored token was fresh enough (another
	// twauth refreshed it meanwhile) and nothing was sent.
	Refreshed bool
	// ConfigWritten reports that Config.toml got the new token.
	ConfigWritten bool
	// Recovered names the leftover of a killed run the chain was
	// recovered from.
	Recovered string
}

// RefreshOptions say how to refresh.
type RefreshOptions struct {
	// Seed is a refresh token to spend instead of the stored one.
	Seed string
	// MinValid, when > 0, accepts a stored token valid for longer than
	// this: nothing is sent (twauth token). 0 always refreshes.
	MinValid time.Duration
	// WriteConfig writes the new token into Config.toml: always for
	// refresh; for token only when the file exists.
	WriteConfig bool
}

// Refresh runs the durable rotation of the target's chain
// (docs/design.md, "The durable sequence"): the store's Rotate spends the
// refresh token under its lock and saves the new pair; only then is
// Config.toml written. When the store cannot take the new pair, the
// result still carries it (with a *store.SaveError), so the caller can
// hand it on rather than lose it.
func (r *Runner) Refresh(ctx context.Context, o RefreshOptions) (*Refreshed, error) {
	if o.WriteConfig {
		if err := r.checkWrite(); err != nil {
			return nil, err
		}
	}
	if err := r.needSecret(); err != nil {
		return nil, err
	}
	rot := store.Rotation{
		Key:  r.t.Key,
		Seed: o.Seed,
		Refresh: func(ctx context.Context, rt string, journal func([]byte)) (store.Grant, error) {
			c := *r.client
			c.OnRefreshAnswer = journal
			tok, err := c.Refresh(ctx, rt)
			if err != nil {
				return store.Grant{}, err
			}
			return grantOf(tok), nil
		},
		Rejected: func(err error) bool {
			var se *oauth.ServerError
			return errors.As(err, &se) && se.Rejected()
		},
		Entry: func(g store.Grant, old *store.Entry) *store.Entry {
			e := r.newEntry(g, old)
			var oldKeys *store.ConfigKeys
			if old != nil {
				oldKeys = old.Config
			}
			switch {
			case o.WriteConfig:
				e.Config = r.configKeys(e, oldKeys)
			case old != nil:
				// Config.toml is not written (twauth token with no file):
				// the record of what it holds stays as it was.
				e.Config = oldKeys
			}
			e.CarryEarlier(old)
			return e
		},
	}
	if o.MinValid > 0 {
		rot.Fresh = func(e *store.Entry) bool { return Fresh(e, r.now(), o.MinValid) }
	}
	res, err := r.st.Rotate(ctx, rot)
	if res.RecoveredFrom != "" {
		r.warn("X had already rotated the stored refresh token; its successor was recovered from %s, left by an interrupted twauth", res.RecoveredFrom)
	}
	out := &Refreshed{Entry: res.Entry, Refreshed: res.Refreshed, Recovered: res.RecoveredFrom}
	if err != nil {
		var se *oauth.ServerError
		if o.Seed != "" && errors.As(err, &se) && se.Rejected() {
			return nil, &SeedRejectedError{Err: se}
		}
		var save *store.SaveError
		if !errors.As(err, &save) {
			return nil, err
		}
		// The store could not take the new refresh token: Config.toml
		// (and the caller's output) still get it, so it is not lost.
		if o.WriteConfig && r.writeConfig(ctx, res.Entry) == nil {
			out.ConfigWritten = true
		}
		return out, err
	}
	if res.Refreshed && o.WriteConfig {
		if err := r.writeConfig(ctx, res.Entry); err != nil {
			return out, err
		}
		out.ConfigWritten = true
	}
	return out, nil
}

// needSecret refuses to refresh a confidential client's token without its
// secret: X would answer unauthorized_client.
func (r *Runner) needSecret() error {
	f, err := r.st.Load()
	if err != nil {
		return err
	}
	if e := f.Clients[r.t.Key]; e != nil && e.Confidential && !r.client.Confidential() {
		return &SecretNeededError{ClientID: e.ClientID, ConfigPath: r.t.ConfigPath, SecretKey: r.t.ClientSecretKey, Note: r.t.SecretNote}
	}
	return nil
}

// SecretNeededError: a confidential client's token cannot be refreshed or
// revoked without its secret.
type SecretNeededError struct {
	ClientID, ConfigPath, SecretKey string
	// Note says why a secret in Config.toml was not used.
	Note string
}

func (e *SecretNeededError) Error() string {
	msg := "client id " + e.ClientID + " is a confidential client (it logged in with a client secret), and X needs the secret for this too"
	if e.Note != "" {
		msg += " (" + e.Note + ")"
	}
	return msg
}
