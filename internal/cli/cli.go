// Package cli is twauth's command line: cobra commands that turn flags and
// TWAUTH_* environment variables into app.Settings, call one app method,
// and map the error to an exit code. It holds no logic of its own.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/opener"
	"github.com/twauth/twauth/internal/pkce"
)

// Exit codes (DESIGN.md, "Exit codes").
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitAuth        = 3
	ExitLoginNeeded = 4
	ExitInterrupted = 130
)

// Deps is the outside world of one run; zero fields mean the real thing.
type Deps struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	Transport      http.RoundTripper
	// Open replaces the browser (tests pass an HTTP "browser").
	Open        opener.Func
	Interactive bool
	GOOS        string
	Retry       oauth.RetryPolicy
}

// Main runs twauth with the process's environment and returns the exit
// code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	interactive := false
	if f, ok := stderr.(*os.File); ok {
		interactive = term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
	}
	return Run(ctx, Deps{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, Interactive: interactive}, args)
}

// Run runs twauth with deps and returns the exit code.
func Run(ctx context.Context, deps Deps, args []string) int {
	if deps.Getenv == nil {
		deps.Getenv = func(string) string { return "" }
	}
	if deps.Stdout == nil {
		deps.Stdout = io.Discard
	}
	if deps.Stderr == nil {
		deps.Stderr = io.Discard
	}
	root := newRootCmd(deps, args)
	root.SetArgs(args)
	root.SetIn(deps.Stdin)
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err, ctx)
	msg := err.Error()
	if code == ExitInterrupted {
		msg = "interrupted; nothing was saved"
	}
	var ce *cobraError
	if errors.As(err, &ce) {
		msg += "\nRun 'twauth --help' for usage."
	}
	fmt.Fprintf(deps.Stderr, "twauth: %s\n", msg)
	return code
}

// runError marks errors that come from a command's work, as opposed to
// cobra's own (unknown command, bad arguments), which are usage errors.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// cobraError is a usage error found by cobra or pflag.
type cobraError struct{ err error }

func (e *cobraError) Error() string { return e.err.Error() }
func (e *cobraError) Unwrap() error { return e.err }

func exitCode(err error, ctx context.Context) int {
	var re *runError
	if !errors.As(err, &re) {
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ExitInterrupted
	}
	var coder interface{ ExitCode() int }
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return ExitFailure
}

// options collects the flag values that become app.Settings.
type options struct {
	config, clientID, clientSecret      string
	redirectURIs                        []string
	scopes                              string
	authURL, tokenURL, revokeURL        string
	apiURL                              string
	tokenKey, refreshTokenKey           string
	clientIDKey, clientSecretKey, store string
	browser                             string
	httpTimeout, lockTimeout            time.Duration
	json, verbose                       bool
	// Whether --token-key / --refresh-token-key were given (flag or
	// environment), as opposed to defaulted.
	tokenKeySet, refreshTokenKeySet bool
}

func (o *options) settings() app.Settings {
	return app.Settings{
		ConfigPath:         o.config,
		ClientID:           strings.TrimSpace(o.clientID),
		ClientSecret:       o.clientSecret,
		RedirectURIs:       o.redirectURIs,
		Scopes:             splitScopes(o.scopes),
		AuthURL:            o.authURL,
		TokenURL:           o.tokenURL,
		RevokeURL:          o.revokeURL,
		APIURL:             o.apiURL,
		TokenKey:           o.tokenKey,
		RefreshTokenKey:    o.refreshTokenKey,
		TokenKeySet:        o.tokenKeySet,
		RefreshTokenKeySet: o.refreshTokenKeySet,
		ClientIDKey:        o.clientIDKey,
		ClientSecretKey:    o.clientSecretKey,
		StorePath:          o.store,
		Browser:            o.browser,
		HTTPTimeout:        o.httpTimeout,
		LockTimeout:        o.lockTimeout,
		JSON:               o.json,
		Verbose:            o.verbose,
	}
}

// splitScopes accepts scopes separated by spaces or commas.
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
}

// newRootCmd builds the command tree for args. When args start with the
// name of one of twauth's commands, only that command is built, with no
// completion command: its run, its errors and its --help are the same, and
// `twauth token` starts without building eight commands it does not run.
// Anything else (no command, help, completion, a typo to suggest a command
// for) gets the whole tree.
func newRootCmd(deps Deps, args []string) *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:   "twauth",
		Short: "OAuth 2.0 PKCE tokens for the X API, written into a Ballerina Config.toml",
		Long: `twauth runs X's OAuth 2.0 Authorization Code flow with PKCE and writes the access
token into the Config.toml of a Ballerina program; it keeps the refresh token in
its own store and renews the access token for scripts and CI.

  twauth login                       log in through the browser
  twauth token                       print a valid access token (refreshing if needed)
  twauth refresh / status / revoke   manage the stored token

Every flag can also be set as an environment variable TWAUTH_<FLAG>, e.g.
--client-id as TWAUTH_CLIENT_ID. A flag wins over the environment, which wins over
the clientId / clientSecret keys of Config.toml.

Exit codes: 0 ok, 1 failure (network, server), 2 usage or configuration error,
3 authorization failed, 4 login needed, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// `--client-id "$X_CLIENT_ID"` with the variable unset: say so
			// rather than "no client id: pass --client-id".
			if f := cmd.Flags().Lookup("client-id"); f != nil && f.Changed && f.Value.String() == "" && usesClientID(cmd.Name()) {
				return &app.UsageError{Msg: "--client-id is empty (an unset shell variable?): pass the app's OAuth 2.0 Client ID, or leave the flag out to use TWAUTH_CLIENT_ID or clientId in Config.toml"}
			}
			if err := applyEnv(cmd, deps.Getenv); err != nil {
				return err
			}
			o.tokenKeySet = cmd.Flags().Changed("token-key")
			o.refreshTokenKeySet = cmd.Flags().Changed("refresh-token-key")
			return nil
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cobraError{err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&o.config, "config", "", "Ballerina Config.toml `file` to read the client id from and write the token to (default: first file of BAL_CONFIG_FILES, else ./Config.toml)")
	pf.StringVar(&o.clientID, "client-id", "", "OAuth 2.0 client id of the X app (default: clientId in Config.toml)")
	pf.StringVar(&o.clientSecret, "client-secret", "", "client secret of a confidential app; visible to other users in the process list: prefer TWAUTH_CLIENT_SECRET or clientSecret in Config.toml")
	pf.StringVar(&o.authURL, "auth-url", "", "authorization endpoint (default "+oauth.DefaultAuthURL+")")
	pf.StringVar(&o.tokenURL, "token-url", "", "token endpoint (default "+oauth.DefaultTokenURL+")")
	pf.StringVar(&o.revokeURL, "revoke-url", "", "revocation endpoint (default "+oauth.DefaultRevokeURL+")")
	pf.StringVar(&o.apiURL, "api-url", "", "X API base URL for /2/users/me (default "+oauth.DefaultAPIURL+")")
	pf.StringVar(&o.tokenKey, "token-key", "token", "Config.toml key for the access token; dotted paths reach tables: myorg.app.auth.token")
	pf.StringVar(&o.refreshTokenKey, "refresh-token-key", "", "Config.toml key for the refresh token (default: none, the refresh token stays in the store)")
	pf.StringVar(&o.clientIDKey, "client-id-key", "clientId", "Config.toml key holding the client id")
	pf.StringVar(&o.clientSecretKey, "client-secret-key", "clientSecret", "Config.toml key holding the client secret")
	pf.StringVar(&o.store, "store", "", "twauth's token store (default <user config dir>/twauth/tokens.json)")
	pf.BoolVar(&o.json, "json", false, "print machine-readable JSON on stdout")
	pf.BoolVarP(&o.verbose, "verbose", "v", false, "trace HTTP requests on stderr, secrets redacted")
	pf.DurationVar(&o.httpTimeout, "http-timeout", 30*time.Second, "timeout of each request to X")
	pf.DurationVar(&o.lockTimeout, "lock-timeout", 60*time.Second, "longest wait for another twauth holding the store or Config.toml lock")

	commands := []struct {
		name string
		make func() *cobra.Command
	}{
		{"login", func() *cobra.Command { return newLoginCmd(deps, o) }},
		{"token", func() *cobra.Command { return newTokenCmd(deps, o) }},
		{"refresh", func() *cobra.Command { return newRefreshCmd(deps, o) }},
		{"status", func() *cobra.Command { return newStatusCmd(deps, o) }},
		{"revoke", func() *cobra.Command { return newRevokeCmd(deps, o) }},
		{"pkce", func() *cobra.Command { return newPKCECmd(deps, o) }},
		{"url", func() *cobra.Command { return newURLCmd(deps, o) }},
		{"exchange", func() *cobra.Command { return newExchangeCmd(deps, o) }},
		{"version", func() *cobra.Command { return newVersionCmd(deps, o) }},
	}
	only := -1
	for i, c := range commands {
		if len(args) > 0 && args[0] == c.name {
			only = i
		}
	}
	if only >= 0 {
		root.CompletionOptions.DisableDefaultCmd = true
		root.AddCommand(commands[only].make())
	} else {
		for _, c := range commands {
			root.AddCommand(c.make())
		}
		// Made now rather than by Execute, so that the loop below holds
		// it to its arguments: `completion tcsh` is an error, not help.
		root.InitDefaultCompletionCmd()
	}
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		if c.Name() == "completion" && !c.Runnable() {
			// cobra shows help for a command that cannot run, whatever its
			// arguments: runnable, it checks them (an unknown shell is a
			// usage error) and shows help only when given none.
			c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
		}
		wrapArgs(c)
	}
	return root
}

// usesClientID reports whether the command named acts for an app.
func usesClientID(command string) bool {
	switch command {
	case "login", "token", "refresh", "status", "revoke", "url", "exchange":
		return true
	}
	return false
}

// wrapArgs marks argument errors as usage errors.
func wrapArgs(c *cobra.Command) {
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &cobraError{err}
		}
		return nil
	}
}

// newApp builds the app for a command run.
func newApp(deps Deps, o *options) *app.App {
	return app.New(app.Env{
		Stdin:       deps.Stdin,
		Stdout:      deps.Stdout,
		Stderr:      deps.Stderr,
		Getenv:      deps.Getenv,
		Now:         deps.Now,
		Transport:   deps.Transport,
		Open:        deps.Open,
		Interactive: deps.Interactive,
		GOOS:        deps.GOOS,
		Retry:       deps.Retry,
	}, o.settings())
}

// run wraps a command's work so its errors keep their own exit codes.
func run(f func(ctx context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := f(cmd.Context()); err != nil {
			return &runError{err}
		}
		return nil
	}
}

// EnvName is the environment variable of a flag: --client-id →
// TWAUTH_CLIENT_ID.
func EnvName(flag string) string {
	return "TWAUTH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// TWAUTH_* variable. A repeatable flag takes several values separated by
// blanks.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(getenv, name)
		if !ok {
			return
		}
		values := []string{v}
		if f.Value.Type() == "stringArray" {
			values = strings.Fields(v)
		}
		if f.Value.Type() == "bool" {
			if _, perr := strconv.ParseBool(v); perr != nil {
				err = &cobraError{fmt.Errorf("%s=%q: want true or false", name, v)}
				return
			}
		}
		for _, x := range values {
			// Through the flag set, so the flag counts as given.
			if serr := cmd.Flags().Set(f.Name, x); serr != nil {
				err = &cobraError{fmt.Errorf("%s=%q: %v", name, v, serr)}
				return
			}
		}
	})
	return err
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func parseMethod(s string) (pkce.Method, error) {
	m, err := pkce.ParseMethod(s)
	if err != nil {
		return "", &app.UsageError{Msg: err.Error()}
	}
	return m, nil
}
