package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/loopback"
	"github.com/twauth/twauth/internal/oauth"
	"github.com/twauth/twauth/internal/opener"
	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/store"
)

// LoginOptions are the flags of `twauth login`.
type LoginOptions struct {
	// Timeout bounds the wait for the redirect; 0 means 5 minutes.
	Timeout time.Duration
	// NoBrowser prints the URL and waits on the listener without opening
	// a browser.
	NoBrowser bool
	// Manual runs no listener: the redirect URL is pasted on stdin.
	Manual     bool
	PKCEMethod pkce.Method
	// Issuer, when set, is checked against an iss parameter on the
	// callback (RFC 9207).
	Issuer string
	// RedirectURIs: the first with a free port wins (--manual: the first).
	RedirectURIs []string
	// Listen binds another local address than the redirect URI's host
	// (0.0.0.0:8765 inside a container); the redirect URI is unchanged.
	Listen string
	Scopes []string
}

// LoggedIn is the outcome of a login or exchange.
type LoggedIn struct {
	Entry           *store.Entry
	ConfigPath      string
	TokenKey        string
	RefreshTokenKey string
	StorePath       string
}

// TimeoutError is a login whose redirect never came.
type TimeoutError struct {
	After time.Duration
	Where string
	// NoBrowser: no browser was opened here (headless or asked so).
	NoBrowser bool
	// TunnelShown: an SSH tunnel command was printed.
	TunnelShown bool
	// Stdin: the wait was for a pasted redirect.
	Stdin bool
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no redirect reached %s within %s", e.Where, e.After)
}

// maxRefusedLines bounds the lines printed for refused callbacks.
const maxRefusedLines = 3

// loginDefaults fills in the default redirect URI and scopes.
func loginDefaults(redirects, scopes []string) ([]string, []string) {
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirectURI}
	}
	if len(scopes) == 0 {
		scopes = oauth.DefaultScopes
	}
	return redirects, scopes
}

// DefaultRedirectURI is the callback twauth listens on unless told
// otherwise; register it in the X app's settings.
const DefaultRedirectURI = "http://127.0.0.1:8765/callback"

// Login runs the whole Authorization Code + PKCE flow and saves the tokens.
func (a *Runner) Login(ctx context.Context, o LoginOptions) (*LoggedIn, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.PKCEMethod == "" {
		o.PKCEMethod = pkce.S256
	}
	o.RedirectURIs, o.Scopes = loginDefaults(o.RedirectURIs, o.Scopes)
	if err := a.checkLogin(o.Scopes); err != nil {
		return nil, err
	}
	pair, state, err := a.newSecrets(o.PKCEMethod)
	if err != nil {
		return nil, err
	}
	if o.Manual {
		return a.loginManual(ctx, o, pair, state)
	}

	p := newProgress(a.d.Stderr, a.d.Interactive)
	var refused atomic.Int64
	defer func() {
		if n := refused.Load(); n > maxRefusedLines {
			a.say("twauth: refused %d callbacks in all during this login (wrong state, path or method): something other than your browser is calling the listener", n)
		}
	}()
	srv, err := loopback.Listen(loopback.Options{
		RedirectURIs: o.RedirectURIs,
		State:        state,
		Issuer:       o.Issuer,
		Listen:       o.Listen,
		OnReject: func(reason string) {
			// A flood of forged callbacks prints a few lines and a count,
			// not a line each.
			if n := refused.Add(1); n <= maxRefusedLines {
				p.line("twauth: refused a callback: %s; still waiting", reason)
			} else if n == maxRefusedLines+1 {
				p.line("twauth: refusing more callbacks; they are counted, not shown")
			}
		},
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	if o.Listen != "" {
		a.warn("the listener is bound to %s, not only to loopback: anything that reaches that address can try a callback (state still guards the login); use it inside a container, with the port published to 127.0.0.1 only", strings.Join(srv.Addrs(), ", "))
	}
	redirect := srv.RedirectURI()
	if redirect != o.RedirectURIs[0] {
		a.say("Port of %s is busy: using %s (it must be registered in the X app too).", o.RedirectURIs[0], redirect)
	}
	authURL, err := a.client.AuthorizeURL(oauth.AuthRequest{RedirectURI: redirect, Scopes: o.Scopes, State: state, PKCE: pair})
	if err != nil {
		return nil, usagef("%v", err)
	}

	a.say("Open this URL in a browser to authorize twauth for X app %s:\n\n    %s\n", a.client.ClientID, authURL)
	noBrowser := o.NoBrowser
	if !noBrowser {
		if headless, why := opener.Headless(a.d.GOOS, a.d.Getenv, a.d.Browser != ""); headless {
			a.say("No browser can be opened here (%s): open the URL above on a machine that has one.", why)
			noBrowser = true
		}
	}
	if noBrowser {
		a.sshTunnelHint(srv.Port(), redirect)
	} else {
		open, err := a.opener()
		if err != nil {
			return nil, err
		}
		target := authURL
		if a.d.Open == nil && !opensDirectly(a.d.GOOS) {
			// A browser process of its own: it gets a page only this
			// user can read, not the URL with the state.
			page, cleanup, err := launchPage(authURL)
			if err != nil {
				return nil, err
			}
			defer cleanup()
			target = page
		}
		go func() {
			if err := open(ctx, target); err != nil && ctx.Err() == nil {
				p.line("twauth: could not open a browser (%v): open the URL above yourself; still waiting", err)
			}
		}()
	}

	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	stop := p.start(fmt.Sprintf("Waiting for the redirect to %s", redirect), time.Now().Add(o.Timeout))
	res, err := srv.Wait(wctx)
	stop()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, &TimeoutError{After: o.Timeout, Where: redirect, NoBrowser: noBrowser, TunnelShown: noBrowser && a.tunnelShown}
		}
		return nil, err
	}
	return a.exchangeAndSave(ctx, res.Code, pair.Verifier, redirect)
}

// checkLogin fails early, before any browser opens, on what would make the
// end of the login fail: a Config.toml that cannot take the keys, a store
// that cannot be read.
func (a *Runner) checkLogin(scopes []string) error {
	if err := a.checkWrite(); err != nil {
		return err
	}
	if _, err := a.st.Load(); err != nil {
		return err
	}
	if a.t.SecretNote != "" {
		a.warn("%s", a.t.SecretNote)
	}
	for _, w := range scopeWarnings(a.t.AuthURL.Value, scopes) {
		a.warn("%s", w)
	}
	a.gitWarning()
	return nil
}

// gitWarning warns once when Config.toml, which holds a token, would be
// committed.
func (a *Runner) gitWarning() {
	if w := balconfig.GitWarning(a.t.ConfigPath); w != "" {
		a.warn("%s", w)
	}
}

// scopeWarnings says what in scopes X would refuse or regret. Scope names
// are the server's own, so only an authorize URL of X (the default) gets the
// check against X's list; any server's refresh scope counts, X's
// offline.access or OpenID Connect's offline_access.
func scopeWarnings(authURL string, scopes []string) []string {
	var ws []string
	if isXAuthURL(authURL) {
		for _, sc := range scopes {
			if oauth.KnownScope(sc) {
				continue
			}
			w := fmt.Sprintf("scope %q is not one X documents: X may refuse the login", sc)
			if near, ok := oauth.ClosestScope(sc); ok {
				w += fmt.Sprintf(" (did you mean %s?)", near)
			}
			ws = append(ws, w+" (see twauth login --help)")
		}
	}
	joined := strings.Join(scopes, " ")
	if !hasScopes(joined, "offline.access") && !hasScopes(joined, "offline_access") {
		ws = append(ws, "without the offline.access scope X issues no refresh token: the access token dies in 2 hours and twauth cannot renew it")
	}
	return ws
}

// isXAuthURL reports whether authURL (empty: the default) is X's.
func isXAuthURL(authURL string) bool {
	if authURL == "" {
		return true
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "x.com", "twitter.com", "www.x.com", "www.twitter.com", "api.x.com", "api.twitter.com":
		return true
	}
	return false
}

func (a *Runner) newSecrets(method pkce.Method) (pkce.Pair, string, error) {
	if method == pkce.Plain {
		a.warn("--pkce-method plain sends the verifier itself as the challenge: anyone who sees the authorization URL can redeem the code; use S256 unless the server cannot")
	}
	pair, err := pkce.New(method, pkce.DefaultLength)
	if err != nil {
		return pkce.Pair{}, "", err
	}
	state, err := pkce.State()
	if err != nil {
		return pkce.Pair{}, "", err
	}
	return pair, state, nil
}

// opener picks how to open the browser: the injected opener, --browser,
// $BROWSER, or the system's.
func (a *Runner) opener() (opener.Func, error) {
	if a.d.Open != nil {
		return a.d.Open, nil
	}
	spec := a.d.Browser
	if spec == "" {
		spec = a.d.Getenv("BROWSER")
	}
	if spec != "" {
		open, err := opener.Command(spec, a.d.Stderr)
		if err != nil {
			return nil, usagef("%v", err)
		}
		return open, nil
	}
	return opener.System(a.d.Stderr), nil
}

// sshTunnelHint prints the port forward that lets a browser on the user's
// own machine reach the listener of a login run over SSH.
func (a *Runner) sshTunnelHint(port int, redirect string) {
	conn := strings.Fields(a.d.Getenv("SSH_CONNECTION"))
	if len(conn) < 3 {
		a.say("twauth waits for the redirect at %s: the browser must run on this machine, or reach it through a tunnel to port %d.", redirect, port)
		return
	}
	host := conn[2]
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if user := a.d.Getenv("USER"); user != "" {
		host = user + "@" + host
	}
	target := "127.0.0.1"
	if r, err := loopback.ParseRedirect(redirect); err == nil {
		target = r.Host
		if strings.Contains(target, ":") {
			target = "[" + target + "]"
		}
	}
	a.tunnelShown = true
	a.say("This is an SSH session: on the machine with the browser, run\n\n    ssh -N -L %d:%s:%d %s\n\nthen open the URL there; the redirect comes back through the tunnel.", port, target, port, host)
}

// exchangeAndSave redeems the code at once and saves the tokens: the store
// first, then Config.toml (docs/design.md, "The durable sequence").
func (a *Runner) exchangeAndSave(ctx context.Context, code, verifier, redirect string) (*LoggedIn, error) {
	tok, err := a.client.Exchange(ctx, code, verifier, redirect)
	if err != nil {
		return nil, err
	}
	// The code is spent: from here on, Ctrl-C no longer aborts the save
	// (it would throw away the grant X just made), only the lookup after it.
	entry, err := a.saveLogin(context.WithoutCancel(ctx), tok)
	out := &LoggedIn{Entry: entry, ConfigPath: a.t.ConfigPath, TokenKey: a.t.TokenKey.Value, StorePath: a.st.Where()}
	if entry != nil && entry.Config != nil {
		out.RefreshTokenKey = entry.Config.RefreshTokenKey
	}
	if err != nil {
		return out, err
	}
	a.lookupUser(ctx, entry)
	return out, nil
}

// saveLogin saves a new token set: the store first (so nothing X issued is
// lost whatever happens to Config.toml), then Config.toml.
func (a *Runner) saveLogin(ctx context.Context, tok *oauth.Token) (*store.Entry, error) {
	entry := a.newEntry(grantOf(tok), nil)
	if a.t.RefreshTokenKey.Value != "" && tok.RefreshToken == "" {
		why := "the offline.access scope was not granted"
		if oauth.OfflineGranted(tok.Scope) {
			why = "the server issued no refresh token although the offline scope was granted"
		}
		a.warn("X issued no refresh token (%s): %s was not written", why, a.t.RefreshTokenKey.Value)
	}
	var left []store.EarlierKey
	// Until X says which account logged in (lookupUser), the entry is kept
	// under the app's key with no account: saved before anything else can
	// fail (docs/design.md, "The durable sequence").
	key := entry.Key()
	err := a.st.UpdateClearing(ctx, func(f *store.File) ([]string, error) {
		// The entry this login most likely replaces (the resolution's
		// guess) lends its record of Config.toml keys; it is replaced for
		// good once X names the account.
		old := f.Clients[a.t.Key]
		if prev := f.Clients[key]; prev != nil && prev.Username != "" && prev.UserID == "" {
			// An account known by name only (a store written before
			// accounts): it may be another account than this login's,
			// so it moves aside rather than being replaced.
			prev.UserID = "@" + prev.Username
			f.Clients[prev.Key()] = prev
			delete(f.Clients, key)
			// Its journals follow it: they may hold its chain's successor.
			if err := a.st.RenameJournals(key, prev.Key()); err != nil {
				return nil, err
			}
		}
		var oldKeys *store.ConfigKeys
		if old != nil {
			oldKeys = old.Config
		}
		entry.Config = a.configKeys(entry, oldKeys)
		// Only the entry this save overwrites lends its earlier keys: the
		// resolution's guess may be another account of the app. An
		// account's own entry lends them in lookupUser.
		replaced := f.Clients[key]
		entry.CarryEarlier(replaced)
		if replaced != nil {
			// The program's credentials for twauth serve outlive a login.
			entry.Serve = replaced.Serve
		}
		left = nil
		for _, k := range entry.Earlier {
			if replaced != nil && !slices.Contains(replaced.Earlier, k) {
				left = append(left, k)
			}
		}
		f.Clients[key] = entry
		// Journals of the replaced chain's refreshes hold secrets this
		// login supersedes: they go once the save has succeeded.
		if replaced != nil {
			return []string{key}, nil
		}
		return nil, nil
	})
	if err != nil {
		return nil, &store.SaveError{Path: a.st.Where(), Err: err}
	}
	if err := a.writeConfig(ctx, entry); err != nil {
		return entry, err
	}
	a.notePreviousKeys(left)
	return entry, nil
}

// notePreviousKeys says which keys still hold a token of a previous login.
func (a *Runner) notePreviousKeys(left []store.EarlierKey) {
	for _, k := range left {
		if d, _, err := balconfig.Load(k.Path); err == nil {
			if v, found, err := d.Get(k.Key); err == nil && found && store.Fingerprint(v) == k.SHA256 {
				a.say("twauth: %s, key %s, still holds a token of the previous login, valid until it expires or is revoked (twauth now writes %s, key %s): twauth revoke revokes it at X and removes it", k.Path, k.Key, a.t.ConfigPath, a.t.TokenKey.Value)
			}
		}
	}
}

// lookupUser fills in the @username when the scopes allow it. A failure
// is reported and otherwise ignored: the login itself succeeded.
func (a *Runner) lookupUser(ctx context.Context, e *store.Entry) {
	if !hasScopes(e.Scope, "users.read", "tweet.read") {
		return
	}
	u, err := a.client.Me(ctx, e.AccessToken)
	if err != nil {
		if ctx.Err() == nil {
			a.say("twauth: could not look up the username (%v); the login is saved.", err)
		}
		return
	}
	// Key the entry by its account now: it replaces that account's earlier
	// login, and leaves the app's other accounts alone.
	provisional := e.Key()
	var left []store.EarlierKey
	err = a.st.UpdateClearing(ctx, func(f *store.File) ([]string, error) {
		cur := f.Clients[provisional]
		if cur == nil || cur.AccessToken != e.AccessToken {
			return nil, nil
		}
		var clear []string
		cur.UserID, cur.Username = u.ID, u.Username
		left = nil
		for k, o := range f.Clients {
			if k != provisional && o.ClientID == cur.ClientID && (o.UserID == u.ID || o.UserID == "@"+u.Username) {
				carried := *cur
				carried.CarryEarlier(o)
				for _, ek := range carried.Earlier {
					if !slices.Contains(cur.Earlier, ek) {
						cur.Earlier = append(cur.Earlier, ek)
						if !slices.Contains(o.Earlier, ek) {
							left = append(left, ek)
						}
					}
				}
				if n := len(cur.Earlier); n > store.MaxEarlier {
					cur.Earlier = cur.Earlier[n-store.MaxEarlier:]
				}
				if cur.Serve == nil {
					cur.Serve = o.Serve
				}
				delete(f.Clients, k)
				clear = append(clear, k)
			}
		}
		delete(f.Clients, provisional)
		f.Clients[cur.Key()] = cur
		// A refresh another process made meanwhile journalled under the
		// provisional key: its journals follow the entry.
		if err := a.st.RenameJournals(provisional, cur.Key()); err != nil {
			return nil, err
		}
		*e = *cur
		return clear, nil
	})
	if err != nil {
		a.say("twauth: could not record the account @%s in the store (%v); the login is saved.", u.Username, err)
		return
	}
	a.notePreviousKeys(left)
}
