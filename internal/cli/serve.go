package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/twauth/twauth/internal/app"
	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/serve"
	"github.com/twauth/twauth/internal/store"
)

// ServeOptions are the options of `twauth serve`.
type ServeOptions struct {
	f        *Factory
	Listen   string
	MinValid time.Duration
	// Configure issues the program's local credentials and writes them
	// into Config.toml, then exits.
	Configure bool
	// The Config.toml keys --configure writes.
	RefreshURLKey, HandleKey, LocalClientIDKey, LocalClientSecretKey string
}

// DefaultServeListen is where `twauth serve` listens unless told.
const DefaultServeListen = "127.0.0.1:8766"

// NewCmdServe builds `twauth serve`.
func NewCmdServe(f *Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	o := &ServeOptions{f: f}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a loopback token endpoint that keeps a long-running Ballerina program's X token fresh",
		Long: `Serve a token endpoint on a loopback address for a program that runs for days:
its ballerina/oauth2 refresh grant (the X connector's OAuth2RefreshTokenGrantConfig)
asks twauth, which holds X's rotating refresh token, refreshes it through the same
locked, journalled rotation as twauth token, and answers with a valid X access token.
The program never sees X's refresh token or client secret: it holds a local client
id, secret and refresh-token handle that only this endpoint accepts.

Run 'twauth serve --configure' once: it issues the local credentials, keeps their
SHA-256 in the store, writes refreshUrl, refreshToken, localClientId and
localClientSecret into Config.toml (the keys are flags), and exits. Then run
'twauth serve' beside the program (a systemd user unit: see the README).

SIGTERM or SIGINT stops it gracefully: answers in flight finish, exit 0.`,
		Example: `  twauth serve --configure          # once, in the program's directory
  twauth serve &                     # then keep it running
  bal run`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return serveRun(cmd.Context(), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.Listen, "listen", DefaultServeListen, "loopback address to listen on")
	fl.DurationVar(&o.MinValid, "min-valid", serve.DefaultMinValid, "refresh at X first when the token expires sooner than this")
	fl.BoolVar(&o.Configure, "configure", false, "issue the program's local credentials, write them into Config.toml, and exit")
	fl.StringVar(&o.RefreshURLKey, "refresh-url-key", "refreshUrl", "with --configure: Config.toml key of the token endpoint's URL; dotted paths reach tables")
	fl.StringVar(&o.HandleKey, "handle-key", "refreshToken", "with --configure: Config.toml key of the local refresh-token handle")
	fl.StringVar(&o.LocalClientIDKey, "local-client-id-key", "localClientId", "with --configure: Config.toml key of the local client id")
	fl.StringVar(&o.LocalClientSecretKey, "local-client-secret-key", "localClientSecret", "with --configure: Config.toml key of the local client secret")
	return c
}

func serveRun(ctx context.Context, o *ServeOptions) error {
	f := o.f
	if err := serve.CheckListen(o.Listen); err != nil {
		return err
	}
	st, err := f.openStore()
	if err != nil {
		return err
	}
	t, cache, snap, err := f.resolve(st, targetOptions{use: resolve.ExistingLogin})
	if err != nil {
		return err
	}
	e := snap.Clients[t.Key]
	if e == nil {
		return &store.NoRefreshTokenError{ClientID: t.ClientID.Value}
	}
	if o.Configure {
		return serveConfigure(ctx, o, t, st, cache)
	}
	r, err := f.runner(t, st, cache)
	if err != nil {
		return err
	}
	if e.Serve == nil {
		return &serveNotConfiguredError{ClientID: t.ClientID.Value}
	}
	creds := serve.Credentials(*e.Serve)
	if err := creds.Validate(); err != nil {
		return &serveNotConfiguredError{ClientID: t.ClientID.Value, Err: err}
	}
	var handler slog.Handler = slog.NewTextHandler(f.Stderr, nil)
	if f.Global.JSON {
		handler = slog.NewJSONHandler(f.Stderr, nil)
	}
	log := slog.New(handler)
	h := serve.NewHandler(serve.Options{
		Source:      &storeSource{r: r, st: st, key: t.Key, now: f.now},
		Credentials: creds,
		MinValid:    o.MinValid,
		Now:         f.Now,
		Log:         log,
	})
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return &usageError{fmt.Sprintf("cannot listen on %s (%v): is another twauth serve running? Pass --listen with a free loopback port, and run twauth serve --configure again so the program's refreshUrl matches", o.Listen, err)}
	}
	who := t.ClientID.Value
	if e.Account() != "" {
		who += " (" + e.Account() + ")"
	}
	log.Info("serving X tokens", "app", who, "url", "http://"+ln.Addr().String()+"/oauth2/token", "store", st.Where())
	err = serve.Run(ctx, ln, h)
	log.Info("stopped")
	return err
}

// serveNotConfiguredError: serve has no local credentials to check.
type serveNotConfiguredError struct {
	ClientID string
	Err      error
}

func (e *serveNotConfiguredError) Error() string {
	msg := "no local credentials are issued for app " + e.ClientID
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

// serveConfigure issues the program's local credentials: their hashes go
// into the store first, then the values into Config.toml. Only local
// values are written; X's secret never lands in the program's file.
func serveConfigure(ctx context.Context, o *ServeOptions, t *resolve.Target, st *store.Store, cache *configCache) error {
	f := o.f
	keys := []string{o.RefreshURLKey, o.HandleKey, o.LocalClientIDKey, o.LocalClientSecretKey}
	for _, k := range keys {
		if k == "" || k == t.ClientIDKey || k == t.ClientSecretKey || k == t.TokenKey.Value {
			return &usageError{fmt.Sprintf("--configure would write key %q, which twauth reads as X's client id or secret or writes X's token into: pick other keys (--refresh-url-key, --handle-key, --local-client-id-key, --local-client-secret-key)", k)}
		}
	}
	if t.Conflict != nil {
		return t.Conflict
	}
	creds, secrets, err := serve.Issue()
	if err != nil {
		return err
	}
	values := map[string]string{
		o.RefreshURLKey:        "http://" + o.Listen + "/oauth2/token",
		o.HandleKey:            secrets.RefreshToken,
		o.LocalClientIDKey:     secrets.ClientID,
		o.LocalClientSecretKey: secrets.ClientSecret,
	}
	write := func(d *balconfig.Doc) error {
		for _, k := range keys {
			if err := d.Set(k, values[k]); err != nil {
				return err
			}
		}
		return nil
	}
	// Refuse what Config.toml cannot take before anything is issued.
	if cfg, ok := cache.docs[t.ConfigPath]; ok && cfg != nil {
		if err := write(cfg.Clone()); err != nil {
			return err
		}
	}
	sc := store.ServeCredentials(creds)
	if err := st.Update(ctx, func(file *store.File) error {
		e := file.Clients[t.Key]
		if e == nil {
			return &store.NoRefreshTokenError{ClientID: t.ClientID.Value}
		}
		e.Serve = &sc
		return nil
	}); err != nil {
		return err
	}
	if doc := cache.docs[t.ConfigPath]; doc != nil {
		err = balconfig.EditDoc(ctx, doc, f.Global.LockTimeout, write)
	} else {
		err = balconfig.Edit(ctx, t.ConfigPath, f.Global.LockTimeout, write)
	}
	if err != nil {
		return err
	}
	if f.Global.JSON {
		return printJSON(f.Stdout, ServeConfigureJSON{Config: t.ConfigPath, RefreshURL: values[o.RefreshURLKey], Keys: keys, ClientID: t.ClientID.Value})
	}
	f.say("Issued local credentials for app %s and wrote %s into %s.\nRun twauth serve (it listens on %s); the program's refresh grant asks it, never X.",
		t.ClientID.Value, joinAnd(keyWords(keys)), t.ConfigPath, o.Listen)
	return nil
}

// ServeConfigureJSON is what serve --configure --json prints: where the
// local credentials went, never their values.
type ServeConfigureJSON struct {
	ClientID   string   `json:"client_id"`
	Config     string   `json:"config"`
	RefreshURL string   `json:"refresh_url"`
	Keys       []string `json:"keys"`
}

// storeSource hands serve a valid X access token: from the store while it
// is fresh, else through the durable rotation (the same as twauth token),
// so `twauth token` in a cron job and `twauth serve` share one chain.
type storeSource struct {
	r   *app.Runner
	st  *store.Store
	key string
	now func() time.Time
}

func (s *storeSource) Token(ctx context.Context, minValid time.Duration) (serve.Token, error) {
	f, err := s.st.Load()
	if err != nil {
		return serve.Token{}, err
	}
	e := f.Clients[s.key]
	if !app.Fresh(e, s.now(), minValid) {
		res, err := s.r.Refresh(ctx, app.RefreshOptions{MinValid: minValid})
		if err != nil {
			return serve.Token{}, sourceError(err)
		}
		e = res.Entry
	}
	return serve.Token{AccessToken: e.AccessToken, Expiry: e.Expiry, Scope: e.Scope}, nil
}

// sourceError tells serve what the program can do: a chain that is gone
// needs a login (invalid_grant); anything else is worth a retry later.
func sourceError(err error) error {
	var (
		noRT *store.NoRefreshTokenError
		se   *oauth.ServerError
	)
	switch {
	case errors.As(err, &noRT), errors.As(err, &se) && se.Problem == oauth.ProblemRefreshRejected:
		return fmt.Errorf("%w: %w", serve.ErrLoginNeeded, err)
	case errors.As(err, &se) && se.RetryAfter > 0:
		return retryAfter{err, se.RetryAfter}
	}
	return err
}

// retryAfter carries X's Retry-After to the program.
type retryAfter struct {
	error
	d time.Duration
}

func (r retryAfter) RetryAfter() time.Duration { return r.d }
func (r retryAfter) Unwrap() error             { return r.error }
