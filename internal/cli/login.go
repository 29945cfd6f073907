package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
)

// LoginOptions are the options of `twauth login`.
type LoginOptions struct {
	f *Factory
	app.LoginOptions
	Method       string
	RedirectURIs []string
	Scopes       string
	Browser      string
}

var scopesHelp = `
X's documented scopes: ` + strings.Join(oauth.Scopes, " ") + `.
offline.access is what brings a refresh token.`

// addAuthFlags adds the flags of a new login. listens says whether the
// command serves the redirect (login) or only names it (url).
func addAuthFlags(c *cobra.Command, redirectURIs *[]string, scopes, method *string, listens bool) {
	fl := c.Flags()
	redirectHelp := "redirect URI registered in the X app; repeat it to list fallbacks, the first with a free port wins (with --manual: the first is used) (default " + app.DefaultRedirectURI + ")"
	if !listens {
		redirectHelp = "redirect URI registered in the X app; if repeated, the first is used (default " + app.DefaultRedirectURI + ")"
	}
	fl.StringArrayVar(redirectURIs, "redirect-uri", nil, redirectHelp)
	fl.StringVar(scopes, "scopes", strings.Join(oauth.DefaultScopes, " "), "scopes to request, separated by spaces or commas")
	fl.StringVar(method, "pkce-method", "S256", "PKCE code_challenge_method: S256, or plain (insecure; only for servers without S256)")
}

// NewCmdLogin builds `twauth login`.
func NewCmdLogin(f *Factory, runF func(context.Context, *LoginOptions) error) *cobra.Command {
	o := &LoginOptions{f: f}
	c := &cobra.Command{
		Use:   "login",
		Short: "Log in through the browser and write the access token into Config.toml",
		Long: `Log in to X with OAuth 2.0 Authorization Code + PKCE.

twauth starts a listener on the redirect URI (register it as a Callback URI in the
X developer portal, User authentication settings), prints the authorization URL,
opens it in a browser, waits for X to redirect back, exchanges the code at once,
saves the tokens in its store and writes the access token into Config.toml.

Where no browser can open (SSH, containers, CI) it prints the URL and waits, as
with --no-browser; --manual reads the redirect URL from stdin instead of
listening, for any registered redirect URI.` + scopesHelp,
		Example: `  twauth login --client-id "$CLIENT_ID"
  twauth login --config app/Config.toml --token-key myorg.x.auth.token
  twauth login --no-browser      # over SSH: prints the tunnel to run
  twauth login --manual          # paste the redirect URL`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := parseMethod(o.Method)
			if err != nil {
				return err
			}
			if o.Manual && o.NoBrowser {
				return &usageError{"--manual and --no-browser exclude each other: --manual already opens no browser"}
			}
			o.PKCEMethod = m
			o.LoginOptions.RedirectURIs = o.RedirectURIs
			o.LoginOptions.Scopes = splitScopes(o.Scopes)
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return loginRun(cmd.Context(), o)
		},
	}
	addAuthFlags(c, &o.RedirectURIs, &o.Scopes, &o.Method, true)
	fl := c.Flags()
	fl.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the redirect")
	fl.BoolVar(&o.NoBrowser, "no-browser", false, "print the URL and wait on the listener; open no browser")
	fl.BoolVar(&o.Manual, "manual", false, "no listener: print the URL, then read the redirect URL (or code) from stdin")
	fl.StringVar(&o.Browser, "browser", "", "command that opens the URL, which is passed as its last argument or replaces %s (default $BROWSER, else the system's opener)")
	fl.StringVar(&o.Listen, "listen", "", "local address for the listener instead of the redirect URI's host, e.g. 0.0.0.0:8765 inside a container published with -p 127.0.0.1:8765:8765; the redirect URI sent to X is unchanged")
	fl.StringVar(&o.Issuer, "issuer", "", "issuer identifier of the authorization server; when set, an iss parameter on the callback must equal it (RFC 9207)")
	return c
}

func parseMethod(s string) (pkce.Method, error) {
	m, err := pkce.ParseMethod(s)
	if err != nil {
		return "", &usageError{err.Error()}
	}
	return m, nil
}

func loginRun(ctx context.Context, o *LoginOptions) error {
	f := o.f
	st, err := f.openStoreFor(true)
	if err != nil {
		return err
	}
	t, cache, _, err := f.resolve(st, targetOptions{use: resolve.NewLogin})
	if err != nil {
		return err
	}
	r, err := f.runnerWithBrowser(t, st, cache, o.Browser)
	if err != nil {
		return err
	}
	res, err := r.Login(ctx, o.LoginOptions)
	if err != nil {
		return err
	}
	return f.loginSummary(res)
}

// runnerWithBrowser is runner with the --browser command.
func (f *Factory) runnerWithBrowser(t *resolve.Target, st *store.Store, cache *configCache, browser string) (*app.Runner, error) {
	f.browser = browser
	return f.runner(t, st, cache)
}

// loginSummary prints what a login saved: JSON on stdout, prose on stderr.
func (f *Factory) loginSummary(res *app.LoggedIn) error {
	e := res.Entry
	if f.Global.JSON {
		return printJSON(f.Stdout, LoginJSON{
			ClientID:        e.ClientID,
			ClientType:      app.ClientType(e.Confidential),
			Username:        e.Username,
			Config:          res.ConfigPath,
			TokenKey:        res.TokenKey,
			RefreshTokenKey: res.RefreshTokenKey,
			Store:           res.StorePath,
			Scope:           e.Scope,
			ExpiresAt:       e.Expiry.UTC().Format(time.RFC3339),
		})
	}
	who := "Logged in to X"
	if e.Username != "" {
		who += " as @" + e.Username
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (app %s, %s client).\n", who, e.ClientID, app.ClientType(e.Confidential))
	fmt.Fprintf(&b, "  access token   %s, key %s\n", res.ConfigPath, res.TokenKey)
	fmt.Fprintf(&b, "  expires        %s\n", app.WhenText(e.Expiry, f.now()))
	if e.RefreshToken != "" {
		where := res.StorePath
		if res.RefreshTokenKey != "" {
			where += " and " + res.ConfigPath + ", key " + res.RefreshTokenKey
		}
		fmt.Fprintf(&b, "  refresh token  %s (twauth token and twauth refresh renew the access token)\n", where)
	} else {
		if oauth.OfflineGranted(e.Scope) {
			fmt.Fprintf(&b, "  refresh token  none (the server issued no refresh token): log in again when the access token expires\n")
		} else {
			fmt.Fprintf(&b, "  refresh token  none (no offline.access scope): log in again when the access token expires\n")
		}
	}
	fmt.Fprintf(&b, "  scopes         %s", e.Scope)
	f.say("%s", b.String())
	return nil
}
