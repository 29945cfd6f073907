package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/resolve"
)

// StatusOptions are the options of `twauth status`.
type StatusOptions struct {
	f *Factory
	// Verify asks X whether it accepts the access token.
	Verify bool
}

// NewCmdStatus builds `twauth status`.
func NewCmdStatus(f *Factory, runF func(context.Context, *StatusOptions) error) *cobra.Command {
	o := &StatusOptions{f: f}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the stored token and what twauth acts on: app, Config.toml, keys, and where each came from",
		Long: `Show what is stored for the app (account, scopes, expiry), and what every other
command run here with the same flags would act on: the client id, the client
secret (whether one is set, never its value), the Config.toml and the keys in it,
each with where it came from (docs/design.md, "Resolution"). It says whether that
Config.toml holds the stored access token.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return statusRun(cmd.Context(), o)
		},
	}
	c.Flags().BoolVar(&o.Verify, "verify", false, "ask X (GET /2/users/me) whether the access token works")
	return c
}

func statusRun(ctx context.Context, o *StatusOptions) error {
	f := o.f
	st, err := f.openStore()
	if err != nil {
		return err
	}
	t, cache, _, err := f.resolve(st, targetOptions{use: resolve.ExistingLogin})
	if err != nil {
		return err
	}
	r, err := f.runner(t, st, cache)
	if err != nil {
		return err
	}
	s, verifyErr := r.Status(ctx, o.Verify)
	if s == nil {
		return verifyErr
	}
	e := s.Entry
	now := f.now()
	expired := !now.Before(e.Expiry)
	if f.Global.JSON {
		if err := printJSON(f.Stdout, StatusJSON{
			ClientID:         e.ClientID,
			ClientType:       app.ClientType(e.Confidential),
			Config:           t.ConfigPath,
			TokenKey:         t.TokenKey.Value,
			ConfigCurrent:    s.ConfigCurrent,
			ConfigState:      s.ConfigState,
			Store:            st.Where(),
			Username:         e.Username,
			Scope:            e.Scope,
			ExpiresAt:        e.Expiry.UTC().Format(time.RFC3339),
			ExpiresInSeconds: int64(e.Expiry.Sub(now).Seconds()),
			Expired:          expired,
			RefreshTokenHeld: e.RefreshToken != "",
			TokenURL:         e.TokenURL,
			Verified:         s.Verified,
			Resolved:         resolvedJSON(t),
		}); err != nil {
			return err
		}
		return verifyErr
	}
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k, v) }
	row("Client id", fmt.Sprintf("%s (%s client)", e.ClientID, app.ClientType(e.Confidential)))
	if e.Username != "" {
		row("Account", "@"+e.Username)
	} else {
		row("Account", "unknown (needs the users.read and tweet.read scopes)")
	}
	row("Config.toml", fmt.Sprintf("%s, key %s (%s)", t.ConfigPath, t.TokenKey.Value, s.ConfigState))
	row("Token store", st.Where())
	row("Scopes", e.Scope)
	if expired {
		row("Access token", "expired "+app.WhenText(e.Expiry, now))
	} else {
		row("Access token", "expires "+app.WhenText(e.Expiry, now))
	}
	if e.RefreshToken != "" {
		row("Refresh token", "held: twauth token and twauth refresh renew the access token")
	} else {
		row("Refresh token", "none: log in again when the access token expires")
	}
	if s.Verified != nil {
		if *s.Verified {
			row("Verified", "yes: X accepts the access token (GET /2/users/me)")
		} else {
			row("Verified", "no")
		}
	}
	b.WriteString("\nResolved (docs/design.md, \"Resolution\"):\n")
	from := func(k string, s resolve.Setting) {
		v := s.Value
		if v == "" {
			v = "none"
		}
		row("  "+k, fmt.Sprintf("%s (from %s)", v, s.From))
	}
	from("client id", t.ClientID)
	switch {
	case t.ClientSecret.Value != "":
		row("  secret", "set (from "+t.ClientSecret.From+")")
	default:
		row("  secret", "none: a public client")
	}
	if t.SecretNote != "" {
		row("", t.SecretNote)
	}
	row("  config", fmt.Sprintf("%s (%s)", t.ConfigPath, t.ConfigWhy))
	from("token key", t.TokenKey)
	from("refresh key", t.RefreshTokenKey)
	fmt.Fprint(f.Stdout, b.String())
	return verifyErr
}
