// Package cli is twauth's command line. Each command is built by a
// NewCmdX(f, runF) constructor in its own file, with its own options
// struct: flags and TWAUTH_* variables become options, the options and the
// store become a resolved target (internal/resolve), one flow of
// internal/app does the work and returns a result, and the command prints
// it. Exit codes and the hints that go with errors are chosen in one place
// (exit.go).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/opener"
	"github.com/twauth/twauth/internal/store"
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
	// Dir is the working directory; empty means os.Getwd.
	Dir string
}

// Factory is what every command gets: the outside world and the options
// every command shares.
type Factory struct {
	Deps
	Global *GlobalOptions
	// browser is login's --browser command.
	browser string
	// closers release what the command opened (an etcd connection).
	closers []func()
	// loaded is the snapshot openStore read of a file store, for the
	// resolution to reuse: the store is read once.
	loaded map[*store.Store]*store.File
}

// GlobalOptions are the flags every command has.
type GlobalOptions struct {
	Config, ClientID, ClientSecret, Account string
	AuthURL, TokenURL, RevokeURL, APIURL    string
	TokenKey, RefreshTokenKey               string
	ClientIDKey, ClientSecretKey, StoreArg  string
	JSON, Verbose                           bool
	HTTPTimeout, LockTimeout                time.Duration

	// flags records, for each flag given, how: "--name" or "TWAUTH_NAME".
	flags map[string]string
}

// from is how the flag name was given, "" when it was not.
func (g *GlobalOptions) from(name string) string { return g.flags[name] }

// Main runs twauth with the process's environment and returns the exit
// code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	interactive := false
	if f, ok := stderr.(*os.File); ok {
		interactive = term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
	}
	tuneGC(args)
	return Run(ctx, Deps{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: takeSecretEnv(), Interactive: interactive}, args)
}

// shortLivedHeap is the heap a short-lived command may reach before the
// collector runs.
const shortLivedHeap = 128 << 20

// tuneGC runs a short-lived command (every command but serve) with the
// collector off below shortLivedHeap: a refresh of a 1 MB Config.toml
// spends a third of its time in three collections of garbage the process
// is about to drop at exit (BENCHMARKS.md: 1 MB refresh 4.36× → 3.96× a
// 200-byte one; issue 12 holds it to 4×). A GOGC or GOMEMLIMIT the user
// set wins.
func tuneGC(args []string) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			if a == "serve" {
				return
			}
			break
		}
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(shortLivedHeap)
}

// secretEnv are the variables that hold secrets: twauth reads them, then
// removes them from its own environment, so that no process it starts (the
// browser, $BROWSER's script) inherits them (docs/design.md, "Security
// rules").
var secretEnv = []string{"TWAUTH_CLIENT_SECRET", "TWAUTH_REFRESH_TOKEN"}

// takeSecretEnv returns os.Getenv as it was, after removing secretEnv from
// the process environment.
func takeSecretEnv() func(string) string {
	kept := map[string]string{}
	for _, k := range secretEnv {
		if v, ok := os.LookupEnv(k); ok {
			kept[k] = v
			os.Unsetenv(k)
		}
	}
	return func(k string) string {
		if v, ok := kept[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
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
	if deps.Stdin == nil {
		deps.Stdin = strings.NewReader("")
	}
	root, f := newRoot(deps)
	defer func() {
		for _, c := range f.closers {
			c()
		}
	}()
	root.SetArgs(args)
	root.SetIn(deps.Stdin)
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code, msg := Explain(err, ctx)
	fmt.Fprintf(deps.Stderr, "twauth: %s\n", msg)
	return code
}

// NewRootCmd builds twauth's whole command tree.
func NewRootCmd(deps Deps) *cobra.Command {
	root, _ := newRoot(deps)
	return root
}

func newRoot(deps Deps) (*cobra.Command, *Factory) {
	f := &Factory{Deps: deps, Global: &GlobalOptions{flags: map[string]string{}}}
	g := f.Global
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
			// rather than "no client id".
			if fl := cmd.Flags().Lookup("client-id"); fl != nil && fl.Changed && fl.Value.String() == "" && cmd.Name() != "version" && cmd.Name() != "pkce" {
				return &usageError{"--client-id is empty (an unset shell variable?): pass the app's OAuth 2.0 Client ID, or leave the flag out to use TWAUTH_CLIENT_ID or clientId in Config.toml"}
			}
			cmd.Flags().Visit(func(fl *pflag.Flag) { g.flags[fl.Name] = "--" + fl.Name })
			return applyEnv(cmd, deps.Getenv, g.flags)
		},
	}
	// --version as gh and most Go CLIs take it. Not cobra's Version field:
	// its template machinery keeps 3 MB of otherwise dead code in the
	// binary (BENCHMARKS.md, binary size).
	showVersion := root.Flags().Bool("version", false, "print twauth's version, as twauth version does")
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return &cobraError{errors.New(msg)}
	}
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if *showVersion {
			_, err := fmt.Fprintln(deps.Stdout, Version())
			return err
		}
		return cmd.Help()
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &cobraError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.Config, "config", "", "Ballerina Config.toml `file` to read the client id from and write the token to (default: first file of BAL_CONFIG_FILES, else ./Config.toml)")
	pf.StringVar(&g.ClientID, "client-id", "", "OAuth 2.0 client id of the X app (default: clientId in Config.toml)")
	pf.StringVar(&g.Account, "account", "", "X account of the app to act for, @name or user id (default: the app's only account, else the one whose login wrote this Config.toml)")
	pf.StringVar(&g.ClientSecret, "client-secret", "", "client secret of a confidential app; visible to other users in the process list: prefer TWAUTH_CLIENT_SECRET or clientSecret in Config.toml")
	pf.StringVar(&g.AuthURL, "auth-url", "", "authorization endpoint (default "+oauth.DefaultAuthURL+")")
	pf.StringVar(&g.TokenURL, "token-url", "", "token endpoint (default "+oauth.DefaultTokenURL+")")
	pf.StringVar(&g.RevokeURL, "revoke-url", "", "revocation endpoint (default "+oauth.DefaultRevokeURL+")")
	pf.StringVar(&g.APIURL, "api-url", "", "X API base URL for /2/users/me (default "+oauth.DefaultAPIURL+")")
	pf.StringVar(&g.TokenKey, "token-key", "token", "Config.toml key for the access token; dotted paths reach tables: myorg.app.auth.token")
	pf.StringVar(&g.RefreshTokenKey, "refresh-token-key", "", "Config.toml key for the refresh token (default: none, the refresh token stays in the store)")
	pf.StringVar(&g.ClientIDKey, "client-id-key", "clientId", "Config.toml key holding the client id")
	pf.StringVar(&g.ClientSecretKey, "client-secret-key", "clientSecret", "Config.toml key holding the client secret")
	pf.StringVar(&g.StoreArg, "store", "", "where the tokens live: a file PATH, keyring: or keyring:SERVICE (the OS keyring), or etcd://HOST:PORT[,HOST:PORT…]/PREFIX (default <user config dir>/twauth/tokens.json, or the OS keyring a login found)")
	pf.BoolVar(&g.JSON, "json", false, "print machine-readable JSON on stdout")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "trace HTTP requests on stderr, secrets redacted")
	pf.DurationVar(&g.HTTPTimeout, "http-timeout", 30*time.Second, "timeout of each request to X")
	pf.DurationVar(&g.LockTimeout, "lock-timeout", 60*time.Second, "longest wait for another twauth holding the store or Config.toml lock")

	root.AddCommand(
		NewCmdLogin(f, nil),
		NewCmdToken(f, nil),
		NewCmdRefresh(f, nil),
		NewCmdStatus(f, nil),
		NewCmdRevoke(f, nil),
		NewCmdPKCE(f, nil),
		NewCmdURL(f, nil),
		NewCmdExchange(f, nil),
		NewCmdServe(f, nil),
		NewCmdVersion(f, nil),
	)
	// Made now rather than by Execute, so that the loop below holds it to
	// its arguments: `completion tcsh` is an error, not help.
	root.InitDefaultCompletionCmd()
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
	registerCompletions(root, f)
	return root, f
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

// EnvName is the environment variable of a flag: --client-id →
// TWAUTH_CLIENT_ID.
func EnvName(flag string) string {
	return "TWAUTH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// TWAUTH_* variable, and records in given that it came from there. A
// repeatable flag takes several values separated by blanks.
func applyEnv(cmd *cobra.Command, getenv func(string) string, given map[string]string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Name == "version" {
			return
		}
		name := EnvName(f.Name)
		v := getenv(name)
		if v == "" {
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
		given[f.Name] = name
	})
	return err
}

// splitScopes accepts scopes separated by spaces or commas.
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
}
