// Package oauth speaks OAuth 2.0 to X: it builds the authorization URL,
// exchanges an authorization code, refreshes and revokes tokens, and asks
// /2/users/me who a token belongs to. Token requests go through
// golang.org/x/oauth2 with the client authentication style fixed (never
// auto-detected: against X that can post a code twice).
package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/termtext"
)

// X's endpoints (docs/design.md, "Facts about X").
const (
	DefaultAuthURL   = "https://x.com/i/oauth2/authorize"
	DefaultTokenURL  = "https://api.x.com/2/oauth2/token"
	DefaultRevokeURL = "https://api.x.com/2/oauth2/revoke"
	DefaultAPIURL    = "https://api.x.com"
)

// DefaultScopes are the scopes requested when none are given: enough to read
// and post, to look up the user, and offline.access for a refresh token.
var DefaultScopes = []string{"tweet.read", "tweet.write", "users.read", "follows.read", "offline.access"}

// maxBody is the most twauth reads of any answer from X.
const maxBody = 1 << 20

// Client talks to one X app's OAuth endpoints.
type Client struct {
	// ClientID is the app's OAuth 2.0 client id.
	ClientID string
	// ClientSecret is set for confidential clients (Web App, Automated App),
	// which authenticate with HTTP Basic; empty for public clients, which
	// send client_id in the form body (RFC 6749 section 2.3.1).
	ClientSecret string

	AuthURL, TokenURL, RevokeURL, APIURL string

	// HTTP sends every request. Its Timeout bounds each request; nil means a
	// client with a 30 s timeout.
	HTTP *http.Client
	// Now is the clock expiry times are computed with; nil means time.Now.
	Now func() time.Time
	// Retry governs refresh retries; the zero value means DefaultRetry.
	Retry RetryPolicy
	// OnRefreshAnswer, when set, gets the raw body of every 200 answer to a
	// refresh the moment it has been read, before it is decoded: X has
	// rotated the refresh token by then, and the caller can put the bytes
	// on disk before anything else can go wrong.
	OnRefreshAnswer func(body []byte)
}

// Confidential reports whether the client authenticates with a secret.
func (c *Client) Confidential() bool { return c.ClientSecret != "" }

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// sent lists the credentials a request carries: vals, and the client
// secret with the Basic credential it travels in, in both the form RFC 6749
// section 2.3.1 prescribes (id and secret form-encoded first, as
// golang.org/x/oauth2 and Revoke send it) and the plain one.
func (c *Client) sent(vals ...string) []string {
	if c.ClientSecret == "" {
		return vals
	}
	return append(vals, c.ClientSecret,
		basicCredential(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret)),
		basicCredential(c.ClientID, c.ClientSecret))
}

func basicCredential(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}

func (c *Client) orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func (c *Client) oauth2Config(redirectURI string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if c.Confidential() {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		RedirectURL:  redirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.orDefault(c.AuthURL, DefaultAuthURL),
			TokenURL:  c.orDefault(c.TokenURL, DefaultTokenURL),
			AuthStyle: style,
		},
	}
}

// AuthRequest is what goes into an authorization URL.
type AuthRequest struct {
	RedirectURI string
	Scopes      []string
	State       string
	PKCE        pkce.Pair
}

// AuthorizeURL returns the URL of X's consent page for r (RFC 6749 section
// 4.1.1, RFC 7636 section 4.3). Scopes are joined by spaces and sent as
// %20, as X documents. Parameters already in the authorization URL are kept.
func (c *Client) AuthorizeURL(r AuthRequest) (string, error) {
	base := c.orDefault(c.AuthURL, DefaultAuthURL)
	if err := CheckEndpoint("authorization URL", base); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if c.ClientID == "" {
		return "", errors.New("no client id")
	}
	params := [][2]string{
		{"response_type", "code"},
		{"client_id", c.ClientID},
		{"redirect_uri", r.RedirectURI},
		{"scope", strings.Join(r.Scopes, " ")},
		{"state", r.State},
		{"code_challenge", r.PKCE.Challenge},
		{"code_challenge_method", string(r.PKCE.Method)},
	}
	var b strings.Builder
	b.WriteString(u.RawQuery)
	for _, p := range params {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0])
		b.WriteByte('=')
		// QueryEscape writes a space as "+"; X documents %20. A literal "+"
		// is already %2B by then, so the swap is exact.
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	u.RawQuery = b.String()
	return u.String(), nil
}

// Token is a token set as X issues it.
type Token struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	// Expiry is when the access token dies, computed from expires_in with
	// the client's clock, in UTC and to the second.
	Expiry time.Time
	// Scope is the space-separated list of scopes X granted.
	Scope string
}

// Exchange trades an authorization code for tokens (RFC 6749 section
// 4.1.3) with the PKCE verifier (RFC 7636 section 4.5). It sends exactly one
// request: an authorization code is single-use, so a failed exchange is
// never retried.
//
// The token URL must pass CheckEndpoint; the answer's tokens must be
// RFC 6750 tokens, or it is a *ResponseError and nothing is returned.
func (c *Client) Exchange(ctx context.Context, code, verifier, redirectURI string) (*Token, error) {
	if err := CheckEndpoint("token URL", c.orDefault(c.TokenURL, DefaultTokenURL)); err != nil {
		return nil, err
	}
	conf := c.oauth2Config(redirectURI)
	a := &attempt{secrets: c.sent(code, verifier)}
	ctx = a.bind(ctx, c.httpClient())
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, c.tokenError(OpExchange, a, redirectURI, err)
	}
	return c.checkToken(OpExchange, tok)
}

// Refresh uses refreshToken once to get a new token set (RFC 6749 section
// 6). X rotates refresh tokens: the returned RefreshToken replaces the old
// one, which stops working, so the caller must save it before anything else.
// Answers that prove the request was not acted on (429, 5xx, a connection
// that failed before the request was sent) are retried per c.Retry; a
// request that was sent and got no answer is not, and yields
// *LostResponseError. OnRefreshAnswer hears every 200 answer before it is
// checked, so an answer refused as unusable is still on disk.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	if refreshToken == "" {
		return nil, &LoginNeededError{Reason: "no refresh token is stored"}
	}
	if err := CheckEndpoint("token URL", c.orDefault(c.TokenURL, DefaultTokenURL)); err != nil {
		return nil, err
	}
	conf := c.oauth2Config("")
	policy := c.Retry.withDefaults()
	for try := 0; ; try++ {
		a := &attempt{secrets: c.sent(refreshToken), onOK: c.OnRefreshAnswer}
		actx := a.bind(ctx, c.httpClient())
		// A fresh TokenSource each time: the token source caches nothing
		// across attempts, and the refresh token is sent as given.
		tok, err := conf.TokenSource(actx, &oauth2.Token{RefreshToken: refreshToken}).Token()
		if err == nil {
			t, err := c.checkToken(OpRefresh, tok)
			if err == nil && t.RefreshToken == "" {
				// X always rotates; a server that does not keeps the old one
				// valid (RFC 6749 section 6 allows this).
				t.RefreshToken = refreshToken
			}
			return t, err
		}
		terr := c.tokenError(OpRefresh, a, "", err)
		wait, ok := policy.retryAfter(try, terr)
		if !ok {
			return nil, terr
		}
		if err := policy.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// checkToken turns an oauth2.Token into a Token, refusing answers that are
// not a usable bearer token: a token outside RFC 6750's characters (a
// newline, ESC, NUL) would break `$(twauth token)` and every file it is
// written to.
func (c *Client) checkToken(op Op, tok *oauth2.Token) (*Token, error) {
	bad := func(why string) error {
		return &ResponseError{Op: op, Status: http.StatusOK, Reason: why}
	}
	if tok.AccessToken == "" {
		return nil, bad("the answer has no access_token")
	}
	if !strings.EqualFold(tok.TokenType, "bearer") {
		if tok.TokenType == "" {
			return nil, bad("the answer has no token_type")
		}
		return nil, bad(fmt.Sprintf("token_type is %q, not bearer", termtext.Clip(tok.TokenType, 40)))
	}
	if tok.ExpiresIn <= 0 {
		return nil, bad("expires_in is missing, zero or negative")
	}
	if !ValidToken(tok.AccessToken) {
		return nil, bad("the access_token has characters a bearer token cannot have (RFC 6750 section 2.1)")
	}
	if tok.RefreshToken != "" && !ValidToken(tok.RefreshToken) {
		return nil, bad("the refresh_token has characters a token cannot have (RFC 6750 section 2.1)")
	}
	scope, _ := tok.Extra("scope").(string)
	return &Token{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenType:    "bearer",
		Expiry:       c.now().UTC().Add(time.Duration(tok.ExpiresIn) * time.Second).Truncate(time.Second),
		Scope:        termtext.Safe(scope),
	}, nil
}

// ValidToken reports whether t is a b64token of RFC 6750 section 2.1, the
// syntax of a bearer token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
// "+" / "/" ) *"=". Refresh tokens are held to it too: X's are of that
// alphabet, and twauth writes them where a newline would do harm.
func ValidToken(t string) bool {
	body := strings.TrimRight(t, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}

// OfflineGranted reports whether a granted scope list (space-separated)
// holds the scope that asks for a refresh token: X's offline.access or
// OpenID Connect's offline_access. A token answer without a refresh token
// despite it means the server chose to issue none, not that the scope is
// missing.
func OfflineGranted(scope string) bool {
	for _, s := range strings.Fields(scope) {
		if s == "offline.access" || s == "offline_access" {
			return true
		}
	}
	return false
}
