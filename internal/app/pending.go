package app

import (
	"context"
	"strings"
	"time"

	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/store"
)

// Started is a login that `twauth url` started.
type Started struct {
	URL     string
	Pending *store.Pending
	// PendingPath is the file that keeps it.
	PendingPath string
}

// URLOptions are the settings of a started login.
type URLOptions struct {
	PKCEMethod   pkce.Method
	RedirectURIs []string
	Scopes       []string
}

// URL starts a login: it builds the authorization URL and keeps the
// verifier and state as a pending login for Exchange.
func (a *Runner) URL(ctx context.Context, o URLOptions) (*Started, error) {
	o.RedirectURIs, o.Scopes = loginDefaults(o.RedirectURIs, o.Scopes)
	if err := a.checkLogin(o.Scopes); err != nil {
		return nil, err
	}
	pair, state, err := a.newSecrets(o.PKCEMethod)
	if err != nil {
		return nil, err
	}
	redirect := o.RedirectURIs[0]
	authURL, err := a.client.AuthorizeURL(oauth.AuthRequest{RedirectURI: redirect, Scopes: o.Scopes, State: state, PKCE: pair})
	if err != nil {
		return nil, usagef("%v", err)
	}
	now := a.now()
	p := &store.Pending{
		ClientID:    a.client.ClientID,
		RedirectURI: redirect,
		Scopes:      o.Scopes,
		State:       state,
		Verifier:    pair.Verifier,
		Method:      string(pair.Method),
		AuthURL:     a.t.AuthURL.Value,
		TokenURL:    a.tokenURL(),
		CreatedAt:   now.Truncate(time.Second),
		ExpiresAt:   now.Add(store.PendingTTL).Truncate(time.Second),
	}
	if err := a.st.AddPending(ctx, p, now); err != nil {
		return nil, err
	}
	return &Started{URL: authURL, Pending: p, PendingPath: a.st.PendingPath()}, nil
}

// Pasted is what the user pasted into exchange, parsed.
type Pasted = pasted

// ParsePasted reads a redirect URL, its query string, or a bare code.
func ParsePasted(in string) (Pasted, error) { return parsePasted(in) }

// TokenURLMismatchError: a pending login names another token URL than the
// one in force. It is never followed: an edited pending file would send
// the code, verifier and credentials elsewhere.
type TokenURLMismatchError struct{ Pending, InForce string }

func (e *TokenURLMismatchError) Error() string {
	return "the pending login was started for the token endpoint " + e.Pending + ", not " + e.InForce + " (the one in force): the code is not sent there"
}

// Exchange finishes the pending login pend (found, not yet taken, by the
// caller: it names the Runner's app) with the pasted code, and saves the
// tokens exactly as Login does. Everything that would keep the tokens from
// being saved is checked before the pending login is taken and the code
// spent.
func (a *Runner) Exchange(ctx context.Context, p Pasted, pend *store.Pending, pendingClientID string) (*LoggedIn, error) {
	if err := a.checkWrite(); err != nil {
		return nil, err
	}
	if _, err := a.st.Load(); err != nil {
		return nil, err
	}
	if pend.TokenURL != "" && strings.TrimRight(pend.TokenURL, "/") != strings.TrimRight(a.tokenURL(), "/") {
		return nil, &TokenURLMismatchError{Pending: pend.TokenURL, InForce: a.tokenURL()}
	}
	pend, err := a.st.TakePending(ctx, p.State, pendingClientID, a.now())
	if err != nil {
		return nil, err
	}
	if !p.HasState {
		a.warn("a bare code carries no state, so twauth cannot check that it comes from the pending login; paste the whole redirect URL when you can")
	}
	a.gitWarning()
	return a.exchangeAndSave(ctx, p.Code, pend.Verifier, pend.RedirectURI)
}
