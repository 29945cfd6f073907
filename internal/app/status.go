package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/oauth"
)

// Status is `twauth status`: what is stored for the client, and with
// verify whether X accepts the access token.
func (a *App) Status(ctx context.Context, verify bool) error {
	a.followRecorded = true
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
		return &oauth.LoginNeededError{Reason: fmt.Sprintf("nothing is stored for client id %s in %s", id, a.store.Path)}
	}
	now := a.now()
	expired := !now.Before(e.Expiry)

	var verified *bool
	var verifyErr error
	if verify {
		ok := false
		if expired {
			verifyErr = &oauth.LoginNeededError{Reason: "the access token has expired: run twauth token or twauth refresh to renew it, or"}
		} else if u, err := a.client.Me(ctx, e.AccessToken); err != nil {
			verifyErr = err
		} else {
			ok = true
			if u.Username != e.Username {
				e.Username = u.Username
			}
		}
		verified = &ok
	}

	cfgPath, tokenKey := a.cfgPath, a.s.TokenKey
	if e.Config != nil {
		cfgPath, tokenKey = e.Config.Path, e.Config.TokenKey
	}
	// Does the program's file hold the token the store holds?
	cfgState, cfgCurrent := "missing: twauth refresh writes it", false
	d, exists, err := a.doc, a.docExists, error(nil)
	if cfgPath != a.cfgPath {
		// The store recorded another file than the one in force here.
		d, exists, err = balconfig.Load(cfgPath)
	}
	if err != nil {
		cfgState = "cannot be read: " + err.Error()
	} else if exists {
		switch v, found, err := d.Get(tokenKey); {
		case err != nil:
			cfgState = err.Error()
		case !found:
			cfgState = "no token there: twauth refresh writes it"
		case v == e.AccessToken:
			cfgState, cfgCurrent = "holds the current access token", true
		default:
			cfgState = "holds another access token, not the stored one: twauth refresh updates it"
		}
	}
	if a.s.JSON {
		m := map[string]any{
			"client_id":          id,
			"client_type":        clientType(e.Confidential),
			"config":             cfgPath,
			"token_key":          tokenKey,
			"config_current":     cfgCurrent,
			"config_state":       cfgState,
			"store":              a.store.Path,
			"username":           e.Username,
			"scope":              e.Scope,
			"expires_at":         e.Expiry.UTC().Format(time.RFC3339),
			"expires_in_seconds": int64(e.Expiry.Sub(now).Seconds()),
			"expired":            expired,
			"refresh_token_held": e.RefreshToken != "",
			"token_url":          e.TokenURL,
		}
		if verified != nil {
			m["verified"] = *verified
		}
		if err := a.printJSON(m); err != nil {
			return err
		}
		return verifyErr
	}
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k, v) }
	row("Client id", fmt.Sprintf("%s (%s client)", id, clientType(e.Confidential)))
	if e.Username != "" {
		row("Account", "@"+e.Username)
	} else {
		row("Account", "unknown (needs the users.read and tweet.read scopes)")
	}
	row("Config.toml", fmt.Sprintf("%s, key %s (%s)", cfgPath, tokenKey, cfgState))
	row("Token store", a.store.Path)
	row("Scopes", e.Scope)
	if expired {
		row("Access token", "expired "+whenText(e.Expiry, now))
	} else {
		row("Access token", "expires "+whenText(e.Expiry, now))
	}
	if e.RefreshToken != "" {
		row("Refresh token", "held: twauth token and twauth refresh renew the access token")
	} else {
		row("Refresh token", "none: log in again when the access token expires")
	}
	if verified != nil {
		if *verified {
			row("Verified", "yes: X accepts the access token (GET /2/users/me)")
		} else {
			row("Verified", "no")
		}
	}
	fmt.Fprint(a.env.Stdout, b.String())
	return verifyErr
}
