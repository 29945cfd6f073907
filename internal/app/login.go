package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
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
}

// TimeoutError is a login whose redirect never came. Exit code 3.
type TimeoutError struct {
	After time.Duration
	Where string
	Hint  string
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("no redirect reached %s within %s (--timeout): run twauth login again", e.Where, e.After)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// ExitCode is 3: authorization failed.
func (e *TimeoutError) ExitCode() int { return 3 }

// Login runs the whole Authorization Code + PKCE flow and saves the tokens.
func (a *App) Login(ctx context.Context, o LoginOptions) error {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.PKCEMethod == "" {
		o.PKCEMethod = pkce.S256
	}
	if err := a.setup(false); err != nil {
		return err
	}
	if err := a.checkLogin(); err != nil {
		return err
	}
	pair, state, err := a.newSecrets(o.PKCEMethod)
	if err != nil {
		return err
	}
	if o.Manual {
		return a.loginManual(ctx, o, pair, state)
	}

	p := newProgress(a.env.Stderr, a.env.Interactive)
	srv, err := loopback.Listen(loopback.Options{
		RedirectURIs: a.s.RedirectURIs,
		State:        state,
		Issuer:       o.Issuer,
		OnReject: func(reason string) {
			p.line("twauth: refused a callback: %s; still waiting", reason)
		},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	redirect := srv.RedirectURI()
	if redirect != a.s.RedirectURIs[0] {
		a.say("Port of %s is busy: using %s (it must be registered in the X app too).", a.s.RedirectURIs[0], redirect)
	}
	authURL, err := a.client.AuthorizeURL(oauth.AuthRequest{RedirectURI: redirect, Scopes: a.s.Scopes, State: state, PKCE: pair})
	if err != nil {
		return usagef("%v", err)
	}

	a.say("Open this URL in a browser to authorize twauth for X app %s:\n\n    %s\n", a.client.ClientID, authURL)
	noBrowser := o.NoBrowser
	if !noBrowser {
		if headless, why := opener.Headless(a.env.GOOS, a.env.Getenv, a.s.Browser != ""); headless {
			a.say("No browser can be opened here (%s): open the URL above on a machine that has one.", why)
			noBrowser = true
		}
	}
	if noBrowser {
		a.sshTunnelHint(srv.Port(), redirect)
	} else {
		open, err := a.opener()
		if err != nil {
			return err
		}
		go func() {
			if err := open(ctx, authURL); err != nil && ctx.Err() == nil {
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
			hint := ""
			if noBrowser {
				hint = "on a machine without a browser, try --manual or the SSH tunnel above"
			}
			return &TimeoutError{After: o.Timeout, Where: redirect, Hint: hint}
		}
		return err
	}
	return a.exchangeAndSave(ctx, res.Code, pair.Verifier, redirect)
}

// checkLogin fails early, before any browser opens, on what would make the
// end of the login fail: a Config.toml that cannot take the keys, a store
// that cannot be read.
func (a *App) checkLogin() error {
	if err := a.checkConfigKeys(a.s.TokenKey, a.s.RefreshTokenKey); err != nil {
		return err
	}
	if _, err := a.store.Load(); err != nil {
		return err
	}
	if a.secretNote != "" {
		a.warn("%s", a.secretNote)
	}
	for _, w := range scopeWarnings(a.s.AuthURL, a.s.Scopes) {
		a.warn("%s", w)
	}
	a.gitWarning()
	return nil
}

// scopeWarnings says what in scopes X would refuse or regret. Scope names
// are the server's own, so only an authorize URL of X (the default) gets the
// check against X's list; any server's refresh scope counts, X's
// offline.access or OpenID Connect's offline_access.
func scopeWarnings(authURL string, scopes []string) []string {
	var ws []string
	if isXAuthURL(authURL) {
		for _, sc := range scopes {
			if !knownScopes[sc] {
				ws = append(ws, fmt.Sprintf("scope %q is not one X documents: X may refuse the login (see twauth login --help)", sc))
			}
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

// knownScopes are the scopes X documents.
var knownScopes = map[string]bool{}

// KnownScopes lists X's documented OAuth 2.0 scopes.
var KnownScopes = []string{"tweet.read", "tweet.write", "tweet.moderate.write", "users.email", "users.read",
	"follows.read", "follows.write", "offline.access", "space.read", "mute.read", "mute.write",
	"like.read", "like.write", "list.read", "list.write", "block.read", "block.write",
	"bookmark.read", "bookmark.write", "dm.read", "dm.write", "media.write"}

func init() {
	for _, s := range KnownScopes {
		knownScopes[s] = true
	}
}

func (a *App) newSecrets(method pkce.Method) (pkce.Pair, string, error) {
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
func (a *App) opener() (opener.Func, error) {
	if a.env.Open != nil {
		return a.env.Open, nil
	}
	spec := a.s.Browser
	if spec == "" {
		spec = a.env.Getenv("BROWSER")
	}
	if spec != "" {
		open, err := opener.Command(spec, a.env.Stderr)
		if err != nil {
			return nil, usagef("%v", err)
		}
		return open, nil
	}
	return opener.System(a.env.Stderr), nil
}

// sshTunnelHint prints the port forward that lets a browser on the user's
// own machine reach the listener of a login run over SSH.
func (a *App) sshTunnelHint(port int, redirect string) {
	conn := strings.Fields(a.env.Getenv("SSH_CONNECTION"))
	if len(conn) < 3 {
		a.say("twauth waits for the redirect at %s: the browser must run on this machine, or reach it through a tunnel to port %d.", redirect, port)
		return
	}
	host := conn[2]
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if user := a.env.Getenv("USER"); user != "" {
		host = user + "@" + host
	}
	target := "127.0.0.1"
	if r, err := loopback.ParseRedirect(redirect); err == nil {
		target = r.Host
		if strings.Contains(target, ":") {
			target = "[" + target + "]"
		}
	}
	a.say("This is an SSH session: on the machine with the browser, run\n\n    ssh -N -L %d:%s:%d %s\n\nthen open the URL there; the redirect comes back through the tunnel.", port, target, port, host)
}

// exchangeAndSave redeems the code at once and saves the tokens.
func (a *App) exchangeAndSave(ctx context.Context, code, verifier, redirect string) error {
	tok, err := a.client.Exchange(ctx, code, verifier, redirect)
	if err != nil {
		return err
	}
	// The code is spent: from here on, Ctrl-C no longer aborts the save
	// (it would throw away the grant X just made), only the lookup after it.
	entry, err := a.saveLogin(context.WithoutCancel(ctx), tok)
	if err != nil {
		return err
	}
	a.lookupUser(ctx, entry)
	return a.loginSummary(entry)
}

// saveLogin writes a new token set: Config.toml is prepared and checked
// under its lock, then the store is saved, then Config.toml is written. A
// Config.toml that refuses the edit leaves both files as they were.
func (a *App) saveLogin(ctx context.Context, tok *oauth.Token) (*store.Entry, error) {
	entry := a.newEntry(tok, nil, a.configKeys(tok))
	if a.s.RefreshTokenKey != "" && tok.RefreshToken == "" {
		a.warn("X issued no refresh token (the offline.access scope was not granted): %s was not written", a.s.RefreshTokenKey)
	}
	stored := false
	var left []store.EarlierKey
	err := balconfig.Edit(ctx, a.cfgPath, a.s.LockTimeout, func(d *balconfig.Doc) error {
		if err := a.setTokenKeys(d, tok.AccessToken, tok.RefreshToken); err != nil {
			return err
		}
		err := a.store.Update(ctx, func(f *store.File) error {
			old := f.Clients[entry.ClientID]
			entry.CarryEarlier(old)
			// Journals of the old chain's refreshes hold secrets a new
			// login supersedes.
			a.store.RemoveJournals(entry.ClientID)
			left = nil
			for _, k := range entry.Earlier {
				if old != nil && !slices.Contains(old.Earlier, k) {
					left = append(left, k)
				}
			}
			f.Clients[entry.ClientID] = entry
			return nil
		})
		stored = err == nil
		return err
	})
	if err != nil && stored {
		// Only the write of Config.toml failed, after the edit was accepted:
		// X has spent the code, so the tokens stay in the store.
		return nil, fmt.Errorf("the new tokens are saved in %s, but %s was not updated (%w): once it can be written, twauth refresh writes it", a.store.Path, a.cfgPath, err)
	}
	if err != nil {
		return nil, annotatePath(err, a.cfgPath)
	}
	for _, k := range left {
		if d, _, err := balconfig.Load(k.Path); err == nil {
			if v, found, err := d.Get(k.Key); err == nil && found && store.Fingerprint(v) == k.SHA256 {
				a.say("twauth: %s, key %s, still holds a token of the previous login, valid until it expires or is revoked (twauth now writes %s, key %s): twauth revoke revokes it at X and removes it", k.Path, k.Key, a.cfgPath, a.s.TokenKey)
			}
		}
	}
	return entry, nil
}

func (a *App) setTokenKeys(d *balconfig.Doc, access, refresh string) error {
	if err := d.Set(a.s.TokenKey, access); err != nil {
		return err
	}
	if a.s.RefreshTokenKey != "" && refresh != "" {
		if err := d.Set(a.s.RefreshTokenKey, refresh); err != nil {
			return err
		}
	}
	return nil
}

// newEntry is the store entry for tok; old, when set, lends what a refresh
// does not change. cfg records where the tokens were copied.
func (a *App) newEntry(tok *oauth.Token, old *store.Entry, cfg *store.ConfigKeys) *store.Entry {
	e := &store.Entry{
		ClientID:     a.client.ClientID,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenType:    tok.TokenType,
		Expiry:       tok.Expiry,
		Scope:        tok.Scope,
		TokenURL:     a.tokenURL(),
		Confidential: a.client.Confidential(),
		Config:       cfg,
		UpdatedAt:    a.now().Truncate(time.Second),
	}
	if old != nil {
		e.Username = old.Username
		if e.Scope == "" {
			e.Scope = old.Scope
		}
	}
	return e
}

// configKeys records the Config.toml keys that tok is written to, with
// the fingerprints of the tokens written there.
func (a *App) configKeys(tok *oauth.Token) *store.ConfigKeys {
	k := &store.ConfigKeys{Path: a.cfgPath, TokenKey: a.s.TokenKey, TokenSHA256: store.Fingerprint(tok.AccessToken)}
	if tok.RefreshToken != "" && a.s.RefreshTokenKey != "" {
		k.RefreshTokenKey = a.s.RefreshTokenKey
		k.RefreshTokenSHA256 = store.Fingerprint(tok.RefreshToken)
	}
	return k
}

// lookupUser fills in the @username when the scopes allow it. A failure
// is reported and otherwise ignored: the login itself succeeded.
func (a *App) lookupUser(ctx context.Context, e *store.Entry) {
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
	e.Username = u.Username
	_ = a.store.Update(ctx, func(f *store.File) error {
		if cur := f.Clients[e.ClientID]; cur != nil && cur.AccessToken == e.AccessToken {
			cur.Username = u.Username
		}
		return nil
	})
}

func (a *App) loginSummary(e *store.Entry) error {
	if a.s.JSON {
		return a.printJSON(map[string]any{
			"client_id":         e.ClientID,
			"client_type":       clientType(e.Confidential),
			"username":          e.Username,
			"config":            a.cfgPath,
			"token_key":         a.s.TokenKey,
			"refresh_token_key": e.Config.RefreshTokenKey,
			"store":             a.store.Path,
			"scope":             e.Scope,
			"expires_at":        e.Expiry.UTC().Format(time.RFC3339),
		})
	}
	who := "Logged in to X"
	if e.Username != "" {
		who += " as @" + e.Username
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (app %s, %s client).\n", who, e.ClientID, clientType(e.Confidential))
	fmt.Fprintf(&b, "  access token   %s, key %s\n", a.cfgPath, a.s.TokenKey)
	fmt.Fprintf(&b, "  expires        %s\n", whenText(e.Expiry, a.now()))
	if e.RefreshToken != "" {
		where := a.store.Path
		if e.Config.RefreshTokenKey != "" {
			where += " and " + a.cfgPath + ", key " + e.Config.RefreshTokenKey
		}
		fmt.Fprintf(&b, "  refresh token  %s (twauth token and twauth refresh renew the access token)\n", where)
	} else {
		fmt.Fprintf(&b, "  refresh token  none (no offline.access scope): log in again when the access token expires\n")
	}
	fmt.Fprintf(&b, "  scopes         %s", e.Scope)
	a.say("%s", b.String())
	return nil
}

func clientType(confidential bool) string {
	if confidential {
		return "confidential"
	}
	return "public"
}

func (a *App) printJSON(v any) error {
	enc := json.NewEncoder(a.env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
