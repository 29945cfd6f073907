// Package app carries out twauth's commands: it ties the PKCE pair, the
// loopback listener, the browser, X's endpoints, the token store and the
// Config.toml editor together. It knows nothing of cobra: internal/cli turns
// flags into Settings and calls one method per command.
package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/opener"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/wirelog"
)

// Env is the outside world as twauth sees it. Tests replace every part.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment (BAL_CONFIG_FILES, SSH_CONNECTION, …).
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Transport sends HTTP requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Open opens a URL in a browser; nil means the --browser command,
	// $BROWSER, or the system opener.
	Open opener.Func
	// Interactive reports that stderr is a terminal: the wait shows an
	// updating line.
	Interactive bool
	// GOOS is runtime.GOOS unless a test says otherwise.
	GOOS string
	// Retry overrides the refresh retry policy (tests).
	Retry oauth.RetryPolicy
}

// Settings are the resolved flags and environment (DESIGN.md, "Settings").
type Settings struct {
	// ConfigPath is --config / TWAUTH_CONFIG; empty means BAL_CONFIG_FILES
	// or ./Config.toml.
	ConfigPath   string
	ClientID     string
	ClientSecret string
	RedirectURIs []string
	Scopes       []string

	AuthURL, TokenURL, RevokeURL, APIURL string

	TokenKey, RefreshTokenKey, ClientIDKey, ClientSecretKey string
	// TokenKeySet and RefreshTokenKeySet report that the keys were given
	// (flag or environment): otherwise the keys a login recorded for this
	// Config.toml are used, so a refresh updates the refresh token where
	// the login put it.
	TokenKeySet, RefreshTokenKeySet bool

	StorePath   string
	Browser     string
	HTTPTimeout time.Duration
	LockTimeout time.Duration
	JSON        bool
	Verbose     bool
}

// App runs one command.
type App struct {
	env Env
	s   Settings

	cfgPath   string
	doc       *balconfig.Doc
	docExists bool
	store     *store.Store
	client    *oauth.Client
	// secretNote explains why a secret in Config.toml was not used.
	secretNote string
	warned     map[string]bool
	// followRecorded: a command that works on an existing login (token,
	// refresh, status, revoke) uses the Config.toml that login recorded
	// when none is named and there is none in the working directory.
	followRecorded bool
}

// New returns an App for one command.
func New(env Env, s Settings) *App {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.GOOS == "" {
		env.GOOS = runtime.GOOS
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	// The browser command, the progress line and the listener's reports
	// write to stderr from their own goroutines.
	env.Stderr = &syncWriter{w: env.Stderr}
	if s.TokenKey == "" {
		s.TokenKey = "token"
	}
	if s.ClientIDKey == "" {
		s.ClientIDKey = "clientId"
	}
	if s.ClientSecretKey == "" {
		s.ClientSecretKey = "clientSecret"
	}
	if len(s.RedirectURIs) == 0 {
		s.RedirectURIs = []string{DefaultRedirectURI}
	}
	if len(s.Scopes) == 0 {
		s.Scopes = oauth.DefaultScopes
	}
	if s.HTTPTimeout == 0 {
		s.HTTPTimeout = 30 * time.Second
	}
	if s.LockTimeout == 0 {
		s.LockTimeout = store.DefaultLockTimeout
	}
	return &App{env: env, s: s, warned: map[string]bool{}}
}

// DefaultRedirectURI is the callback twauth listens on unless told
// otherwise; register it in the X app's settings.
const DefaultRedirectURI = "http://127.0.0.1:8765/callback"

func (a *App) now() time.Time { return a.env.Now().UTC() }

// say writes a line of prose to stderr.
func (a *App) say(format string, args ...any) {
	fmt.Fprintf(a.env.Stderr, format+"\n", args...)
}

// warn writes a warning once per text.
func (a *App) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if a.warned[msg] {
		return
	}
	a.warned[msg] = true
	fmt.Fprintln(a.env.Stderr, "twauth: warning: "+msg)
}

// UsageError is a usage or configuration error. Exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitCode is 2.
func (e *UsageError) ExitCode() int { return 2 }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// openStore sets up the token store and warns about loose permissions.
func (a *App) openStore() error {
	if a.store != nil {
		return nil
	}
	path := a.s.StorePath
	if path == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return usagef("%v", err)
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return usagef("store path %q: %v", path, err)
	}
	a.store = &store.Store{Path: abs, LockTimeout: a.s.LockTimeout}
	a.warnLoose(abs, "the token store")
	return nil
}

func (a *App) warnLoose(path, what string) {
	if mode, loose := store.LoosePermissions(path); loose {
		a.warn("%s %s is readable by other users (mode %04o): twauth sets it to 0600 on its next write (or: chmod 600 %s)", what, path, mode, path)
	}
}

// loadConfig reads Config.toml: its clientId and clientSecret are inputs,
// and its token keys are where the token goes. An invalid file is an error
// with its line and column.
func (a *App) loadConfig() error {
	if a.doc != nil {
		return nil
	}
	path := balconfig.Locate(a.s.ConfigPath, a.env.Getenv)
	abs, err := filepath.Abs(path)
	if err != nil {
		return usagef("Config.toml path %q: %v", path, err)
	}
	doc, exists, err := balconfig.Load(abs)
	if err != nil {
		return err
	}
	if !exists && a.followRecorded && a.s.ConfigPath == "" && a.env.Getenv("BAL_CONFIG_FILES") == "" {
		// No Config.toml named and none here: a cron job or a script run
		// from another directory means the program's file that login
		// wrote, not a new ./Config.toml.
		if rec, id := a.recordedConfig(); rec != "" && rec != abs {
			rdoc, rexists, err := balconfig.Load(rec)
			if err != nil {
				return err
			}
			// Only while it is still this app's file: one that names
			// another client id now belongs to someone else.
			cid, named, err := rdoc.Get(a.s.ClientIDKey)
			if rexists && err == nil && (!named || cid == id) {
				abs, doc, exists = rec, rdoc, true
			}
		}
	}
	a.cfgPath, a.doc, a.docExists = abs, doc, exists
	if exists {
		a.warnLoose(abs, "Config.toml")
	}
	return nil
}

// recordedConfig is the Config.toml recorded for the app in the store, and
// the app's client id: the client id given, else the only app stored. A
// store that cannot be read gives none here; the command reports it when it
// reads it.
func (a *App) recordedConfig() (path, clientID string) {
	if err := a.openStore(); err != nil {
		return "", ""
	}
	f, err := a.store.Load()
	if err != nil {
		return "", ""
	}
	id := a.s.ClientID
	if id == "" {
		ids := f.ClientIDs()
		if len(ids) != 1 {
			return "", ""
		}
		id = ids[0]
	}
	if e := f.Clients[id]; e != nil && e.Config != nil {
		return e.Config.Path, id
	}
	return "", ""
}

// resolveClient settles the client id and secret (DESIGN.md, "Settings"):
// flag or environment first, then Config.toml. A secret from Config.toml
// is used only with the client id of the same file.
func (a *App) resolveClient() (id, secret string, err error) {
	id, secret = a.s.ClientID, a.s.ClientSecret
	if a.doc == nil {
		return id, secret, nil
	}
	cfgID, hasID, err := a.doc.Get(a.s.ClientIDKey)
	if err != nil {
		return "", "", err
	}
	fromFile := false
	if id == "" && hasID && cfgID != "" {
		id, fromFile = cfgID, true
	}
	if secret == "" {
		cfgSecret, hasSecret, err := a.doc.Get(a.s.ClientSecretKey)
		if err != nil {
			return "", "", err
		}
		switch {
		case !hasSecret || cfgSecret == "":
		case fromFile || (hasID && cfgID == id):
			secret = cfgSecret
		case !hasID:
			a.secretNote = fmt.Sprintf("%s has %s but no %s, so twauth cannot tell which app it belongs to: it was not sent with client id %s", a.cfgPath, a.s.ClientSecretKey, a.s.ClientIDKey, id)
		default:
			a.secretNote = fmt.Sprintf("%s belongs to client id %s, not %s: it was not sent", a.s.ClientSecretKey, cfgID, id)
		}
	}
	return id, secret, nil
}

// setup loads Config.toml and the store and builds the OAuth client. With
// pickOnly, a missing client id is taken from the store when it holds
// exactly one app.
func (a *App) setup(pickOnly bool) error {
	if err := a.loadConfig(); err != nil {
		return err
	}
	if err := a.openStore(); err != nil {
		return err
	}
	id, secret, err := a.resolveClient()
	if err != nil {
		return err
	}
	if id == "" && pickOnly {
		f, err := a.store.Load()
		if err != nil {
			return err
		}
		if ids := f.ClientIDs(); len(ids) == 1 {
			id = ids[0]
		} else if len(ids) > 1 {
			return usagef("the token store holds several apps (%s): pick one with --client-id or TWAUTH_CLIENT_ID", strings.Join(ids, ", "))
		}
	}
	if id == "" {
		return usagef("no client id: pass --client-id, set TWAUTH_CLIENT_ID, or add %s to %s (the OAuth 2.0 Client ID from the X developer portal, Keys and tokens)", a.s.ClientIDKey, a.cfgPath)
	}
	a.client = a.newClient(id, secret)
	return nil
}

func (a *App) newClient(id, secret string) *oauth.Client {
	base := a.env.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if a.s.Verbose {
		base = &wirelog.Transport{Base: base, Out: a.env.Stderr}
	}
	return &oauth.Client{
		ClientID:     id,
		ClientSecret: secret,
		AuthURL:      a.s.AuthURL,
		TokenURL:     a.s.TokenURL,
		RevokeURL:    a.s.RevokeURL,
		APIURL:       a.s.APIURL,
		HTTP: &http.Client{
			Transport: base,
			Timeout:   a.s.HTTPTimeout,
			// An OAuth endpoint that redirects is misconfigured; following
			// it would resend credentials to another place.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Now:   a.env.Now,
		Retry: a.env.Retry,
	}
}

// tokenURL is the token endpoint in force.
func (a *App) tokenURL() string {
	if a.s.TokenURL != "" {
		return a.s.TokenURL
	}
	return oauth.DefaultTokenURL
}

// checkConfigKeys tries the edits a login or refresh will make on a copy
// of Config.toml, so a key path the file cannot take is reported before any
// network call, with nothing written.
func (a *App) checkConfigKeys(keys ...string) error {
	probe, err := balconfig.Parse(a.doc.Bytes())
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := probe.Set(k, "twauth-probe"); err != nil {
			return annotatePath(err, a.cfgPath)
		}
	}
	return nil
}

// annotatePath fills in the file name of an editor error.
func annotatePath(err error, path string) error {
	var be *balconfig.Error
	if errors.As(err, &be) && be.Path == "" {
		c := *be
		c.Path = path
		return &c
	}
	return err
}

// gitWarning warns once when Config.toml, which holds a token, would be
// committed.
func (a *App) gitWarning() {
	if w := balconfig.GitWarning(a.cfgPath); w != "" {
		a.warn("%s", w)
	}
}

// adoptRecordedKeys makes the keys recorded by the login that wrote e the
// keys in force, unless they were given explicitly.
func (a *App) adoptRecordedKeys(e *store.Entry) {
	if e == nil || e.Config == nil || e.Config.Path != a.cfgPath {
		return
	}
	if !a.s.TokenKeySet && e.Config.TokenKey != "" {
		a.s.TokenKey = e.Config.TokenKey
	}
	if !a.s.RefreshTokenKeySet {
		a.s.RefreshTokenKey = e.Config.RefreshTokenKey
	}
}

// whenText renders an expiry as "2026-12-01 13:20:00 UTC (in 1h59m)".
func whenText(t, now time.Time) string {
	d := t.Sub(now)
	rel := "in " + roundDuration(d)
	if d < 0 {
		rel = roundDuration(-d) + " ago"
	}
	return fmt.Sprintf("%s (%s)", t.UTC().Format("2006-01-02 15:04:05 UTC"), rel)
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Minute:
		d = d.Round(time.Second)
	default:
		d = d.Round(time.Second)
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		s = "0s"
	}
	return s
}

// hasScopes reports whether the space-separated scope list holds all of want.
func hasScopes(scope string, want ...string) bool {
	have := map[string]bool{}
	for _, s := range strings.Fields(scope) {
		have[s] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
