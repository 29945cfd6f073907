package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/pkce"
)

// recorded is one request as the fake endpoint saw it.
type recorded struct {
	Method, Path, Body, Authorization, ContentType string
}

// endpoint is an httptest server answering each request with the next
// handler in answers (the last one repeats) and recording every request.
type endpoint struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	answers []http.HandlerFunc
}

func newEndpoint(t *testing.T, answers ...http.HandlerFunc) *endpoint {
	t.Helper()
	e := &endpoint{answers: answers}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.reqs = append(e.reqs, recorded{r.Method, r.URL.Path, string(body), r.Header.Get("Authorization"), r.Header.Get("Content-Type")})
		i := len(e.reqs) - 1
		if i >= len(e.answers) {
			i = len(e.answers) - 1
		}
		h := e.answers[i]
		e.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) requests() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.reqs...)
}

func jsonAnswer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const goodToken = `{"token_type":"bearer","expires_in":7200,"access_token":"AT-1","scope":"tweet.read users.read offline.access","refresh_token":"RT-2"}`

var fixedNow = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// sleeps records the waits of a RetryPolicy without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return nil
}

func newClient(e *endpoint, secret string, sl *sleeps) *Client {
	c := &Client{
		ClientID:     "cid-123",
		ClientSecret: secret,
		AuthURL:      e.URL + "/i/oauth2/authorize",
		TokenURL:     e.URL + "/2/oauth2/token",
		RevokeURL:    e.URL + "/2/oauth2/revoke",
		APIURL:       e.URL,
		HTTP:         &http.Client{Timeout: 5 * time.Second},
		Now:          func() time.Time { return fixedNow },
	}
	if sl != nil {
		c.Retry.Sleep = sl.sleep
	}
	return c
}

// problem is the Problem of err, or -1 when err carries none.
func problem(err error) Problem {
	var se *ServerError
	var ae *APIError
	switch {
	case errors.As(err, &se):
		return se.Problem
	case errors.As(err, &ae):
		return ae.Problem
	}
	return -1
}

// speaksForItself fails t when msg names a command or a flag (the command
// line adds those) or is not one line of printable text.
func speaksForItself(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(msg, "twauth") || strings.Contains(msg, "--") {
		t.Errorf("error names a command or a flag: %q", msg)
	}
	for _, r := range msg {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e {
			t.Errorf("error holds %U: %q", r, msg)
		}
	}
}

func TestAuthorizeURL(t *testing.T) {
	c := &Client{ClientID: "cid 1", AuthURL: "https://x.example/i/oauth2/authorize"}
	got, err := c.AuthorizeURL(AuthRequest{
		RedirectURI: "http://127.0.0.1:8765/callback",
		Scopes:      []string{"tweet.read", "users.read", "offline.access"},
		State:       "st+ate",
		PKCE:        pkce.Pair{Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Method: pkce.S256},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "https://x.example/i/oauth2/authorize?response_type=code&client_id=cid%201" +
		"&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=tweet.read%20users.read%20offline.access" +
		"&state=st%2Bate&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
	if got != want {
		t.Fatalf("AuthorizeURL =\n %s\nwant\n %s", got, want)
	}

	// The default endpoint is X's, and a query already in the URL is kept.
	c = &Client{ClientID: "c"}
	got, _ = c.AuthorizeURL(AuthRequest{PKCE: pkce.Pair{Method: pkce.Plain}})
	if !strings.HasPrefix(got, "https://x.com/i/oauth2/authorize?response_type=code&client_id=c&") || !strings.HasSuffix(got, "code_challenge_method=plain") {
		t.Fatalf("default AuthorizeURL = %s", got)
	}
	c = &Client{ClientID: "c", AuthURL: "https://x.example/auth?prompt=consent"}
	got, _ = c.AuthorizeURL(AuthRequest{})
	if !strings.HasPrefix(got, "https://x.example/auth?prompt=consent&response_type=code&") {
		t.Fatalf("AuthorizeURL dropped the existing query: %s", got)
	}
	for _, bad := range []string{"ftp://x.example/a", "not a url", "/relative"} {
		c = &Client{ClientID: "c", AuthURL: bad}
		if _, err := c.AuthorizeURL(AuthRequest{}); err == nil {
			t.Errorf("AuthorizeURL accepted auth URL %q", bad)
		}
	}
}

func TestExchangePublicClientWire(t *testing.T) {
	e := newEndpoint(t, jsonAnswer(200, goodToken))
	c := newClient(e, "", nil)
	tok, err := c.Exchange(context.Background(), "CODE-1", "verifier-abc", "http://127.0.0.1:8765/callback")
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	wantBody := "client_id=cid-123&code=CODE-1&code_verifier=verifier-abc&grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
	if r.Method != "POST" || r.Path != "/2/oauth2/token" || r.Body != wantBody || r.Authorization != "" || r.ContentType != "application/x-www-form-urlencoded" {
		t.Fatalf("request = %+v\nwant POST /2/oauth2/token body %s, no Authorization", r, wantBody)
	}
	want := Token{AccessToken: "AT-1", RefreshToken: "RT-2", TokenType: "bearer", Expiry: fixedNow.Add(2 * time.Hour), Scope: "tweet.read users.read offline.access"}
	if *tok != want {
		t.Fatalf("token = %+v, want %+v", *tok, want)
	}
}

func TestExchangeConfidentialClientWire(t *testing.T) {
	e := newEndpoint(t, jsonAnswer(200, goodToken))
	c := newClient(e, "s3cr:et/+", nil)
	if _, err := c.Exchange(context.Background(), "CODE-1", "v", "http://127.0.0.1:8765/callback"); err != nil {
		t.Fatal(err)
	}
	r := e.requests()[0]
	// RFC 6749 section 2.3.1: id and secret form-encoded, then Basic.
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("cid-123:s3cr%3Aet%2F%2B"))
	wantBody := "code=CODE-1&code_verifier=v&grant_type=authorization_code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
	if r.Authorization != wantAuth || r.Body != wantBody {
		t.Fatalf("Authorization = %q, body = %q\nwant %q, %q", r.Authorization, r.Body, wantAuth, wantBody)
	}
}

func TestExchangeErrorsAreNeverRetried(t *testing.T) {
	cases := []struct {
		name    string
		answer  http.HandlerFunc
		secret  string
		problem Problem
		want    string // the whole message
	}{
		{"invalid code", jsonAnswer(400, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`), "", ProblemCodeRejected,
			"X refused to exchange the authorization code: invalid_request (Value passed for the token was invalid.)"},
		{"confidential without secret", jsonAnswer(401, `{"error":"unauthorized_client","error_description":"Missing valid authorization header"}`), "", ProblemSecretMissing,
			"X refused to exchange the authorization code: unauthorized_client (Missing valid authorization header)"},
		{"wrong secret", jsonAnswer(401, `{"error":"unauthorized_client","error_description":"Missing valid authorization header"}`), "wrong", ProblemSecretRejected,
			"X refused to exchange the authorization code: unauthorized_client (Missing valid authorization header)"},
		{"invalid_client", jsonAnswer(401, `{"error":"invalid_client"}`), "wrong", ProblemSecretRejected,
			"X refused to exchange the authorization code: invalid_client"},
		{"invalid_grant", jsonAnswer(400, `{"error":"invalid_grant"}`), "", ProblemCodeRejected,
			"X refused to exchange the authorization code: invalid_grant"},
		{"invalid_scope", jsonAnswer(400, `{"error":"invalid_scope","error_description":"bad scope"}`), "", ProblemScope,
			"X refused to exchange the authorization code: invalid_scope (bad scope)"},
		{"access_denied", jsonAnswer(403, `{"error":"access_denied"}`), "", ProblemDenied,
			"X refused to exchange the authorization code: access_denied"},
		{"503", jsonAnswer(503, `{"title":"Service Unavailable"}`), "", ProblemServerFailing, "X could not exchange the authorization code: HTTP 503 Service Unavailable"},
		{"429", jsonAnswer(429, `{"title":"Too Many Requests"}`), "", ProblemRateLimited, "X could not exchange the authorization code: HTTP 429 Too Many Requests"},
		{"404", jsonAnswer(404, `{"errors":[{"message":"Sorry, that page does not exist","code":34}]}`), "", ProblemNotFound, "X refused to exchange the authorization code: HTTP 404 Not Found"},
		{"html 502", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1>SECRET-PAGE</body></html>")
		}, "", ProblemServerFailing, "X could not exchange the authorization code: HTTP 502 Bad Gateway with a text/html page instead of an OAuth answer"},
		{"no access_token", jsonAnswer(200, `{"token_type":"bearer","expires_in":7200}`), "", -1,
			"X's answer to the request to exchange the authorization code is unusable (HTTP 200): the answer has no access_token; nothing was saved"},
		{"mac token", jsonAnswer(200, `{"token_type":"mac","expires_in":7200,"access_token":"AT"}`), "", -1,
			`X's answer to the request to exchange the authorization code is unusable (HTTP 200): token_type is "mac", not bearer; nothing was saved`},
		{"no token_type", jsonAnswer(200, `{"expires_in":7200,"access_token":"AT"}`), "", -1,
			"X's answer to the request to exchange the authorization code is unusable (HTTP 200): the answer has no token_type; nothing was saved"},
		{"expires_in missing", jsonAnswer(200, `{"token_type":"bearer","access_token":"AT"}`), "", -1,
			"X's answer to the request to exchange the authorization code is unusable (HTTP 200): expires_in is missing, zero or negative; nothing was saved"},
		{"expires_in zero", jsonAnswer(200, `{"token_type":"bearer","access_token":"AT","expires_in":0}`), "", -1,
			"X's answer to the request to exchange the authorization code is unusable (HTTP 200): expires_in is missing, zero or negative; nothing was saved"},
		{"expires_in negative", jsonAnswer(200, `{"token_type":"bearer","access_token":"AT","expires_in":-5}`), "", -1,
			"X's answer to the request to exchange the authorization code is unusable (HTTP 200): expires_in is missing, zero or negative; nothing was saved"},
		{"not json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>hello SECRET-PAGE</html>")
		}, "", -1, "X's answer to the request to exchange the authorization code is unusable (HTTP 200): the answer is text/html, not JSON; nothing was saved"},
		{"2 MB body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"`+strings.Repeat("A", 2<<20)+`"}`)
		}, "", -1, "X's answer to the request to exchange the authorization code is unusable (HTTP 200): the answer is larger than 1 MB; nothing was saved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEndpoint(t, tc.answer)
			c := newClient(e, tc.secret, nil)
			tok, err := c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
			if err == nil {
				t.Fatalf("Exchange succeeded: %+v", tok)
			}
			if n := len(e.requests()); n != 1 {
				t.Errorf("%d requests, want exactly 1 (a code is never retried)", n)
			}
			if got := problem(err); got != tc.problem {
				t.Errorf("problem %v, want %v (%v)", got, tc.problem, err)
			}
			if msg := err.Error(); msg != tc.want {
				t.Errorf("error\n %q\nwant\n %q", msg, tc.want)
			}
			var se *ServerError
			if errors.As(err, &se) && se.RedirectURI != "http://127.0.0.1:8765/callback" {
				t.Errorf("RedirectURI = %q, want the one the exchange sent", se.RedirectURI)
			}
			speaksForItself(t, err.Error())
		})
	}
}

func TestRefreshWireAndRotation(t *testing.T) {
	e := newEndpoint(t, jsonAnswer(200, goodToken))
	c := newClient(e, "", nil)
	tok, err := c.Refresh(context.Background(), "RT-1")
	if err != nil {
		t.Fatal(err)
	}
	r := e.requests()[0]
	if want := "client_id=cid-123&grant_type=refresh_token&refresh_token=RT-1"; r.Body != want || r.Authorization != "" {
		t.Fatalf("body %q auth %q, want %q and none", r.Body, r.Authorization, want)
	}
	if tok.RefreshToken != "RT-2" || tok.AccessToken != "AT-1" {
		t.Fatalf("token = %+v", tok)
	}

	// A server that does not rotate leaves the old refresh token in force.
	e = newEndpoint(t, jsonAnswer(200, `{"token_type":"bearer","expires_in":7200,"access_token":"AT-9"}`))
	c = newClient(e, "sec", nil)
	tok, err = c.Refresh(context.Background(), "RT-1")
	if err != nil || tok.RefreshToken != "RT-1" {
		t.Fatalf("non-rotating refresh = %+v, %v", tok, err)
	}
	if r := e.requests()[0]; r.Body != "grant_type=refresh_token&refresh_token=RT-1" || !strings.HasPrefix(r.Authorization, "Basic ") {
		t.Fatalf("confidential refresh request = %+v", r)
	}
}

func TestRefreshRejectedIsLoginNeeded(t *testing.T) {
	e := newEndpoint(t, jsonAnswer(400, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`))
	sl := &sleeps{}
	_, err := newClient(e, "", sl).Refresh(context.Background(), "RT-old")
	var se *ServerError
	if !errors.As(err, &se) || se.Problem != ProblemRefreshRejected || !se.Rejected() || se.Op != OpRefresh ||
		err.Error() != "X refused to refresh the token: invalid_request (Value passed for the token was invalid.)" {
		t.Fatalf("err = %v (%#v), want a rejected refresh token", err, err)
	}
	if len(e.requests()) != 1 || len(sl.d) != 0 {
		t.Fatalf("a rejected refresh token was retried")
	}
	_, err = newClient(e, "", sl).Refresh(context.Background(), "")
	var ln *LoginNeededError
	if !errors.As(err, &ln) || err.Error() != "no refresh token is stored" {
		t.Fatalf("empty refresh token: %v", err)
	}
}

func TestRefreshRetries(t *testing.T) {
	unavailable := jsonAnswer(503, `{"title":"Service Unavailable"}`)
	t.Run("503 then success", func(t *testing.T) {
		e := newEndpoint(t, unavailable, jsonAnswer(200, goodToken))
		sl := &sleeps{}
		tok, err := newClient(e, "", sl).Refresh(context.Background(), "RT-1")
		if err != nil || tok.AccessToken != "AT-1" {
			t.Fatalf("Refresh = %+v, %v", tok, err)
		}
		if len(e.requests()) != 2 || len(sl.d) != 1 || sl.d[0] < time.Second || sl.d[0] > 1200*time.Millisecond {
			t.Fatalf("%d requests, waits %v; want 2 and one wait of 1-1.2 s", len(e.requests()), sl.d)
		}
	})
	t.Run("Retry-After honoured", func(t *testing.T) {
		limited := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			jsonAnswer(429, `{"title":"Too Many Requests"}`)(w, r)
		}
		e := newEndpoint(t, limited, jsonAnswer(200, goodToken))
		sl := &sleeps{}
		if _, err := newClient(e, "", sl).Refresh(context.Background(), "RT-1"); err != nil {
			t.Fatal(err)
		}
		if len(sl.d) != 1 || sl.d[0] != 7*time.Second {
			t.Fatalf("waits %v, want [7s]", sl.d)
		}
	})
	t.Run("Retry-After too long", func(t *testing.T) {
		limited := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "900")
			jsonAnswer(429, `{}`)(w, r)
		}
		e := newEndpoint(t, limited)
		sl := &sleeps{}
		_, err := newClient(e, "", sl).Refresh(context.Background(), "RT-1")
		if problem(err) != ProblemRateLimited || len(e.requests()) != 1 {
			t.Fatalf("err %v after %d requests", err, len(e.requests()))
		}
	})
	t.Run("bounded", func(t *testing.T) {
		e := newEndpoint(t, unavailable)
		sl := &sleeps{}
		_, err := newClient(e, "", sl).Refresh(context.Background(), "RT-1")
		if problem(err) != ProblemServerFailing || len(e.requests()) != 4 {
			t.Fatalf("err %v after %d requests, want a failing server after 4", err, len(e.requests()))
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
		for i, d := range sl.d {
			if d < want[i] || d > want[i]+want[i]/5 {
				t.Errorf("wait %d = %v, want %v plus up to a fifth", i, d, want[i])
			}
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		sl := &sleeps{}
		c := &Client{ClientID: "c", TokenURL: "http://" + addr + "/2/oauth2/token", Retry: RetryPolicy{Sleep: sl.sleep}}
		_, err = c.Refresh(context.Background(), "RT-1")
		var ne *NetworkError
		if !errors.As(err, &ne) || len(sl.d) != 3 || !strings.Contains(err.Error(), "cannot reach "+addr) {
			t.Fatalf("err %v, waits %v: want a NetworkError after 3 retries", err, sl.d)
		}
	})
}

func TestRefreshLostResponse(t *testing.T) {
	drop := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	e := newEndpoint(t, drop, jsonAnswer(200, goodToken))
	sl := &sleeps{}
	_, err := newClient(e, "", sl).Refresh(context.Background(), "RT-1")
	var lost *LostResponseError
	if !errors.As(err, &lost) {
		t.Fatalf("err = %v, want LostResponseError", err)
	}
	if len(e.requests()) != 1 {
		t.Fatalf("%d requests: a refresh whose answer was lost was sent again", len(e.requests()))
	}
	host := strings.TrimPrefix(e.URL, "http://")
	want := "the request to refresh the token was sent and no answer came back, so X may already have used the refresh token and issued a new one that never arrived: request to " + host + " failed: EOF"
	if err.Error() != want || lost.Op != OpRefresh || lost.TimedOut() {
		t.Errorf("error\n %q\nwant\n %q", err, want)
	}
}

func TestTimeout(t *testing.T) {
	block := make(chan struct{})
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	defer close(block)
	c := newClient(e, "", &sleeps{})
	c.HTTP = &http.Client{Timeout: 100 * time.Millisecond}
	host := strings.TrimPrefix(e.URL, "http://")
	_, err := c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:1/cb")
	var lost *LostResponseError
	want := "the request to exchange the authorization code was sent and no answer came back, so X may have used the code: no answer from " + host + " in time"
	if !errors.As(err, &lost) || !lost.TimedOut() || err.Error() != want {
		t.Fatalf("err = %v, want\n %s", err, want)
	}
	_, err = c.Refresh(context.Background(), "RT")
	if !errors.As(err, &lost) || !lost.TimedOut() || len(e.requests()) != 2 || !strings.HasSuffix(err.Error(), "no answer from "+host+" in time") {
		t.Fatalf("refresh timeout: err = %v after %d requests; want LostResponseError, no retry", err, len(e.requests()))
	}
	// Not yet sent: a network error that says so.
	ne := &NetworkError{Op: OpMe, Host: "api.x.example", Err: context.DeadlineExceeded}
	if !ne.TimedOut() || ne.Error() != "could not look up the user: no answer from api.x.example in time" {
		t.Fatalf("NetworkError = %q", ne)
	}
}

func TestTLSFailureNamesHostAndReason(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := &Client{ClientID: "c", TokenURL: srv.URL + "/2/oauth2/token", HTTP: &http.Client{Timeout: 5 * time.Second}}
	_, err := c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:1/cb")
	host := strings.TrimPrefix(srv.URL, "https://")
	if err == nil || !strings.Contains(err.Error(), "TLS with "+host+" failed") || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("err = %v", err)
	}

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	c.TokenURL = strings.Replace(plain.URL, "http:", "https:", 1) + "/t"
	_, err = c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:1/cb")
	if err == nil || !strings.Contains(err.Error(), "did not answer with TLS") {
		t.Fatalf("https to an http server: err = %v", err)
	}
}

func TestRevoke(t *testing.T) {
	e := newEndpoint(t, jsonAnswer(200, `{"revoked":true}`))
	inv, err := newClient(e, "", nil).Revoke(context.Background(), "RT-1", "refresh_token")
	if err != nil || inv {
		t.Fatalf("Revoke = %v, %v", inv, err)
	}
	if r := e.requests()[0]; r.Path != "/2/oauth2/revoke" || r.Body != "client_id=cid-123&token=RT-1&token_type_hint=refresh_token" || r.Authorization != "" {
		t.Fatalf("public revoke request = %+v", r)
	}
	if _, err := newClient(e, "sec", nil).Revoke(context.Background(), "AT-1", "access_token"); err != nil {
		t.Fatal(err)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("cid-123:sec"))
	if r := e.requests()[1]; r.Body != "token=AT-1&token_type_hint=access_token" || r.Authorization != wantAuth {
		t.Fatalf("confidential revoke request = %+v", r)
	}

	e = newEndpoint(t, jsonAnswer(400, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`))
	inv, err = newClient(e, "", nil).Revoke(context.Background(), "dead", "")
	if err != nil || !inv {
		t.Fatalf("revoking an invalid token = %v, %v; want success, already invalid", inv, err)
	}
	e = newEndpoint(t, jsonAnswer(401, `{"error":"unauthorized_client","error_description":"Missing valid authorization header"}`))
	if _, err = newClient(e, "", nil).Revoke(context.Background(), "t", ""); problem(err) != ProblemSecretMissing {
		t.Fatalf("unauthorized revoke: %v", err)
	}
	e = newEndpoint(t, jsonAnswer(503, `{}`), jsonAnswer(200, `{"revoked":true}`))
	sl := &sleeps{}
	if _, err = newClient(e, "", sl).Revoke(context.Background(), "t", ""); err != nil || len(sl.d) != 1 {
		t.Fatalf("revoke after a 503: %v, waits %v", err, sl.d)
	}
}

func TestMe(t *testing.T) {
	var auth string
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		jsonAnswer(200, `{"data":{"id":"1","name":"Dev","username":"twauth_dev"}}`)(w, r)
	}, jsonAnswer(401, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`))
	c := newClient(e, "", nil)
	u, err := c.Me(context.Background(), "AT-1")
	if err != nil || u.Username != "twauth_dev" || auth != "Bearer AT-1" || e.requests()[0].Path != "/2/users/me" {
		t.Fatalf("Me = %+v, %v (Authorization %q)", u, err, auth)
	}
	_, err = c.Me(context.Background(), "AT-1")
	if problem(err) != ProblemTokenRejected || err.Error() != "X refused to look up the user: HTTP 401 Unauthorized (Unauthorized)" {
		t.Fatalf("Me with a dead token: %v", err)
	}
}

// TestOnRefreshAnswerGetsTheRawBody: the hook sees the exact bytes of a 200
// answer, once per answer, before Refresh returns; never an error answer,
// never the answer to a code exchange.
func TestOnRefreshAnswerGetsTheRawBody(t *testing.T) {
	const good = `{"token_type":"bearer","expires_in":7200,"access_token":"AT2","refresh_token":"RT2","scope":"tweet.read"}`
	e := newEndpoint(t, jsonAnswer(503, `{"title":"Service Unavailable"}`), jsonAnswer(200, good), jsonAnswer(400, `{"error":"invalid_request"}`), jsonAnswer(200, good))
	c := newClient(e, "", &sleeps{})
	var got []string
	c.OnRefreshAnswer = func(body []byte) { got = append(got, string(body)) }
	tok, err := c.Refresh(context.Background(), "RT1")
	if err != nil || tok.RefreshToken != "RT2" {
		t.Fatalf("Refresh = %+v, %v", tok, err)
	}
	if len(got) != 1 || got[0] != good {
		t.Fatalf("the hook got %q, want the one 200 answer, verbatim", got)
	}
	if _, err := c.Refresh(context.Background(), "RT1"); err == nil {
		t.Fatal("a rejected refresh succeeded")
	}
	if _, err := c.Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("the hook ran for an error answer or an exchange: %q", got)
	}
}
