package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// TokenOptions are the options of `twauth token`.
type TokenOptions struct {
	f *Factory
	// MinValid: a token that expires sooner is refreshed first.
	MinValid time.Duration
	// RefreshToken, when set, is spent instead of the stored one.
	RefreshToken string
}

// NewCmdToken builds `twauth token`. runF replaces the run (tests of flag
// parsing); nil runs it.
func NewCmdToken(f *Factory, runF func(context.Context, *TokenOptions) error) *cobra.Command {
	o := &TokenOptions{f: f}
	c := &cobra.Command{
		Use:   "token",
		Short: "Print a valid access token, refreshing it first when it expires soon",
		Long: `Print the stored access token and a newline on stdout, nothing else.

When the token expires within --min-valid it is refreshed first (the rotated
refresh token is saved before anything else, and Config.toml is updated when it
exists). Several twauth processes refreshing at once make one request between
them. It never opens a browser: with no usable token it exits 4.`,
		Example: `  curl -H "Authorization: Bearer $(twauth token)" https://api.x.com/2/users/me`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return tokenRun(cmd.Context(), o)
		},
	}
	c.Flags().DurationVar(&o.MinValid, "min-valid", 5*time.Minute, "refresh first when the token expires sooner than this")
	c.Flags().StringVar(&o.RefreshToken, "refresh-token", "", "refresh token to use instead of the stored one (prefer TWAUTH_REFRESH_TOKEN)")
	return c
}

// tokenRun answers from the store alone while the token is fresh: no lock,
// no network, and Config.toml read only as far as the client id needs.
func tokenRun(ctx context.Context, o *TokenOptions) error {
	f := o.f
	st, err := f.openStore()
	if err != nil {
		return err
	}
	t, cache, snap, err := f.resolve(st, targetOptions{use: resolve.ExistingLogin, seeded: o.RefreshToken != "", peek: true})
	if err != nil {
		return err
	}
	now := f.now()
	e := snap.Clients[t.Key]
	if !app.Fresh(e, now, o.MinValid) {
		if e == nil && o.RefreshToken == "" {
			return &store.NoRefreshTokenError{ClientID: t.ClientID.Value}
		}
		r, err := f.runner(t, st, cache)
		if err != nil {
			return err
		}
		res, err := r.Refresh(ctx, app.RefreshOptions{Seed: o.RefreshToken, MinValid: o.MinValid, WriteConfig: t.ConfigExists})
		if err != nil {
			return err
		}
		e = res.Entry
		if res.Refreshed && !app.Fresh(e, f.now(), o.MinValid) {
			// A server whose tokens live less than --min-valid (zitadel's
			// example OP: 5 minutes) would be asked on every call.
			f.warnf("the new access token is valid for only %s, not more than --min-valid %s: every twauth token will refresh; lower --min-valid",
				e.Expiry.Sub(f.now()).Round(time.Second), o.MinValid)
		}
	}
	if f.Global.JSON {
		return printJSON(f.Stdout, tokenJSON(e, false))
	}
	_, err = fmt.Fprintln(f.Stdout, e.AccessToken)
	return err
}

func (f *Factory) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}
