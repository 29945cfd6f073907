package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/oauth"
)

// addAuthFlags adds the flags of a new login. listens says whether the
// command serves the redirect (login) or only names it (url).
func addAuthFlags(c *cobra.Command, o *options, pkceMethod *string, listens bool) {
	f := c.Flags()
	redirectHelp := "redirect URI registered in the X app; repeat it to list fallbacks, the first with a free port wins (with --manual: the first is used) (default " + app.DefaultRedirectURI + ")"
	if !listens {
		redirectHelp = "redirect URI registered in the X app; if repeated, the first is used (default " + app.DefaultRedirectURI + ")"
	}
	f.StringArrayVar(&o.redirectURIs, "redirect-uri", nil, redirectHelp)
	f.StringVar(&o.scopes, "scopes", strings.Join(oauth.DefaultScopes, " "), "scopes to request, separated by spaces or commas")
	f.StringVar(pkceMethod, "pkce-method", "S256", "PKCE code_challenge_method: S256, or plain (insecure; only for servers without S256)")
}

const scopesHelp = `
X's documented scopes: ` + "tweet.read tweet.write tweet.moderate.write users.email users.read follows.read follows.write offline.access space.read mute.read mute.write like.read like.write list.read list.write block.read block.write bookmark.read bookmark.write dm.read dm.write media.write" + `.
offline.access is what brings a refresh token.`

func newLoginCmd(deps Deps, o *options) *cobra.Command {
	var (
		lo     app.LoginOptions
		method string
	)
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
		RunE: run(func(ctx context.Context) error {
			m, err := parseMethod(method)
			if err != nil {
				return err
			}
			if lo.Manual && lo.NoBrowser {
				return &app.UsageError{Msg: "--manual and --no-browser exclude each other: --manual already opens no browser"}
			}
			lo.PKCEMethod = m
			return newApp(deps, o).Login(ctx, lo)
		}),
	}
	addAuthFlags(c, o, &method, true)
	f := c.Flags()
	f.DurationVar(&lo.Timeout, "timeout", 5*time.Minute, "how long to wait for the redirect")
	f.BoolVar(&lo.NoBrowser, "no-browser", false, "print the URL and wait on the listener; open no browser")
	f.BoolVar(&lo.Manual, "manual", false, "no listener: print the URL, then read the redirect URL (or code) from stdin")
	f.StringVar(&o.browser, "browser", "", "command that opens the URL, which is passed as its last argument or replaces %s (default $BROWSER, else the system's opener)")
	f.StringVar(&lo.Issuer, "issuer", "", "issuer identifier of the authorization server; when set, an iss parameter on the callback must equal it (RFC 9207)")
	return c
}

func newTokenCmd(deps Deps, o *options) *cobra.Command {
	var to app.TokenOptions
	c := &cobra.Command{
		Use:   "token",
		Short: "Print a valid access token, refreshing it first when it expires soon",
		Long: `Print the stored access token and a newline on stdout, nothing else.

When the token expires within --min-valid it is refreshed first (the rotated
refresh token is saved before anything else, and Config.toml is updated when it
exists). Several twauth processes refreshing at once make one request between
them. It never opens a browser: with no usable token it exits 4.`,
		Example: `  curl -H "Authorization: Bearer $(twauth token)" https://api.x.com/2/users/me`,
		RunE: run(func(ctx context.Context) error {
			return newApp(deps, o).Token(ctx, to)
		}),
	}
	c.Flags().DurationVar(&to.MinValid, "min-valid", 5*time.Minute, "refresh first when the token expires sooner than this")
	c.Flags().StringVar(&to.RefreshToken, "refresh-token", "", "refresh token to use instead of the stored one (prefer TWAUTH_REFRESH_TOKEN)")
	return c
}

func newRefreshCmd(deps Deps, o *options) *cobra.Command {
	var ro app.RefreshOptions
	c := &cobra.Command{
		Use:   "refresh",
		Short: "Refresh the access token now and save the rotated refresh token",
		Long: `Use the refresh token now. X rotates it: the new one is saved to the store
(fsynced) before anything else, then the access token (and, with
--refresh-token-key, the refresh token) is written into Config.toml, which is
created when missing. --json prints the new set, refresh_token included, for a CI
job to save back.`,
		Example: `  TWAUTH_REFRESH_TOKEN="$SECRET" twauth refresh --json`,
		RunE: run(func(ctx context.Context) error {
			return newApp(deps, o).Refresh(ctx, ro)
		}),
	}
	c.Flags().StringVar(&ro.RefreshToken, "refresh-token", "", "refresh token to use instead of the stored one (prefer TWAUTH_REFRESH_TOKEN)")
	return c
}

func newStatusCmd(deps Deps, o *options) *cobra.Command {
	var verify bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the stored token: account, scopes, expiry, where it is kept",
		RunE: run(func(ctx context.Context) error {
			return newApp(deps, o).Status(ctx, verify)
		}),
	}
	c.Flags().BoolVar(&verify, "verify", false, "ask X (GET /2/users/me) whether the access token works")
	return c
}

func newRevokeCmd(deps Deps, o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke",
		Short: "Revoke the tokens at X and remove them from Config.toml and the store",
		RunE: run(func(ctx context.Context) error {
			return newApp(deps, o).Revoke(ctx)
		}),
	}
}

func newPKCECmd(deps Deps, o *options) *cobra.Command {
	var (
		method string
		length int
	)
	c := &cobra.Command{
		Use:   "pkce",
		Short: "Print a fresh PKCE code verifier and its challenge",
		Long:  "Print a code verifier (RFC 7636: 43 to 128 characters of A-Z a-z 0-9 - . _ ~,\nfrom a cryptographic random source) and its code challenge.",
		RunE: run(func(ctx context.Context) error {
			m, err := parseMethod(method)
			if err != nil {
				return err
			}
			return newApp(deps, o).PKCE(m, length)
		}),
	}
	c.Flags().StringVar(&method, "method", "S256", "code_challenge_method: S256 or plain")
	c.Flags().IntVar(&length, "length", 64, "verifier length, 43 to 128")
	return c
}

func newURLCmd(deps Deps, o *options) *cobra.Command {
	var method string
	c := &cobra.Command{
		Use:   "url",
		Short: "Print the authorization URL of a new login and keep it pending for 'twauth exchange'",
		Long: `Print the authorization URL of a new login on stdout. Its verifier, state,
redirect URI, client id and scopes are kept as a pending login (0600, beside the
store) for 10 minutes; finish it with 'twauth exchange REDIRECT_URL'.` + scopesHelp,
		RunE: run(func(ctx context.Context) error {
			m, err := parseMethod(method)
			if err != nil {
				return err
			}
			return newApp(deps, o).URL(ctx, m)
		}),
	}
	addAuthFlags(c, o, &method, false)
	return c
}

func newExchangeCmd(deps Deps, o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "exchange REDIRECT_URL|CODE",
		Short: "Finish a login started by 'twauth url' with the redirect URL or code",
		Long: `Finish the pending login that 'twauth url' started: pass the whole URL the
browser was redirected to (its state is checked), or just the code (it cannot
be). The tokens are saved exactly as 'twauth login' saves them. X's code expires
30 seconds after you approve.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(func(ctx context.Context) error {
				return newApp(deps, o).Exchange(ctx, args[0])
			})(cmd, args)
		},
	}
}

// version is set at build time by the Makefile
// (-ldflags "-X github.com/twauth/twauth/internal/cli.version=…").
var version = ""

func newVersionCmd(deps Deps, o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print twauth's version (--json: version, revision, modified, go)",
		RunE: run(func(ctx context.Context) error {
			if o.json {
				enc := json.NewEncoder(deps.Stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(readBuild())
			}
			_, err := fmt.Fprintln(deps.Stdout, Version())
			return err
		}),
	}
}

// buildInfo is what `twauth version --json` prints.
type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	// Modified is set only when the revision is known.
	Modified *bool  `json:"modified,omitempty"`
	Go       string `json:"go,omitempty"`
}

// readBuild describes this build: the version stamped by the Makefile or
// the module version, the VCS revision when known, and the Go version.
func readBuild() buildInfo {
	b := buildInfo{Version: version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "(unknown)"
		}
		return b
	}
	if b.Version == "" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	b.Go = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			m := s.Value == "true"
			b.Modified = &m
		}
	}
	return b
}

// Version is the one-line form: "twauth v1.2.3 (0123456789ab, modified) go1.26".
func Version() string {
	b := readBuild()
	out := "twauth " + b.Version
	if rev := b.Revision; rev != "" && !strings.Contains(b.Version, rev[:min(len(rev), 7)]) {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " (" + rev
		if b.Modified != nil && *b.Modified {
			out += ", modified"
		}
		out += ")"
	}
	if b.Go != "" {
		out += " " + b.Go
	}
	return out
}
