// Package app holds twauth's flows: login, exchange, token, refresh,
// status, revoke. Each takes a resolved target (internal/resolve: which
// app, which Config.toml, which keys) and the store, does the work, and
// returns a result for the command line to print. It knows nothing of
// cobra. Prose it shows while it works (the authorization URL, the wait,
// warnings) goes to Deps.Stderr; data goes back to the caller.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/opener"
	"github.com/twauth/twauth/internal/resolve"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/wirelog"
)

// Deps is the outside world of a flow. Tests replace every part.
type Deps struct {
	Stdin  io.Reader
	Stderr io.Writer
	// Getenv reads the environment (SSH_CONNECTION, BROWSER, …).
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Transport sends HTTP requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Open opens a URL in a browser; nil means Browser, $BROWSER, or the
	// system opener.
	Open opener.Func
	// Browser is the --browser command.
	Browser string
	// Interactive reports that stderr is a terminal.
	Interactive bool
	// GOOS is runtime.GOOS unless a test says otherwise.
	GOOS string
	// Retry overrides the refresh retry policy (tests).
	Retry oauth.RetryPolicy
	// Verbose traces HTTP on Stderr, secrets redacted.
	Verbose     bool
	HTTPTimeout time.Duration
	LockTimeout time.Duration
}

// Runner runs flows for one target. Everything it acts on is settled when
// it is made.
type Runner struct {
	d      Deps
	t      *resolve.Target
	st     *store.Store
	client *oauth.Client
	// doc is the Config.toml as parsed once for this command; nil when the
	// file is missing.
	doc    *balconfig.Doc
	warned map[string]bool
	// tunnelShown: the SSH tunnel command was printed.
	tunnelShown bool
}

// New returns a Runner. doc is t's Config.toml, parsed (nil when missing).
func New(d Deps, t *resolve.Target, st *store.Store, doc *balconfig.Doc) *Runner {
	if d.Getenv == nil {
		d.Getenv = func(string) string { return "" }
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.GOOS == "" {
		d.GOOS = runtime.GOOS
	}
	if d.Stdin == nil {
		d.Stdin = strings.NewReader("")
	}
	if d.Stderr == nil {
		d.Stderr = io.Discard
	}
	if d.HTTPTimeout == 0 {
		d.HTTPTimeout = 30 * time.Second
	}
	if d.LockTimeout == 0 {
		d.LockTimeout = store.DefaultLockTimeout
	}
	// The browser command, the progress line and the listener's reports
	// write to stderr from their own goroutines.
	d.Stderr = &syncWriter{w: d.Stderr}
	r := &Runner{d: d, t: t, st: st, doc: doc, warned: map[string]bool{}}
	r.client = r.newClient(t.ClientID.Value, t.ClientSecret.Value)
	return r
}

// Client is the OAuth client of the target.
func (r *Runner) Client() *oauth.Client { return r.client }

func (r *Runner) newClient(id, secret string) *oauth.Client {
	base := r.d.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if r.d.Verbose {
		base = &wirelog.Transport{Base: base, Out: r.d.Stderr}
	}
	return &oauth.Client{
		ClientID:     id,
		ClientSecret: secret,
		AuthURL:      r.t.AuthURL.Value,
		TokenURL:     r.t.TokenURL.Value,
		RevokeURL:    r.t.RevokeURL.Value,
		APIURL:       r.t.APIURL.Value,
		HTTP: &http.Client{
			Transport: base,
			Timeout:   r.d.HTTPTimeout,
			// An OAuth endpoint that redirects is misconfigured; following
			// it would resend credentials to another place.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Now:   r.d.Now,
		Retry: r.d.Retry,
	}
}

func (r *Runner) now() time.Time { return r.d.Now().UTC() }

// say writes a line of prose to stderr.
func (r *Runner) say(format string, args ...any) {
	fmt.Fprintf(r.d.Stderr, format+"\n", args...)
}

// warn writes a warning once per text.
func (r *Runner) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.warned[msg] {
		return
	}
	r.warned[msg] = true
	fmt.Fprintln(r.d.Stderr, "twauth: warning: "+msg)
}

// tokenURL is the token endpoint in force.
func (r *Runner) tokenURL() string {
	if r.t.TokenURL.Value != "" {
		return r.t.TokenURL.Value
	}
	return oauth.DefaultTokenURL
}

// UsageError is a usage or configuration error.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// checkWrite fails, before anything is spent, on what would keep the
// tokens from reaching Config.toml: another app's file, token keys that
// clash with the client keys, key paths the file cannot take.
func (r *Runner) checkWrite() error {
	if r.t.Conflict != nil {
		return r.t.Conflict
	}
	if err := r.t.CheckKeys(); err != nil {
		return err
	}
	if r.doc == nil {
		return nil
	}
	probe := r.doc.Clone()
	for _, k := range r.t.Keys() {
		if err := probe.Set(k, "twauth-probe"); err != nil {
			return annotatePath(err, r.t.ConfigPath)
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

// ConfigNotWrittenError: the tokens are safe in the store, but Config.toml
// could not be written. Entry is what the store holds.
type ConfigNotWrittenError struct {
	StorePath, ConfigPath string
	// HasRefreshToken says whether a refresh can write the file later.
	HasRefreshToken bool
	Err             error
}

func (e *ConfigNotWrittenError) Error() string {
	return fmt.Sprintf("the new tokens are saved in %s, but %s was not updated: %v", e.StorePath, e.ConfigPath, e.Err)
}

func (e *ConfigNotWrittenError) Unwrap() error { return e.Err }

// writeConfig copies a token set into Config.toml, reusing the document
// parsed for this command when the file has not changed since. It runs
// after the store holds the tokens, so an interrupt no longer stops it.
// The keys twauth creates are recorded in keys.
func (r *Runner) writeConfig(ctx context.Context, e *store.Entry) error {
	write := func(d *balconfig.Doc) error { return r.setTokenKeys(d, e) }
	var err error
	if r.doc != nil {
		// The document parsed for this command, unless the file changed
		// since: parsed once (docs/design.md, "The durable sequence").
		err = balconfig.EditDoc(context.WithoutCancel(ctx), r.doc, r.d.LockTimeout, write)
	} else {
		err = balconfig.Edit(context.WithoutCancel(ctx), r.t.ConfigPath, r.d.LockTimeout, write)
	}
	if err != nil {
		return &ConfigNotWrittenError{StorePath: r.st.Where(), ConfigPath: r.t.ConfigPath, HasRefreshToken: e.RefreshToken != "", Err: annotatePath(err, r.t.ConfigPath)}
	}
	return nil
}

// setTokenKeys writes the access token (and the refresh token, when a key
// is set for it) into d.
func (r *Runner) setTokenKeys(d *balconfig.Doc, e *store.Entry) error {
	if err := d.Set(r.t.TokenKey.Value, e.AccessToken); err != nil {
		return err
	}
	if k := r.t.RefreshTokenKey.Value; k != "" && e.RefreshToken != "" {
		if err := d.Set(k, e.RefreshToken); err != nil {
			return err
		}
	}
	return nil
}

// configKeys records the Config.toml keys e is written to, with the
// fingerprints of the tokens written there and which of those keys twauth
// created (revoke deletes those and blanks the ones the user declared).
func (r *Runner) configKeys(e *store.Entry, old *store.ConfigKeys) *store.ConfigKeys {
	k := &store.ConfigKeys{Path: r.t.ConfigPath, TokenKey: r.t.TokenKey.Value, TokenSHA256: store.Fingerprint(e.AccessToken)}
	if e.RefreshToken != "" && r.t.RefreshTokenKey.Value != "" {
		k.RefreshTokenKey = r.t.RefreshTokenKey.Value
		k.RefreshTokenSHA256 = store.Fingerprint(e.RefreshToken)
	}
	k.Created = r.created(old, k.TokenKey, k.RefreshTokenKey)
	return k
}

// created lists the keys among keys that twauth creates, with the table
// header each needs: absent from Config.toml before twauth first wrote
// them. What old recorded for the same file and key stands; for a key
// twauth has not written before, a copy of the parsed file is asked.
func (r *Runner) created(old *store.ConfigKeys, keys ...string) []store.CreatedKey {
	var out []store.CreatedKey
	probe := r.doc
	if probe == nil {
		probe, _ = balconfig.Parse(nil)
	}
	probe = probe.Clone()
	for _, k := range keys {
		if k == "" {
			continue
		}
		if old != nil && old.Path == r.t.ConfigPath && (old.TokenKey == k || old.RefreshTokenKey == k) {
			if c, ok := old.CreatedKey(k); ok {
				out = append(out, c)
			}
			continue
		}
		c, err := probe.SetTracked(k, "twauth-probe")
		if err == nil && c.Key {
			out = append(out, store.CreatedKey{Key: k, Table: c.Table})
		}
	}
	return out
}

// newEntry is the store entry for tok; old, when set, lends what a refresh
// does not change.
func (r *Runner) newEntry(g store.Grant, old *store.Entry) *store.Entry {
	e := &store.Entry{
		ClientID:     r.client.ClientID,
		AccessToken:  g.AccessToken,
		RefreshToken: g.RefreshToken,
		TokenType:    g.TokenType,
		Expiry:       g.Expiry,
		Scope:        g.Scope,
		TokenURL:     r.tokenURL(),
		Confidential: r.client.Confidential(),
		UpdatedAt:    r.now().Truncate(time.Second),
	}
	if old != nil {
		e.UserID, e.Username = old.UserID, old.Username
		e.Serve = old.Serve
		if e.Scope == "" {
			e.Scope = old.Scope
		}
	}
	return e
}

func grantOf(t *oauth.Token) store.Grant {
	return store.Grant{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, Expiry: t.Expiry, Scope: t.Scope}
}

// ClientType is "confidential" or "public".
func ClientType(confidential bool) string {
	if confidential {
		return "confidential"
	}
	return "public"
}

// WhenText renders an expiry as "2026-12-01 13:20:00 UTC (in 1h59m)".
func WhenText(t, now time.Time) string {
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
