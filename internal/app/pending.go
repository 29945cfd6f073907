package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/store"
)

// URL is `twauth url`: it prints the authorization URL of a new login on
// stdout and keeps the login pending for `twauth exchange`.
func (a *App) URL(ctx context.Context, method pkce.Method) error {
	if err := a.setup(false); err != nil {
		return err
	}
	if err := a.checkLogin(); err != nil {
		return err
	}
	pair, state, err := a.newSecrets(method)
	if err != nil {
		return err
	}
	redirect := a.s.RedirectURIs[0]
	authURL, err := a.client.AuthorizeURL(oauth.AuthRequest{RedirectURI: redirect, Scopes: a.s.Scopes, State: state, PKCE: pair})
	if err != nil {
		return usagef("%v", err)
	}
	now := a.now()
	p := &store.Pending{
		ClientID:    a.client.ClientID,
		RedirectURI: redirect,
		Scopes:      a.s.Scopes,
		State:       state,
		Verifier:    pair.Verifier,
		Method:      string(pair.Method),
		AuthURL:     a.s.AuthURL,
		TokenURL:    a.tokenURL(),
		CreatedAt:   now.Truncate(time.Second),
		ExpiresAt:   now.Add(store.PendingTTL).Truncate(time.Second),
	}
	if err := a.store.AddPending(ctx, p, now); err != nil {
		return err
	}
	if a.s.JSON {
		if err := a.printJSON(map[string]any{
			"url":          authURL,
			"client_id":    p.ClientID,
			"redirect_uri": redirect,
			"scope":        strings.Join(p.Scopes, " "),
			"expires_at":   p.ExpiresAt.Format(time.RFC3339),
		}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.env.Stdout, authURL)
	}
	a.say("Open the URL above in any browser and approve. Then, within 30 seconds (X's code lifetime), run\n\n    twauth exchange '<the URL the browser was sent to>'\n\nThe pending login is kept in %s until %s.", a.store.PendingPath(), p.ExpiresAt.Format("15:04:05 UTC"))
	return nil
}

// Exchange is `twauth exchange`: it finishes the pending login with a
// pasted redirect URL (state checked) or a bare code, and saves the tokens
// exactly as login does.
func (a *App) Exchange(ctx context.Context, input string) error {
	p, err := parsePasted(input)
	if err != nil {
		return err
	}
	if err := a.loadConfig(); err != nil {
		return err
	}
	if err := a.openStore(); err != nil {
		return err
	}
	// What would keep the tokens from being saved is found before the
	// pending login is taken and the code spent.
	if err := a.checkConfigKeys(a.s.TokenKey, a.s.RefreshTokenKey); err != nil {
		return err
	}
	if _, err := a.store.Load(); err != nil {
		return err
	}
	// Only an explicitly chosen client narrows the search for a bare code.
	pend, err := a.store.TakePending(ctx, p.State, a.s.ClientID, a.now())
	if err != nil {
		return err
	}
	if !p.HasState {
		a.warn("a bare code carries no state, so twauth cannot check that it comes from the pending login; paste the whole redirect URL when you can")
	}
	// The pending login names its app; the secret is the one that goes
	// with that client id.
	a.s.ClientID = pend.ClientID
	_, secret, err := a.resolveClient()
	if err != nil {
		return err
	}
	a.client = a.newClient(pend.ClientID, secret)
	a.s.TokenURL = pend.TokenURL
	a.client.TokenURL = pend.TokenURL
	a.s.Scopes = pend.Scopes
	a.gitWarning()
	return a.exchangeAndSave(ctx, p.Code, pend.Verifier, pend.RedirectURI)
}
