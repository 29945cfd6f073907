// Package serve answers OAuth 2.0 refresh-token requests on loopback with the
// X access token twauth holds, so that a long-running program refreshes
// through twauth instead of spending X's rotating refresh token itself.
//
// The program (a Ballerina service using ballerina/oauth2's refresh grant, or
// any OAuth 2.0 client) holds local credentials only: a client id, a client
// secret and a refresh-token handle issued by Issue. It never sees X's client
// secret or X's refresh token. The wire format it speaks is described in
// docs/design.md; the answers follow RFC 6749 sections 5.1 and 5.2.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Source gives the X access token, refreshed first when it expires within
// minValid. It is called from one goroutine at a time and must return when
// ctx is done.
type Source interface {
	Token(ctx context.Context, minValid time.Duration) (Token, error)
}

// Token is an X access token.
type Token struct {
	AccessToken string
	Expiry      time.Time
	Scope       string // space-separated scopes granted; empty when unknown
}

// ErrLoginNeeded is what a Source's error wraps when the chain is gone (no
// refresh token, or X rejected it): only a new login can help. The program
// gets 400 invalid_grant; any other error is 503 temporarily_unavailable.
var ErrLoginNeeded = errors.New("login needed")

// Defaults of Options.
const (
	DefaultMinValid       = 5 * time.Minute
	DefaultMargin         = time.Minute
	DefaultTimeout        = 30 * time.Second
	DefaultRefreshTimeout = 2 * time.Minute
	DefaultRetryAfter     = 10 * time.Second

	// MaxBodyBytes bounds a token request's body; a larger one gets 413.
	MaxBodyBytes = 16 << 10
)

// Options configure NewHandler.
type Options struct {
	Source      Source      // required
	Credentials Credentials // the program's local credentials; required

	// MinValid: a token expiring sooner is refreshed before it is handed
	// out (DefaultMinValid).
	MinValid time.Duration
	// Margin is taken off the token's remaining life in expires_in, so the
	// program comes back before the token really expires (DefaultMargin;
	// at most MinValid, so that when it comes back it gets a fresh token).
	Margin time.Duration
	// Timeout bounds how long one request waits for a token (DefaultTimeout);
	// past it the program gets 503 while the refresh goes on. Keep it below
	// NewServer's 45 s write timeout.
	Timeout time.Duration
	// RefreshTimeout bounds one call to Source (DefaultRefreshTimeout).
	RefreshTimeout time.Duration

	// Now is the clock that token expiry is measured with (time.Now).
	Now func() time.Time
	// Log receives one record per request: method, path, status, outcome,
	// latency and, on failure, why; never a token or a credential. Nil logs
	// nothing. Use slog.NewJSONHandler for JSON lines.
	Log *slog.Logger
}

// NewHandler returns the token endpoint: POST /oauth2/token (refresh_token
// grant) and GET /healthz, both only for a loopback Host header.
func NewHandler(opts Options) http.Handler {
	o := opts
	if o.MinValid <= 0 {
		o.MinValid = DefaultMinValid
	}
	if o.Margin <= 0 {
		o.Margin = DefaultMargin
	}
	o.Margin = min(o.Margin, o.MinValid)
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RefreshTimeout <= 0 {
		o.RefreshTimeout = DefaultRefreshTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &handler{opts: o, cache: &cache{src: o.Source, minValid: o.MinValid, timeout: o.RefreshTimeout, now: o.Now}}
}

type handler struct {
	opts  Options
	cache *cache
}

// result is what a request came to, for its log line.
type result struct {
	status  int
	outcome string // "ok", or the OAuth error code
	detail  string // why, for the operator; never a secret
	err     error  // the Source's error, if any
	fresh   bool   // the request waited for a call to the Source
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	res := h.serve(w, r)
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", res.status),
		slog.String("outcome", res.outcome),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if res.fresh {
		attrs = append(attrs, slog.Bool("waited_for_refresh", true))
	}
	if res.detail != "" {
		attrs = append(attrs, slog.String("detail", res.detail))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	level := slog.LevelInfo
	if res.status >= 500 || errors.Is(res.err, ErrLoginNeeded) {
		level = slog.LevelError
	} else if res.status >= 400 {
		level = slog.LevelWarn
	}
	h.opts.Log.LogAttrs(r.Context(), level, "request", attrs...)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) result {
	if !loopbackHost(r) {
		return oauthError(w, http.StatusBadRequest, "invalid_request",
			"the Host header must be 127.0.0.1, [::1] or localhost with this server's port", "Host header not loopback")
	}
	switch r.URL.Path {
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			return oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET", "")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"status":"ok"}`+"\n")
		return result{status: http.StatusOK, outcome: "ok"}
	case "/oauth2/token":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			return oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST", "")
		}
		return h.token(w, r)
	}
	return oauthError(w, http.StatusNotFound, "invalid_request", "not found: the token endpoint is POST /oauth2/token", "")
}

// token answers a refresh-token grant (RFC 6749 section 6).
func (h *handler) token(w http.ResponseWriter, r *http.Request) result {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is over 16 KiB", "")
		}
		return oauthError(w, http.StatusBadRequest, "invalid_request", "the request body could not be read", err.Error())
	}
	p, dup := parseParams(string(body))
	if dup != "" {
		return oauthError(w, http.StatusBadRequest, "invalid_request", "parameter "+dup+" is repeated", "")
	}

	// Client authentication first (RFC 6749 section 2.3.1): Basic, or
	// client_id and client_secret in the body, never both.
	id, secret, basic := r.BasicAuth()
	_, hasID := p["client_id"]
	_, hasSecret := p["client_secret"]
	switch {
	case r.Header.Get("Authorization") != "" && (hasID || hasSecret):
		return oauthError(w, http.StatusBadRequest, "invalid_request", "send the client credentials in the Authorization header or in the body, not both", "")
	case !basic && !hasID && !hasSecret:
		return clientError(w, "no client credentials")
	case !basic:
		id, secret = p["client_id"], p["client_secret"]
	}
	if !h.verifyClient(id, secret) {
		return clientError(w, "wrong client id or secret")
	}

	switch gt, ok := p["grant_type"]; {
	case !ok:
		return oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing", "")
	case !anyForm(gt, func(v string) bool { return v == "refresh_token" }):
		return oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=refresh_token is supported", "")
	}
	switch rt, ok := p["refresh_token"]; {
	case !ok:
		return oauthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is missing", "")
	case !anyForm(rt, h.opts.Credentials.VerifyRefreshToken):
		return oauthError(w, http.StatusBadRequest, "invalid_grant",
			"refresh_token is not the one twauth issued for this program: write it again with `twauth serve --configure`", "unknown refresh token handle")
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	tok, fresh, err := h.cache.token(ctx)
	now := h.opts.Now()
	if err == nil && !tok.Expiry.After(now) {
		err = errors.New("the token source returned an expired token")
	}
	if err != nil {
		res := h.sourceError(w, err)
		res.fresh = fresh
		return res
	}

	if missing := missingScopes(p["scope"], tok.Scope); missing != "" {
		res := oauthError(w, http.StatusBadRequest, "invalid_scope",
			"the X login did not grant "+missing+": run `twauth login` with these scopes", "scope not granted: "+missing)
		res.fresh = fresh
		return res
	}

	// RFC 6749 section 5.1. No refresh_token: the program keeps the handle it
	// has (section 6), which is all the chain it ever needs.
	expiresIn := max(1, int64(tok.Expiry.Sub(now)-h.opts.Margin)/int64(time.Second))
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope,omitempty"`
	}{tok.AccessToken, "bearer", expiresIn, tok.Scope})
	return result{status: http.StatusOK, outcome: "ok", fresh: fresh}
}

func (h *handler) verifyClient(id, secret string) bool {
	return anyForm(id, func(id string) bool {
		return anyForm(secret, func(secret string) bool { return h.opts.Credentials.VerifyClient(id, secret) })
	})
}

func (h *handler) sourceError(w http.ResponseWriter, err error) result {
	if errors.Is(err, ErrLoginNeeded) {
		res := oauthError(w, http.StatusBadRequest, "invalid_grant",
			"the X login is gone (X no longer accepts its refresh token): run `twauth login`", "login needed")
		res.err = err
		return res
	}
	wait := DefaultRetryAfter
	if ra, ok := errors.AsType[interface {
		error
		RetryAfter() time.Duration
	}](err); ok && ra.RetryAfter() > 0 {
		wait = ra.RetryAfter()
	}
	secs := strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10)
	w.Header().Set("Retry-After", secs)
	res := oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable",
		"twauth could not get a fresh X token (its log says why): retry in "+secs+" s", "no token")
	res.err = err
	return res
}

// clientError is the answer to failed client authentication: 401 with a
// Basic challenge (RFC 6749 section 5.2).
func clientError(w http.ResponseWriter, detail string) result {
	w.Header().Set("WWW-Authenticate", `Basic realm="twauth"`)
	return oauthError(w, http.StatusUnauthorized, "invalid_client",
		"client authentication failed: send the clientId and clientSecret that `twauth serve --configure` wrote", detail)
}

func oauthError(w http.ResponseWriter, status int, code, description, detail string) result {
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
	return result{status: status, outcome: code, detail: detail}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // flat structs of strings and ints: cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// loopbackHost reports whether the Host header names a loopback address
// with the port the request came in on, which defeats DNS rebinding.
func loopbackHost(r *http.Request) bool {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		return false
	}
	_, port, err := net.SplitHostPort(local.String())
	if err != nil {
		return false
	}
	host, hport, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, hport = r.Host, "80" // no port: the default one
	}
	switch strings.ToLower(host) {
	case "127.0.0.1", "::1", "localhost":
		return hport == port
	}
	return false
}

// missingScopes returns the requested scopes that granted lacks, joined by
// spaces; none when granted is unknown. Ballerina joins scopes with raw
// spaces; a form-encoding client sends '+' or %20, and no X scope holds '+'.
func missingScopes(requested, granted string) string {
	if granted == "" {
		return ""
	}
	have := strings.Fields(granted)
	var missing []string
	for _, s := range strings.FieldsFunc(decoded(requested), func(r rune) bool { return r == '+' || r == ' ' }) {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return strings.Join(missing, " ")
}
