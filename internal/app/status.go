package app

import (
	"context"
	"fmt"

	"github.com/twauth/twauth/internal/store"
)

// Status is what is stored for the target's app, and where its token goes.
type Status struct {
	Entry *store.Entry
	// ConfigState says whether Config.toml holds the stored access token.
	ConfigState   string
	ConfigCurrent bool
	// Verified is set by a verification: whether X accepts the token.
	Verified *bool
}

// NothingStoredError: the store holds nothing for the app.
type NothingStoredError struct {
	ClientID, StorePath string
	// Revoking says the command was revoke: there is nothing to revoke.
	Revoking bool
}

func (e *NothingStoredError) Error() string {
	return fmt.Sprintf("nothing is stored for client id %s in %s", e.ClientID, e.StorePath)
}

// ExpiredError: the access token to verify has expired.
type ExpiredError struct{}

func (e *ExpiredError) Error() string { return "the access token has expired" }

// Status reports what is stored for the target's app and whether the
// target's Config.toml — the very file refresh would write — holds its
// access token. With verify, X is asked whether it accepts the token; the
// error of that check comes back with the Status.
func (a *Runner) Status(ctx context.Context, verify bool) (*Status, error) {
	f, err := a.st.Load()
	if err != nil {
		return nil, err
	}
	id := a.client.ClientID
	e := f.Clients[a.t.Key]
	if e == nil {
		return nil, &NothingStoredError{ClientID: id, StorePath: a.st.Where()}
	}
	s := &Status{Entry: e, ConfigState: "missing: twauth refresh writes it"}
	if a.doc != nil {
		switch v, found, err := a.doc.Get(a.t.TokenKey.Value); {
		case err != nil:
			s.ConfigState = err.Error()
		case !found:
			s.ConfigState = "no token there: twauth refresh writes it"
		case v == e.AccessToken:
			s.ConfigState, s.ConfigCurrent = "holds the current access token", true
		default:
			s.ConfigState = "holds another access token, not the stored one: twauth refresh updates it"
		}
	}
	if a.t.Conflict != nil {
		s.ConfigState = fmt.Sprintf("names client id %s: no token of %s is written there", a.t.ConfigClientID, id)
	}
	if !verify {
		return s, nil
	}
	ok := false
	s.Verified = &ok
	if !a.now().Before(e.Expiry) {
		return s, &ExpiredError{}
	}
	u, err := a.client.Me(ctx, e.AccessToken)
	if err != nil {
		return s, err
	}
	ok = true
	e.Username = u.Username
	return s, nil
}
