package xtest

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 7636 Appendix B.
const (
	rfcVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

const (
	publicID     = "public-app"
	confID       = "conf-app"
	confSecret   = "s3cr:t+/=%&é"
	redirect     = "http://127.0.0.1:8765/callback"
	defaultScope = "tweet.read users.read offline.access"
	invalidJSON  = `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`
	missingAuth  = `{"error":"unauthorized_client","error_description":"Missing valid authorization header"}`
	unauthorized = `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// start serves a Fake with a public and a confidential client on redirect.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.Clients = append(opts.Clients,
		Client{ID: publicID, RedirectURIs: []string{redirect}},
		Client{ID: confID, Secret: confSecret, RedirectURIs: []string{redirect}},
	)
	return Start(t, opts)
}

// noFollow is a client that returns redirects instead of following them.
var noFollow = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// authParams are the parameters of a good authorize request.
func authParams(clientID string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirect},
		"scope":                 {defaultScope},
		"state":                 {"state-123"},
		"code_challenge":        {rfcChallenge},
		"code_challenge_method": {"S256"},
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", req.URL.Path, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func get(t *testing.T, rawURL string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func authorizeWith(t *testing.T, s *Server, q url.Values) response {
	t.Helper()
	return get(t, s.AuthURL()+"?"+q.Encode())
}

// redirectQuery checks that r is a 302 to redirect and returns its query.
func redirectQuery(t *testing.T, r response) url.Values {
	t.Helper()
	if r.status != http.StatusFound {
		t.Fatalf("status %d, want 302; body %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	base, query, _ := strings.Cut(loc, "?")
	if base != redirect {
		t.Fatalf("redirected to %q, want %q", loc, redirect)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// code runs an approved authorize request and returns the code.
func code(t *testing.T, s *Server, q url.Values) string {
	t.Helper()
	rq := redirectQuery(t, authorizeWith(t, s, q))
	if rq.Get("code") == "" {
		t.Fatalf("no code in redirect: %v", rq)
	}
	return rq.Get("code")
}

// post sends form to rawURL; clientID/secret != "" adds Basic with
// form-encoded id and secret, as RFC 6749 section 2.3.1 asks.
func post(t *testing.T, rawURL string, form url.Values, basicID, basicSecret string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return do(t, req)
}

// exchangeForm is the token request for code of the public client.
func exchangeForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirect},
		"code_verifier": {verifier},
		"client_id":     {publicID},
	}
}

func refreshForm(clientID, rt string) url.Values {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if clientID != "" {
		f.Set("client_id", clientID)
	}
	return f
}

func usersMe(t *testing.T, s *Server, access string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.APIURL()+UsersMePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	return do(t, req)
}

func wantBody(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, status, body)
	}
}

func wantJSON(t *testing.T, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
}

// isBase64URL reports whether s is unpadded base64url.
func isBase64URL(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && !strings.ContainsAny(s, "=+/")
}
