package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// StatusOptions are the options of `twauth status`.
type StatusOptions struct {
	f *Factory
	// Verify asks X whether it accepts the access token.
	Verify bool
	// All lists every app and account of the store.
	All bool
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
	c.Flags().BoolVar(&o.All, "all", false, "list every app and account in the store: expiry, and where each token goes")
	return c
}

func statusRun(ctx context.Context, o *StatusOptions) error {
	f := o.f
	st, err := f.openStore()
	if err != nil {
		return err
	}
	if o.All {
		if o.Verify {
			return &usageError{"--all and --verify exclude each other: verify one account at a time (--client-id, --account)"}
		}
		return statusAll(f, st)
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
	if n := len(snapAccounts(st, e.ClientID)); n > 1 {
		row("Accounts", fmt.Sprintf("%d stored for this app (twauth status --all lists them; --account picks one)", n))
	}
	if e.Username != "" {
		row("Account", "@"+e.Username)
	} else {
		row("Account", "unknown (needs the users.read and tweet.read scopes)")
	}
	row("Config.toml", fmt.Sprintf("%s, key %s (%s)", t.ConfigPath, t.TokenKey.Value, s.ConfigState))
	row("Token store", st.Where())
	if lh, ok := st.Backend.(interface {
		LockHolder(context.Context) (string, error)
	}); ok {
		if h, err := lh.LockHolder(ctx); err == nil && h != "" {
			row("Lock", "held by "+h)
		} else if err == nil {
			row("Lock", "free")
		}
	}
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
		var ne *oauth.NetworkError
		switch {
		case *s.Verified:
			row("Verified", "yes: X accepts the access token (GET /2/users/me)")
		case errors.As(verifyErr, &ne):
			row("Verified", "unknown: X could not be reached")
		default:
			row("Verified", "no")
		}
	}
	b.WriteString("\nResolved (docs/design.md, \"Resolution\"):\n")
	from := func(k string, s resolve.Setting) {
		v := s.Value
		if v == "" {
			v = "none"
		}
		row("  "+k, fmt.Sprintf("%s (%s)", v, origin(s.From)))
	}
	from("client id", t.ClientID)
	if t.Account.Value != "" {
		from("account", t.Account)
	}
	switch {
	case t.ClientSecret.Value != "":
		row("  secret", "set ("+origin(t.ClientSecret.From)+")")
	case e.Confidential:
		row("  secret", "none, but the app logged in as a confidential client: a refresh needs TWAUTH_CLIENT_SECRET or clientSecret")
	default:
		row("  secret", "none: a public client")
	}
	if t.SecretNote != "" {
		row("", t.SecretNote)
	}
	row("  config", fmt.Sprintf("%s (%s)", t.ConfigPath, origin(t.ConfigWhy)))
	from("token key", t.TokenKey)
	from("refresh key", t.RefreshTokenKey)
	fmt.Fprint(f.Stdout, b.String())
	return verifyErr
}

// AccountJSON is one row of status --all --json.
type AccountJSON struct {
	ClientID         string `json:"client_id"`
	ClientType       string `json:"client_type"`
	UserID           string `json:"user_id,omitempty"`
	Username         string `json:"username,omitempty"`
	ExpiresAt        string `json:"expires_at"`
	Expired          bool   `json:"expired"`
	RefreshTokenHeld bool   `json:"refresh_token_held"`
	Config           string `json:"config,omitempty"`
	TokenKey         string `json:"token_key,omitempty"`
}

// statusAll lists every app and account in the store.
func statusAll(f *Factory, st *store.Store) error {
	snap, err := st.Load()
	if err != nil {
		return err
	}
	now := f.now()
	rows := []AccountJSON{}
	for _, id := range snap.ClientIDs() {
		for _, e := range snap.Accounts(id) {
			uid := e.UserID
			if strings.HasPrefix(uid, "@") {
				uid = "" // known by name only (a store from before accounts)
			}
			r := AccountJSON{ClientID: id, ClientType: app.ClientType(e.Confidential), UserID: uid, Username: e.Username,
				ExpiresAt: e.Expiry.UTC().Format(time.RFC3339), Expired: !now.Before(e.Expiry), RefreshTokenHeld: e.RefreshToken != ""}
			if e.Config != nil {
				r.Config, r.TokenKey = e.Config.Path, e.Config.TokenKey
			}
			rows = append(rows, r)
		}
	}
	if f.Global.JSON {
		return printJSON(f.Stdout, rows)
	}
	if len(rows) == 0 {
		f.say("No app is stored in %s.", st.Where())
		return nil
	}
	var b strings.Builder
	for _, r := range rows {
		who := "account unknown"
		if r.Username != "" {
			who = "@" + r.Username
		}
		exp := "expires " + app.WhenText(mustTime(r.ExpiresAt), now)
		if r.Expired {
			exp = "expired " + app.WhenText(mustTime(r.ExpiresAt), now)
		}
		rt := "refresh token held"
		if !r.RefreshTokenHeld {
			rt = "no refresh token"
		}
		fmt.Fprintf(&b, "%s  %s (%s client)\n  %s; %s\n", r.ClientID, who, r.ClientType, exp, rt)
		if r.Config != "" {
			fmt.Fprintf(&b, "  token goes to %s, key %s\n", r.Config, r.TokenKey)
		}
	}
	fmt.Fprintf(&b, "Store: %s\n", st.Where())
	_, err = fmt.Fprint(f.Stdout, b.String())
	return err
}

func mustTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

func snapAccounts(st *store.Store, clientID string) []*store.Entry {
	f, err := st.Load()
	if err != nil {
		return nil
	}
	return f.Accounts(clientID)
}

// origin words where a value came from for the status report: "from
// --client-id", "from Config.toml key clientId", "recorded by the login
// …", "default".
func origin(from string) string {
	switch {
	case strings.HasPrefix(from, "--"), strings.HasPrefix(from, "TWAUTH_"), strings.Contains(from, " key "),
		strings.HasPrefix(from, "the first file"), strings.HasPrefix(from, "the pending"):
		return "from " + from
	}
	return from
}
