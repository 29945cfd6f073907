package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// RefreshOptions are the options of `twauth refresh`.
type RefreshOptions struct {
	f *Factory
	// RefreshToken, when set, is spent instead of the stored one (a CI
	// secret).
	RefreshToken string
}

// NewCmdRefresh builds `twauth refresh`.
func NewCmdRefresh(f *Factory, runF func(context.Context, *RefreshOptions) error) *cobra.Command {
	o := &RefreshOptions{f: f}
	c := &cobra.Command{
		Use:   "refresh",
		Short: "Refresh the access token now and save the rotated refresh token",
		Long: `Use the refresh token now. X rotates it: the new one is saved to the store
(fsynced) before anything else, then the access token (and, with
--refresh-token-key, the refresh token) is written into Config.toml, which is
created when missing. --json prints the new set, refresh_token included, for a CI
job to save back.`,
		Example: `  TWAUTH_REFRESH_TOKEN="$SECRET" twauth refresh --json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return refreshRun(cmd.Context(), o)
		},
	}
	c.Flags().StringVar(&o.RefreshToken, "refresh-token", "", "refresh token to use instead of the stored one (prefer TWAUTH_REFRESH_TOKEN)")
	return c
}

func refreshRun(ctx context.Context, o *RefreshOptions) error {
	f := o.f
	st, err := f.openStore()
	if err != nil {
		return err
	}
	t, cache, _, err := f.resolve(st, targetOptions{use: resolve.ExistingLogin, seeded: o.RefreshToken != ""})
	if err != nil {
		return err
	}
	r, err := f.runner(t, st, cache)
	if err != nil {
		return err
	}
	res, err := r.Refresh(ctx, app.RefreshOptions{Seed: o.RefreshToken, WriteConfig: true})
	if err != nil {
		var save *store.SaveError
		if errors.As(err, &save) && res != nil && f.Global.JSON {
			// The store could not take the new refresh token: the output
			// still hands it over, so it is not lost.
			_ = printJSON(f.Stdout, tokenJSON(res.Entry, true))
		}
		var notWritten *app.ConfigNotWrittenError
		if errors.As(err, &notWritten) && res != nil && f.Global.JSON {
			_ = printJSON(f.Stdout, tokenJSON(res.Entry, true))
		}
		return err
	}
	e := res.Entry
	if f.Global.JSON {
		return printJSON(f.Stdout, tokenJSON(e, true))
	}
	where := fmt.Sprintf("%s, key %s", t.ConfigPath, t.TokenKey.Value)
	if e.Config != nil && e.Config.RefreshTokenKey != "" {
		where += " (refresh token: key " + e.Config.RefreshTokenKey + ")"
	}
	f.say("Refreshed the token of app %s: it expires %s. Saved to %s and %s.", e.ClientID, app.WhenText(e.Expiry, f.now()), st.Where(), where)
	return nil
}
