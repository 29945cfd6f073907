// Package xtest is a fake of X's (Twitter's) OAuth 2.0 authorization server
// and of the one API call twauth makes, for tests that must never reach the
// internet and for the twauth-dev command.
//
// The Fake models what X does on the wire (see "Facts about X" in docs/design.md):
// redirect URIs matched exactly, 30-second single-use authorization codes,
// PKCE (RFC 7636) with S256 or plain, HTTP Basic required of confidential
// clients and client_id in the body for public ones, refresh tokens that
// rotate, revocation that answers {"revoked":true} even for unknown tokens,
// GET /2/users/me answering for the user each token belongs to (SetUser
// switches the user logged in to the browser), and X's error JSON. A
// controllable clock, an injectable queue of faults and a record of every
// API request let tests assert the exact behaviour of a client.
//
// Where X's behaviour is not documented the Fake follows RFC 6749, RFC 7009,
// RFC 7636 and RFC 9207; each such choice is stated on the handler it
// concerns. The package imports no testing code, so commands may use it.
package xtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths the Fake serves. On X the authorize page lives on x.com and the
// others on api.x.com; the Fake serves all of them on one host.
const (
	AuthorizePath = "/i/oauth2/authorize"
	// DecidePath receives the consent page's forms (POST, fields "id" and
	// "decision" = "approve" or "deny"). It is the Fake's own; X's consent
	// page works differently.
	DecidePath  = "/i/oauth2/authorize/decide"
	TokenPath   = "/2/oauth2/token"
	RevokePath  = "/2/oauth2/revoke"
	UsersMePath = "/2/users/me"
)

// Defaults of Options.
const (
	DefaultCodeTTL   = 30 * time.Second
	DefaultAccessTTL = 2 * time.Hour
	DefaultUsername  = "twauth_dev"
	DefaultName      = "twauth dev user"
)

// MaxStateLength is the longest state X accepts on the authorize request.
const MaxStateLength = 500

// MaxBodyBytes is the largest request body the API endpoints read; a longer
// one is answered with 413.
const MaxBodyBytes = 1 << 20

// pendingTTL is how long a consent page can wait for its decision.
const pendingTTL = 10 * time.Minute

// knownScopes is the documented set of X's OAuth 2.0 scopes.
var knownScopes = []string{
	"tweet.read", "tweet.write", "tweet.moderate.write", "users.email", "users.read",
	"follows.read", "follows.write", "offline.access", "space.read", "mute.read",
	"mute.write", "like.read", "like.write", "list.read", "list.write", "block.read",
	"block.write", "bookmark.read", "bookmark.write", "dm.read", "dm.write", "media.write",
}

// KnownScopes returns the scopes the Fake accepts: X's documented set.
func KnownScopes() []string { return slices.Clone(knownScopes) }

// Client is an app registered with the Fake.
type Client struct {
	ID string
	// Secret is the client secret of a confidential client (X's "Web App"
	// or "Automated App"); "" makes a public client ("Native App", "SPA").
	Secret string
	// RedirectURIs are the registered callback URLs. The authorize request's
	// redirect_uri must equal one of them byte for byte.
	RedirectURIs []string
}

// Options configures a Fake. The zero value is usable but has no clients.
type Options struct {
	Clients []Client
	// Now is the clock of code and token lifetimes; nil means time.Now.
	// See Clock for one that tests can move.
	Now func() time.Time
	// Consent makes the authorize endpoint show an HTML consent page with
	// an "Authorize app" and a "Cancel" button; false approves at once
	// (or denies at once after SetDeny(true)) with a 302.
	Consent bool
	// Username, Name and UserID are the user logged in to X in the
	// browser at the start: the one whose consent authorization codes
	// carry, and whom GET /2/users/me reports for their tokens, until
	// SetUser logs in another. Defaults: DefaultUsername, DefaultName and
	// a numeric id derived from Username.
	Username string
	Name     string
	UserID   string
	// CodeTTL is how long an authorization code can be exchanged
	// (default 30s); AccessTTL is the life of an access token and the
	// expires_in of the token response (default 2h).
	CodeTTL   time.Duration
	AccessTTL time.Duration
	// Issuer, when set, is sent as iss on every authorization response,
	// success or error (RFC 9207). X sends none; the default is "".
	Issuer string
}

// Request is one request the Fake received on TokenPath, RevokePath or
// UsersMePath.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	// Header is a copy of the request header, Authorization included.
	Header http.Header
	// RawBody is the body exactly as received (at most MaxBodyBytes+1 bytes).
	RawBody string
	// Form is RawBody parsed as a form (nil when it does not parse).
	Form url.Values
	// Status is the status code the Fake answered; 0 while the request is
	// in flight and when no answer was sent (Fault.Hang,
	// Fault.DropAfterProcessing).
	Status int
	// Fault is the injected fault applied to this request, nil for none.
	Fault *Fault
	// Time is the Fake's clock when the request arrived.
	Time time.Time
}

// Fake is the fake X server: an http.Handler holding all its state. It is
// safe for concurrent use. Make one with New.
type Fake struct {
	now       func() time.Time
	issuer    string
	codeTTL   time.Duration
	accessTTL time.Duration
	stop      chan struct{}
	stopOnce  sync.Once

	mu             sync.Mutex
	clients        map[string]Client
	user           User
	consent        bool
	deny           bool
	pending        map[string]*pending
	codes          map[string]*authCode
	tokens         map[string]*token
	revoked        []string
	requests       []Request
	requestsGen    int
	counts         map[string]int
	grantCounts    map[string]int
	authorizations []url.Values
	faults         map[string][]Fault
}

// grant is everything issued from one authorization code: the first token
// pair and every pair a refresh derived from it.
type grant struct {
	tokens []*token
}

type token struct {
	value    string
	access   bool
	clientID string
	user     User
	scope    []string
	expires  time.Time // access tokens only
	used     bool      // refresh tokens: rotated away
	revoked  bool
	grant    *grant
}

type authCode struct {
	clientID    string
	user        User
	redirectURI string
	challenge   string
	method      string
	scope       []string
	issued      time.Time
	used        bool
	grant       *grant
}

type pending struct {
	clientID    string
	redirectURI string
	state       string
	challenge   string
	method      string
	scope       []string
	created     time.Time
}

// New returns a Fake configured by opts.
func New(opts Options) *Fake {
	f := &Fake{
		now:         opts.Now,
		user:        newUser(opts.Username, opts.Name, opts.UserID),
		issuer:      opts.Issuer,
		codeTTL:     opts.CodeTTL,
		accessTTL:   opts.AccessTTL,
		stop:        make(chan struct{}),
		clients:     make(map[string]Client),
		consent:     opts.Consent,
		pending:     make(map[string]*pending),
		codes:       make(map[string]*authCode),
		tokens:      make(map[string]*token),
		counts:      make(map[string]int),
		grantCounts: make(map[string]int),
		faults:      make(map[string][]Fault),
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.codeTTL <= 0 {
		f.codeTTL = DefaultCodeTTL
	}
	if f.accessTTL <= 0 {
		f.accessTTL = DefaultAccessTTL
	}
	for _, c := range opts.Clients {
		f.AddClient(c)
	}
	return f
}

// User is an X account, as GET /2/users/me reports it.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

// newUser fills in the defaults of Options.Username, Name and UserID.
func newUser(username, name, id string) User {
	if username == "" {
		username = DefaultUsername
	}
	if name == "" {
		name = DefaultName
	}
	if id == "" {
		h := fnv.New64a()
		h.Write([]byte(username))
		id = strconv.FormatUint(1_000_000_000_000_000_000+h.Sum64()%8_000_000_000_000_000_000, 10)
	}
	return User{ID: id, Name: name, Username: username}
}

// ServeHTTP serves the authorize page, the consent decision, the token and
// revocation endpoints and GET /2/users/me. Any other path gets X's 404 JSON.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.counts[r.URL.Path]++
	f.mu.Unlock()
	switch r.URL.Path {
	case AuthorizePath:
		f.authorize(w, r)
	case DecidePath:
		f.decide(w, r)
	case TokenPath, RevokePath, UsersMePath:
		f.api(w, r)
	default:
		type apiError struct {
			Message string `json:"message"`
			Code    int    `json:"code"`
		}
		writeReply(w, jsonReply(http.StatusNotFound, struct {
			Errors []apiError `json:"errors"`
		}{[]apiError{{"Sorry, that page does not exist", 34}}}))
	}
}

// Close releases every request held by a Fault with Hang or Delay, so that
// a server can shut down. The Fake keeps serving other requests.
func (f *Fake) Close() {
	f.stopOnce.Do(func() { close(f.stop) })
}

// Now returns the Fake's clock.
func (f *Fake) Now() time.Time { return f.now() }

// AddClient registers c, replacing any client with the same ID.
func (f *Fake) AddClient(c Client) {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[c.ID] = c
}

// SetDeny makes the user refuse: while on, the authorize endpoint (with
// Consent off) redirects with error=access_denied as if the user had
// pressed Cancel. With Consent on, the button pressed decides.
func (f *Fake) SetDeny(deny bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deny = deny
}

// SetUser logs another user in to X in the browser, as a person who signs
// out and in as someone else: every authorization code issued from now on
// (the approval, not the authorize request, decides) belongs to that user,
// and so do the tokens exchanged for it and every token refreshed from
// them; GET /2/users/me answers each token's own user. Tokens issued
// before keep theirs. An empty name or userID gets the default of
// Options (DefaultName; an id derived from username).
func (f *Fake) SetUser(username, name, userID string) {
	u := newUser(username, name, userID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user = u
}

// CurrentUser returns the user logged in to X in the browser: the one the
// next authorization code will belong to.
func (f *Fake) CurrentUser() User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.user
}

// UserOf returns the user an authorization code, access token or refresh
// token the Fake issued belongs to (spent, rotated or revoked ones too),
// and whether the Fake issued it.
func (f *Fake) UserOf(value string) (User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tokens[value]; t != nil {
		return t.user, true
	}
	if c := f.codes[value]; c != nil {
		return c.user, true
	}
	return User{}, false
}

// SetConsent switches the consent page on or off (see Options.Consent).
func (f *Fake) SetConsent(consent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consent = consent
}

// Requests returns a copy of every request received on TokenPath,
// RevokePath and UsersMePath, in order of arrival.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Request, len(f.requests))
	for i, r := range f.requests {
		r.Header = r.Header.Clone()
		r.Form = cloneValues(r.Form)
		if r.Fault != nil {
			fc := *r.Fault
			fc.Header = fc.Header.Clone()
			r.Fault = &fc
		}
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded requests and counts (not the tokens).
func (f *Fake) ResetRequests() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = nil
	f.requestsGen++
	f.authorizations = nil
	clear(f.counts)
	clear(f.grantCounts)
}

// Count returns the number of requests received on path (any path,
// the authorize page included), whatever the answer.
func (f *Fake) Count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[path]
}

// CountGrant returns the number of token requests whose body carried
// grant_type=grantType ("authorization_code", "refresh_token"), whatever
// the answer.
func (f *Fake) CountGrant(grantType string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grantCounts[grantType]
}

// Authorizations returns the query of every request to the authorize
// endpoint, in order: what a client put in its authorize URL.
func (f *Fake) Authorizations() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]url.Values, len(f.authorizations))
	for i, q := range f.authorizations {
		out[i] = cloneValues(q)
	}
	return out
}

// IssueTokens mints a valid token set for clientID directly, as if the
// current user (see SetUser) had logged in, to seed a store in tests.
// scope is space-separated; the
// refresh token is "" unless scope includes offline.access. The client
// need not be registered, but only a registered one can refresh.
func (f *Fake) IssueTokens(clientID, scope string) (access, refresh string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, r := f.issueLocked(clientID, f.user, uniqueFields(scope), &grant{})
	return a.value, refreshValue(r)
}

// IsValidAccessToken reports whether tok is an access token the Fake
// issued that is unrevoked and unexpired by its clock.
func (f *Fake) IsValidAccessToken(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[tok]
	return t != nil && t.access && !t.revoked && f.now().Before(t.expires)
}

// IsValidRefreshToken reports whether tok is a refresh token the Fake
// issued that has been neither used (rotated) nor revoked.
func (f *Fake) IsValidRefreshToken(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[tok]
	return t != nil && !t.access && !t.used && !t.revoked
}

// RevokeToken revokes tok as the revocation endpoint would (a refresh
// token takes its whole grant with it), as if the user had removed the app
// on X. It reports whether tok was a live token of the Fake.
func (f *Fake) RevokeToken(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[tok]
	if t == nil || t.revoked {
		return false
	}
	f.revokeLocked(t)
	return true
}

// RevokedTokens returns every token revoked so far (through the endpoint,
// RevokeToken, or a reused authorization code), in order.
func (f *Fake) RevokedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.revoked)
}

// ExpiresAt returns when access token tok expires, and whether the Fake
// issued it.
func (f *Fake) ExpiresAt(tok string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[tok]
	if t == nil || !t.access {
		return time.Time{}, false
	}
	return t.expires, true
}

// issueLocked mints an access token and, with offline.access, a refresh
// token, both part of g and both belonging to u.
func (f *Fake) issueLocked(clientID string, u User, scope []string, g *grant) (*token, *token) {
	a := &token{
		value:    mint("at"),
		access:   true,
		clientID: clientID,
		user:     u,
		scope:    scope,
		expires:  f.now().Add(f.accessTTL),
		grant:    g,
	}
	f.tokens[a.value] = a
	g.tokens = append(g.tokens, a)
	if !slices.Contains(scope, "offline.access") {
		return a, nil
	}
	r := &token{value: mint("rt"), clientID: clientID, user: u, scope: scope, grant: g}
	f.tokens[r.value] = r
	g.tokens = append(g.tokens, r)
	return a, r
}

// revokeLocked revokes t; a refresh token revokes every token of its grant
// (RFC 7009 section 2.1: the access tokens "based on the same authorization
// grant" SHOULD go too). An access token goes alone.
func (f *Fake) revokeLocked(t *token) {
	if t.access {
		f.markRevokedLocked(t)
		return
	}
	f.revokeGrantLocked(t.grant)
}

func (f *Fake) revokeGrantLocked(g *grant) {
	if g == nil {
		return
	}
	for _, t := range g.tokens {
		f.markRevokedLocked(t)
	}
}

func (f *Fake) markRevokedLocked(t *token) {
	if !t.revoked {
		t.revoked = true
		f.revoked = append(f.revoked, t.value)
	}
}

func refreshValue(t *token) string {
	if t == nil {
		return ""
	}
	return t.value
}

// mint returns a fresh random credential shaped like X's: the base64url
// (no padding) of "<43 random characters>:<unix ms>:1:1:<kind>:1", where
// kind is "ac" (authorization code), "at" or "rt". About 90 characters.
func mint(kind string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("xtest: crypto/rand: " + err.Error())
	}
	raw := base64.RawURLEncoding.EncodeToString(b[:]) + ":" +
		strconv.FormatInt(time.Now().UnixMilli(), 10) + ":1:1:" + kind + ":1"
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// uniqueFields splits a space-separated list, dropping repeats.
func uniqueFields(s string) []string {
	var out []string
	for _, f := range strings.Split(s, " ") {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// reply is an answer not yet written.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func writeReply(w http.ResponseWriter, rp reply) {
	for k, vs := range rp.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rp.status)
	_, _ = w.Write(rp.body)
}

func htmlReply(status int, body []byte) reply {
	return reply{status: status, header: http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {"default-src 'none'; style-src 'unsafe-inline'"},
		"X-Frame-Options":         {"DENY"},
		"Referrer-Policy":         {"no-referrer"},
	}, body: body}
}

// sniffContentType guesses the Content-Type of a fault body.
func sniffContentType(body string) string {
	b := bytes.TrimSpace([]byte(body))
	switch {
	case len(b) == 0:
		return ""
	case b[0] == '{' || b[0] == '[':
		return "application/json;charset=utf-8"
	case b[0] == '<':
		return "text/html; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// Secrets returns every secret value the fake has handed out or taken in:
// authorization codes, the PKCE verifiers sent to
// redeem them, and every access and refresh token, so tests can check that
// none of them reaches output it must not reach.
func (f *Fake) Secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for c := range f.codes {
		out = append(out, c)
	}
	for v := range f.tokens {
		out = append(out, v)
	}
	for _, r := range f.requests {
		if v := r.Form.Get("code_verifier"); v != "" {
			out = append(out, v)
		}
	}
	return out
}
