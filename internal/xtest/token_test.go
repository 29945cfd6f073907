package xtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type tokenJSON struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
}

func decodeToken(t *testing.T, r response) tokenJSON {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token request: %d %s", r.status, r.body)
	}
	wantJSON(t, r)
	var tj tokenJSON
	if err := json.Unmarshal([]byte(r.body), &tj); err != nil {
		t.Fatalf("token response %s: %v", r.body, err)
	}
	return tj
}

// login runs authorize and exchange for the public client.
func login(t *testing.T, s *Server, scope string) tokenJSON {
	t.Helper()
	q := authParams(publicID)
	q.Set("scope", scope)
	return decodeToken(t, post(t, s.TokenURL(), exchangeForm(code(t, s, q), rfcVerifier), "", ""))
}

var tokenBodyRe = regexp.MustCompile(`^\{"token_type":"bearer","expires_in":7200,"access_token":"[A-Za-z0-9_-]{80,}","scope":"tweet\.read users\.read offline\.access","refresh_token":"[A-Za-z0-9_-]{80,}"\}$`)

func TestExchangeS256AppendixB(t *testing.T) {
	s := start(t, Options{})
	r := post(t, s.TokenURL(), exchangeForm(code(t, s, authParams(publicID)), rfcVerifier), "", "")
	if r.status != http.StatusOK || !tokenBodyRe.MatchString(r.body) {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if r.header.Get("Content-Type") != "application/json;charset=utf-8" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", r.header)
	}
	tj := decodeToken(t, r)
	if !s.IsValidAccessToken(tj.AccessToken) || !s.IsValidRefreshToken(tj.RefreshToken) {
		t.Error("issued tokens are not valid")
	}
	if s.IsValidAccessToken(tj.RefreshToken) || s.IsValidRefreshToken(tj.AccessToken) {
		t.Error("access and refresh tokens are interchangeable")
	}
}

func TestExchangePlain(t *testing.T) {
	s := start(t, Options{})
	q := authParams(publicID)
	q.Set("code_challenge_method", "plain")
	q.Set("code_challenge", rfcVerifier)
	wantBody(t, post(t, s.TokenURL(), exchangeForm(code(t, s, q), rfcChallenge), "", ""), 400, invalidJSON)
	decodeToken(t, post(t, s.TokenURL(), exchangeForm(code(t, s, q), rfcVerifier), "", ""))
}

func TestExchangeRejectsBadVerifier(t *testing.T) {
	s := start(t, Options{})
	for name, v := range map[string]string{
		"other verifier": strings.Repeat("a", 43),
		"the challenge":  rfcChallenge,
		"42 chars":       rfcVerifier[:42],
		"129 chars":      rfcVerifier + strings.Repeat("a", 86),
		"bad character":  rfcVerifier[:42] + "+",
		"with padding":   rfcVerifier + "=",
	} {
		t.Run(name, func(t *testing.T) {
			wantBody(t, post(t, s.TokenURL(), exchangeForm(code(t, s, authParams(publicID)), v), "", ""), 400, invalidJSON)
		})
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	s := start(t, Options{})
	c := code(t, s, authParams(publicID))
	tj := decodeToken(t, post(t, s.TokenURL(), exchangeForm(c, rfcVerifier), "", ""))
	wantBody(t, post(t, s.TokenURL(), exchangeForm(c, rfcVerifier), "", ""), 400, invalidJSON)
	// The replay revokes what the code gave (RFC 6749 section 4.1.2).
	if s.IsValidAccessToken(tj.AccessToken) || s.IsValidRefreshToken(tj.RefreshToken) {
		t.Fatal("tokens from a replayed code still valid")
	}
	wantBody(t, usersMe(t, s, tj.AccessToken), 401, unauthorized)
	if got := s.RevokedTokens(); len(got) != 2 {
		t.Fatalf("RevokedTokens() = %d tokens, want 2", len(got))
	}
	// A failed attempt spends the code too.
	c = code(t, s, authParams(publicID))
	wantBody(t, post(t, s.TokenURL(), exchangeForm(c, strings.Repeat("b", 43)), "", ""), 400, invalidJSON)
	wantBody(t, post(t, s.TokenURL(), exchangeForm(c, rfcVerifier), "", ""), 400, invalidJSON)
	if n := s.CountGrant("authorization_code"); n != 4 {
		t.Fatalf("CountGrant = %d, want 4", n)
	}
}

func TestCodeExpiresAfter30s(t *testing.T) {
	clock := NewClock(t0)
	s := start(t, Options{Now: clock.Now})
	c := code(t, s, authParams(publicID))
	clock.Advance(30 * time.Second)
	decodeToken(t, post(t, s.TokenURL(), exchangeForm(c, rfcVerifier), "", ""))

	c = code(t, s, authParams(publicID))
	clock.Advance(30*time.Second + time.Nanosecond)
	wantBody(t, post(t, s.TokenURL(), exchangeForm(c, rfcVerifier), "", ""), 400, invalidJSON)

	s2 := start(t, Options{Now: clock.Now, CodeTTL: time.Second})
	c = code(t, s2, authParams(publicID))
	clock.Advance(2 * time.Second)
	wantBody(t, post(t, s2.TokenURL(), exchangeForm(c, rfcVerifier), "", ""), 400, invalidJSON)
}

func TestExchangeChecksRedirectAndClient(t *testing.T) {
	s := start(t, Options{})
	s.AddClient(Client{ID: "p2", RedirectURIs: []string{redirect, redirect + "/"}})

	f := exchangeForm(code(t, s, authParams(publicID)), rfcVerifier)
	f.Set("redirect_uri", redirect+"/")
	wantBody(t, post(t, s.TokenURL(), f, "", ""), 400, invalidJSON)

	f = exchangeForm(code(t, s, authParams(publicID)), rfcVerifier)
	f.Set("client_id", "p2")
	wantBody(t, post(t, s.TokenURL(), f, "", ""), 400, invalidJSON)

	wantBody(t, post(t, s.TokenURL(), exchangeForm("no-such-code", rfcVerifier), "", ""), 400, invalidJSON)

	for _, k := range []string{"code", "redirect_uri", "code_verifier"} {
		f = exchangeForm(code(t, s, authParams(publicID)), rfcVerifier)
		f.Del(k)
		wantBody(t, post(t, s.TokenURL(), f, "", ""), 400,
			`{"error":"invalid_request","error_description":"Missing required parameter [`+k+`]."}`)
	}
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	s := start(t, Options{})
	q := authParams(publicID)
	q.Set("scope", "tweet.read users.read")
	r := post(t, s.TokenURL(), exchangeForm(code(t, s, q), rfcVerifier), "", "")
	if tj := decodeToken(t, r); tj.Scope != "tweet.read users.read" || strings.Contains(r.body, "refresh_token") {
		t.Fatalf("got %s", r.body)
	}
}

func TestConfidentialClientNeedsBasic(t *testing.T) {
	s := start(t, Options{})
	confCode := func() url.Values {
		f := exchangeForm(code(t, s, authParams(confID)), rfcVerifier)
		f.Del("client_id")
		return f
	}
	send := func(f url.Values, authz string) response {
		req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		return do(t, req)
	}
	basic := func(id, secret string) string {
		r, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		r.SetBasicAuth(id, secret)
		return r.Header.Get("Authorization")
	}

	t.Run("Basic form-encoded", func(t *testing.T) {
		decodeToken(t, post(t, s.TokenURL(), confCode(), confID, confSecret))
	})
	t.Run("Basic with client_id in body too", func(t *testing.T) {
		f := confCode()
		f.Set("client_id", confID)
		decodeToken(t, post(t, s.TokenURL(), f, confID, confSecret))
	})
	bad := map[string]func() response{
		"no header": func() response { f := confCode(); f.Set("client_id", confID); return send(f, "") },
		"secret in body": func() response {
			f := confCode()
			f.Set("client_id", confID)
			f.Set("client_secret", confSecret)
			return send(f, "")
		},
		"wrong secret":     func() response { return send(confCode(), basic(confID, "wrong")) },
		"not form-encoded": func() response { return send(confCode(), basic(confID, confSecret)) },
		"bearer":           func() response { return send(confCode(), "Bearer "+confSecret) },
		"body id differs": func() response {
			f := confCode()
			f.Set("client_id", publicID)
			return post(t, s.TokenURL(), f, confID, confSecret)
		},
		"unknown client":     func() response { return send(confCode(), basic("nobody", confSecret)) },
		"malformed base64":   func() response { return send(confCode(), "Basic !!!") },
		"bad percent-escape": func() response { return send(confCode(), basic(confID, "%zz")) },
	}
	for name, fn := range bad {
		t.Run(name, func(t *testing.T) { wantBody(t, fn(), 401, missingAuth) })
	}
	// A request refused for its client authentication leaves the code usable.
	f := confCode()
	wantBody(t, send(f, basic(confID, "wrong")), 401, missingAuth)
	decodeToken(t, post(t, s.TokenURL(), f, confID, confSecret))
}

func TestPublicClientSendsClientID(t *testing.T) {
	s := start(t, Options{})
	f := exchangeForm(code(t, s, authParams(publicID)), rfcVerifier)
	wantBody(t, post(t, s.TokenURL(), f, publicID, ""), 401, missingAuth) // Basic without a secret
	f2 := url.Values{}
	for k, v := range f {
		f2[k] = v
	}
	f2.Del("client_id")
	wantBody(t, post(t, s.TokenURL(), f2, "", ""), 401, missingAuth)
	f2.Set("client_id", publicID)
	f2.Set("client_secret", "x")
	wantBody(t, post(t, s.TokenURL(), f2, "", ""), 401, missingAuth)
	f.Set("client_secret", "") // an empty secret is no secret
	decodeToken(t, post(t, s.TokenURL(), f, "", ""))
}

func TestRefreshRotates(t *testing.T) {
	clock := NewClock(t0)
	s := start(t, Options{Now: clock.Now})
	first := login(t, s, defaultScope)

	clock.Advance(time.Hour)
	second := decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, first.RefreshToken), "", ""))
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", second)
	}
	if second.Scope != defaultScope || second.ExpiresIn != 7200 || second.TokenType != "bearer" {
		t.Fatalf("refresh answer %+v", second)
	}
	// The old refresh token is dead at once; reusing it changes nothing else.
	wantBody(t, post(t, s.TokenURL(), refreshForm(publicID, first.RefreshToken), "", ""), 400, invalidJSON)
	if !s.IsValidRefreshToken(second.RefreshToken) || !s.IsValidAccessToken(second.AccessToken) {
		t.Fatal("the reuse of an old refresh token killed the new pair")
	}
	// The old access token lives until its own expiry.
	if r := usersMe(t, s, first.AccessToken); r.status != 200 {
		t.Fatalf("old access token: %d", r.status)
	}
	clock.Advance(time.Hour)
	wantBody(t, usersMe(t, s, first.AccessToken), 401, unauthorized)
	if r := usersMe(t, s, second.AccessToken); r.status != 200 {
		t.Fatalf("new access token: %d", r.status)
	}
	third := decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, second.RefreshToken), "", ""))
	if third.RefreshToken == second.RefreshToken {
		t.Fatal("no rotation on the second refresh")
	}
	if n := s.CountGrant("refresh_token"); n != 3 {
		t.Fatalf("CountGrant(refresh_token) = %d, want 3", n)
	}
}

func TestRefreshRules(t *testing.T) {
	s := start(t, Options{})
	s.AddClient(Client{ID: "p2", RedirectURIs: []string{redirect}})
	tj := login(t, s, defaultScope)

	wantBody(t, post(t, s.TokenURL(), refreshForm("p2", tj.RefreshToken), "", ""), 400, invalidJSON)
	wantBody(t, post(t, s.TokenURL(), refreshForm(publicID, tj.AccessToken), "", ""), 400, invalidJSON)
	wantBody(t, post(t, s.TokenURL(), refreshForm(publicID, "nonsense"), "", ""), 400, invalidJSON)
	wantBody(t, post(t, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "client_id": {publicID}}, "", ""), 400,
		`{"error":"invalid_request","error_description":"Missing required parameter [refresh_token]."}`)

	f := refreshForm(publicID, tj.RefreshToken)
	f.Set("scope", "tweet.read tweet.write")
	if r := post(t, s.TokenURL(), f, "", ""); r.status != 400 || !strings.Contains(r.body, `"invalid_scope"`) {
		t.Fatalf("wider scope: %d %s", r.status, r.body)
	}
	f.Set("scope", "tweet.read offline.access")
	narrow := decodeToken(t, post(t, s.TokenURL(), f, "", ""))
	if narrow.Scope != "tweet.read offline.access" || narrow.RefreshToken == "" {
		t.Fatalf("narrowed refresh: %+v", narrow)
	}

	// A confidential client refreshes with Basic only.
	access, refresh := s.IssueTokens(confID, defaultScope)
	if access == "" || refresh == "" {
		t.Fatal("IssueTokens gave no pair")
	}
	f = refreshForm(confID, refresh)
	wantBody(t, post(t, s.TokenURL(), f, "", ""), 401, missingAuth)
	decodeToken(t, post(t, s.TokenURL(), refreshForm("", refresh), confID, confSecret))
}

func TestTokenEndpointRequestRules(t *testing.T) {
	s := start(t, Options{})
	r := get(t, s.TokenURL())
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	wantJSON(t, r)

	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(`{"grant_type":"refresh_token"}`))
	req.Header.Set("Content-Type", "application/json")
	if r := do(t, req); r.status != 400 || !strings.Contains(r.body, "invalid_request") {
		t.Fatalf("JSON body: %d %s", r.status, r.body)
	}
	req, _ = http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader("grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id="+publicID))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	wantBody(t, do(t, req), 400, `{"error":"invalid_request","error_description":"Duplicate parameter [refresh_token]."}`)

	if r := post(t, s.TokenURL(), url.Values{"grant_type": {"password"}, "client_id": {publicID}}, "", ""); r.status != 400 ||
		!strings.HasPrefix(r.body, `{"error":"unsupported_grant_type",`) {
		t.Fatalf("password grant: %d %s", r.status, r.body)
	}
	wantBody(t, post(t, s.TokenURL(), url.Values{"client_id": {publicID}}, "", ""), 400,
		`{"error":"invalid_request","error_description":"Missing required parameter [grant_type]."}`)
	big := url.Values{"client_id": {publicID}, "pad": {strings.Repeat("a", MaxBodyBytes)}}
	if r := post(t, s.TokenURL(), big, "", ""); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body: %d", r.status)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	s := start(t, Options{})
	c := code(t, s, authParams(confID))
	f := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect}, "code_verifier": {rfcVerifier}}
	tj := decodeToken(t, post(t, s.TokenURL(), f, confID, confSecret))
	usersMe(t, s, tj.AccessToken)
	post(t, s.RevokeURL(), url.Values{"token": {tj.RefreshToken}}, confID, confSecret)

	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded, want 3 (authorize is not recorded)", len(reqs))
	}
	tr := reqs[0]
	if tr.Method != "POST" || tr.Path != TokenPath || tr.RawBody != f.Encode() || tr.Form.Get("code") != c || tr.Status != 200 || tr.Fault != nil {
		t.Fatalf("token request %+v", tr)
	}
	if got, want := tr.Header.Get("Authorization"), "Basic "; !strings.HasPrefix(got, want) {
		t.Fatalf("Authorization %q", got)
	}
	if reqs[1].Path != UsersMePath || reqs[1].Header.Get("Authorization") != "Bearer "+tj.AccessToken || reqs[1].Status != 200 || reqs[1].Form != nil {
		t.Fatalf("users/me request %+v", reqs[1])
	}
	if reqs[2].Path != RevokePath || reqs[2].Form.Get("token") != tj.RefreshToken || reqs[2].Status != 200 {
		t.Fatalf("revoke request %+v", reqs[2])
	}
	if s.Count(TokenPath) != 1 || s.Count(RevokePath) != 1 || s.CountGrant("authorization_code") != 1 || s.CountGrant("refresh_token") != 0 {
		t.Fatal("counts wrong")
	}
	// Requests returns copies.
	reqs[0].Header.Set("Authorization", "changed")
	if s.Requests()[0].Header.Get("Authorization") == "changed" {
		t.Fatal("Requests shares its headers")
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 || s.Count(TokenPath) != 0 || len(s.Authorizations()) != 0 {
		t.Fatal("ResetRequests kept something")
	}
}

func TestRevoke(t *testing.T) {
	s := start(t, Options{})
	revoked := `{"revoked":true}`
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {"never-issued"}, "client_id": {publicID}}, "", ""), 200, revoked)

	tj := login(t, s, defaultScope)
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {tj.AccessToken}, "token_type_hint": {"access_token"}, "client_id": {publicID}}, "", ""), 200, revoked)
	wantBody(t, usersMe(t, s, tj.AccessToken), 401, unauthorized)
	if !s.IsValidRefreshToken(tj.RefreshToken) {
		t.Fatal("revoking the access token killed the refresh token")
	}
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {tj.AccessToken}, "client_id": {publicID}}, "", ""), 200, revoked)

	// Revoking a refresh token takes the grant's access tokens with it.
	tj = login(t, s, defaultScope)
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {tj.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {publicID}}, "", ""), 200, revoked)
	wantBody(t, post(t, s.TokenURL(), refreshForm(publicID, tj.RefreshToken), "", ""), 400, invalidJSON)
	if s.IsValidAccessToken(tj.AccessToken) {
		t.Fatal("access token of a revoked grant still valid")
	}
	if got := s.RevokedTokens(); len(got) != 3 || got[0] == got[1] {
		t.Fatalf("RevokedTokens() = %v", got)
	}

	// Same client authentication as the token endpoint.
	access, refresh := s.IssueTokens(confID, defaultScope)
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {refresh}, "client_id": {confID}}, "", ""), 401, missingAuth)
	// Another client's token is left alone, but the answer is the same.
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {access}, "client_id": {publicID}}, "", ""), 200, revoked)
	if !s.IsValidAccessToken(access) {
		t.Fatal("a client revoked another client's token")
	}
	wantBody(t, post(t, s.RevokeURL(), url.Values{"token": {refresh}}, confID, confSecret), 200, revoked)
	if s.IsValidAccessToken(access) || s.IsValidRefreshToken(refresh) {
		t.Fatal("confidential revoke did not revoke")
	}
	wantBody(t, post(t, s.RevokeURL(), url.Values{"client_id": {publicID}}, "", ""), 400,
		`{"error":"invalid_request","error_description":"Missing required parameter [token]."}`)
	if r := get(t, s.RevokeURL()); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET revoke: %d", r.status)
	}
}

func TestUsersMe(t *testing.T) {
	clock := NewClock(t0)
	s := start(t, Options{Now: clock.Now, Username: "ada", Name: "Ada L", UserID: "42"})
	tj := login(t, s, defaultScope)
	r := usersMe(t, s, tj.AccessToken)
	wantBody(t, r, 200, `{"data":{"id":"42","name":"Ada L","username":"ada"}}`)
	wantJSON(t, r)

	wantBody(t, usersMe(t, s, ""), 401, unauthorized)
	wantBody(t, usersMe(t, s, "bogus"), 401, unauthorized)
	wantBody(t, usersMe(t, s, tj.RefreshToken), 401, unauthorized)
	req, _ := http.NewRequest(http.MethodGet, s.APIURL()+UsersMePath, nil)
	req.Header.Set("Authorization", "bearer "+tj.AccessToken)
	if r := do(t, req); r.status != 200 {
		t.Fatalf("lower-case scheme: %d", r.status)
	}
	req.Header.Set("Authorization", "Basic "+tj.AccessToken)
	wantBody(t, do(t, req), 401, unauthorized)
	if r := usersMe(t, s, ""); r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("401 Content-Type %q", r.header.Get("Content-Type"))
	}

	exp, ok := s.ExpiresAt(tj.AccessToken)
	if !ok || !exp.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("ExpiresAt = %v %v", exp, ok)
	}
	clock.Set(exp.Add(-time.Nanosecond))
	if r := usersMe(t, s, tj.AccessToken); r.status != 200 {
		t.Fatalf("just before expiry: %d", r.status)
	}
	clock.Set(exp)
	wantBody(t, usersMe(t, s, tj.AccessToken), 401, unauthorized)

	other := login(t, s, defaultScope)
	if !s.RevokeToken(other.AccessToken) || s.RevokeToken(other.AccessToken) {
		t.Fatal("RevokeToken results wrong")
	}
	wantBody(t, usersMe(t, s, other.AccessToken), 401, unauthorized)

	noUsers := login(t, s, "tweet.read offline.access")
	r = usersMe(t, s, noUsers.AccessToken)
	if r.status != 403 || !strings.HasPrefix(r.body, `{"title":"Forbidden","type":"about:blank","status":403,"detail":`) || !strings.Contains(r.body, "users.read") {
		t.Fatalf("missing scope: %d %s", r.status, r.body)
	}
	wantJSON(t, r)

	req, _ = http.NewRequest(http.MethodPost, s.APIURL()+UsersMePath, nil)
	if r := do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST users/me: %d", r.status)
	}
}

func TestUsersMeDefaults(t *testing.T) {
	s := start(t, Options{})
	access, _ := s.IssueTokens(publicID, "tweet.read users.read")
	r := usersMe(t, s, access)
	if !regexp.MustCompile(`^\{"data":\{"id":"[1-9][0-9]{18}","name":"twauth dev user","username":"twauth_dev"\}\}$`).MatchString(r.body) {
		t.Fatalf("got %s", r.body)
	}
}

func TestIssueTokens(t *testing.T) {
	s := start(t, Options{AccessTTL: time.Minute})
	access, refresh := s.IssueTokens(publicID, "tweet.read")
	if access == "" || refresh != "" || !s.IsValidAccessToken(access) {
		t.Fatalf("IssueTokens without offline.access: %q %q", access, refresh)
	}
	_, refresh = s.IssueTokens(publicID, defaultScope)
	tj := decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, refresh), "", ""))
	if tj.ExpiresIn != 60 {
		t.Fatalf("expires_in %d with AccessTTL 1m", tj.ExpiresIn)
	}
}

func TestTokensAreUnpredictable(t *testing.T) {
	s := start(t, Options{})
	seen := map[string]bool{}
	for range 200 {
		a, r := s.IssueTokens(publicID, defaultScope)
		for _, tok := range []string{a, r} {
			if seen[tok] || len(tok) < 80 || !isBase64URL(tok) {
				t.Fatalf("token %q repeated or malformed", tok)
			}
			seen[tok] = true
		}
	}
}

func TestUnknownPath(t *testing.T) {
	s := start(t, Options{})
	r := get(t, s.URL()+"/2/tweets")
	wantBody(t, r, 404, `{"errors":[{"message":"Sorry, that page does not exist","code":34}]}`)
	wantJSON(t, r)
}

func TestConcurrentLogins(t *testing.T) {
	s := start(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := authParams(publicID)
			q.Set("state", fmt.Sprint(i))
			resp, err := noFollow.Get(s.AuthURL() + "?" + q.Encode())
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			resp, err = http.PostForm(s.TokenURL(), exchangeForm(loc.Query().Get("code"), rfcVerifier))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("exchange %d: %d", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.CountGrant("authorization_code"); n != 20 {
		t.Fatalf("CountGrant = %d", n)
	}
}
