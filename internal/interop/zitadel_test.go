package interop

// Interop tests: twauth against zitadel/oidc v3.52.0's example OpenID
// Provider (example/server/exampleop + example/server/storage), served
// in-process on 127.0.0.1 by httptest. The browser is formBrowser: it
// fills zitadel's example login form. Nothing leaves 127.0.0.1.
//
// What zitadel's example OP does differently from X, as these tests
// observe it, is summed up on each test and in TestZitadelDiscovery.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/pkce"
)

// TestZitadelDiscovery records what the OP's discovery document says.
// Differences from X: X publishes no discovery document at all; zitadel
// names the refresh scope offline_access (X: offline.access), the
// authorization endpoint /auth, the token endpoint /oauth/token, the
// revocation endpoint /revoke, and does not announce RFC 9207 iss.
func TestZitadelDiscovery(t *testing.T) {
	w := startOP(t, opOptions{})
	d := w.disc
	if d.Issuer != w.issuer {
		t.Errorf("issuer %q, want %q", d.Issuer, w.issuer)
	}
	t.Logf("authorization_endpoint %s, token_endpoint %s, revocation_endpoint %s, userinfo_endpoint %s",
		d.AuthorizationEndpoint, d.TokenEndpoint, d.RevocationEndpoint, d.UserinfoEndpoint)
	mustContain(t, "code_challenge_methods_supported", d.CodeChallengeMethodsSupported, "S256")
	mustContain(t, "scopes_supported", d.ScopesSupported, "offline_access")
	mustContain(t, "token_endpoint_auth_methods_supported", d.TokenEndpointAuthMethodsSupported, "none")
	mustContain(t, "token_endpoint_auth_methods_supported", d.TokenEndpointAuthMethodsSupported, "client_secret_basic")
	mustContain(t, "grant_types_supported", d.GrantTypesSupported, "refresh_token")
	if has(d.ScopesSupported, "offline.access") {
		t.Errorf("scopes_supported has X's offline.access: %v", d.ScopesSupported)
	}
	if d.AuthorizationResponseIssParameterSupported != nil && *d.AuthorizationResponseIssParameterSupported {
		t.Errorf("authorization_response_iss_parameter_supported is true: TestZitadelIssuer's expectations are out of date")
	}
	t.Logf("revocation_endpoint_auth_methods_supported = %v; authorization_response_iss_parameter_supported = %v",
		d.RevocationEndpointAuthMethodsSupported, d.AuthorizationResponseIssParameterSupported)
}

func mustContain(t *testing.T, what string, list []string, x string) {
	t.Helper()
	if !has(list, x) {
		t.Errorf("%s = %v, lacks %q", what, list, x)
	}
}

// TestZitadelLogin: `twauth login` with a public native client and S256,
// in both of exampleop's serving modes.
func TestZitadelLogin(t *testing.T) {
	for _, mode := range []struct {
		name   string
		legacy bool
	}{{"provider", false}, {"legacy-server", true}} {
		t.Run(mode.name, func(t *testing.T) {
			w := startOP(t, opOptions{legacy: mode.legacy})
			w.writeConfig("# app config\nclientId = \"" + publicID + "\"\n\n[myorg.app]\nlevel = \"INFO\" # keep me\n")
			before := time.Now()
			r := w.twauth("login")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\nbrowser: %v %v", r.code, r.stderr, w.browser.visited, w.browser.err)
			}
			if r.stdout != "" {
				t.Errorf("login wrote to stdout: %q", r.stdout)
			}
			t.Logf("login took %s; stderr:\n%s", r.elapsed, r.stderr)

			// The authorization request, as the OP got it.
			auths := w.requests(http.MethodGet, w.disc.AuthorizationEndpoint)
			if len(auths) != 1 {
				t.Fatalf("%d authorization requests", len(auths))
			}
			q := auths[0].Query
			if q.Get("client_id") != publicID || q.Get("redirect_uri") != w.redirect || q.Get("response_type") != "code" ||
				q.Get("code_challenge_method") != "S256" || q.Get("scope") != scopes {
				t.Errorf("authorization query = %v", q)
			}
			// The browser went through zitadel's login form to twauth's page.
			if w.browser.forms != 1 || w.browser.lastStatus != http.StatusOK || !strings.Contains(w.browser.lastBody, "You are signed in") {
				t.Errorf("browser: %d forms, ended on %d %s\n%v", w.browser.forms, w.browser.lastStatus, w.browser.lastURL, w.browser.visited)
			}
			cbs := w.callbacks()
			if len(cbs) != 1 {
				t.Fatalf("%d callbacks: %v", len(cbs), w.browser.visited)
			}
			cq := cbs[0].Query()
			if cq.Get("state") != q.Get("state") || cq.Get("code") == "" {
				t.Errorf("callback query = %v", cq)
			}
			// zitadel sends no RFC 9207 iss on the callback (neither does X).
			if cq.Has("iss") {
				t.Errorf("the callback has iss=%q: update TestZitadelIssuer and the notes", cq.Get("iss"))
			}

			// The token request: one, public client auth (client_id in the
			// body, no Authorization), the verifier of the S256 challenge.
			toks := w.requests(http.MethodPost, w.disc.TokenEndpoint)
			if len(toks) != 1 {
				t.Fatalf("%d token requests, want 1", len(toks))
			}
			tr := toks[0]
			verifier := tr.Form.Get("code_verifier")
			if tr.Authorization != "" || tr.Form.Get("client_id") != publicID || tr.Form.Has("client_secret") ||
				tr.Form.Get("grant_type") != "authorization_code" || tr.Form.Get("redirect_uri") != w.redirect ||
				tr.Form.Get("code") != cq.Get("code") || pkce.Challenge(verifier, pkce.S256) != q.Get("code_challenge") {
				t.Errorf("token request: Authorization %q, form %v", tr.Authorization, tr.Form)
			}
			if tr.Status != http.StatusOK {
				t.Errorf("token endpoint answered %d: %s", tr.Status, tr.Body)
			}
			// What zitadel answers where X differs: token_type "Bearer"
			// (X: "bearer"), expires_in 300 or so (X: 7200), an id_token.
			t.Logf("token answer (tokens cut): %s", cutTokens(tr.Body))
			if !strings.Contains(tr.Body, `"token_type":"Bearer"`) || !strings.Contains(tr.Body, `"id_token"`) {
				t.Errorf("token answer: %s", cutTokens(tr.Body))
			}

			// The store: both tokens, token_type normalized, expiry from
			// expires_in, the scopes zitadel granted.
			e := w.entry(publicID)
			if e == nil {
				t.Fatal("no store entry")
			}
			if e.AccessToken == "" || e.RefreshToken == "" || e.TokenType != "bearer" || e.Scope != scopes || e.Confidential ||
				e.Username != "" || e.TokenURL != w.disc.TokenEndpoint {
				t.Errorf("store entry = %+v", e)
			}
			if life := e.Expiry.Sub(before); life < 4*time.Minute || life > 5*time.Minute+2*time.Second {
				t.Errorf("access token lives %s, want about 5 minutes", life)
			}
			// Config.toml: the access token inserted before the first
			// table, every other byte kept.
			want := "# app config\nclientId = \"" + publicID + "\"\ntoken = \"" + e.AccessToken + "\"\n\n[myorg.app]\nlevel = \"INFO\" # keep me\n"
			if got := w.readConfig(); got != want {
				t.Errorf("Config.toml =\n%s\nwant\n%s", got, want)
			}
			// The access token works at the OP.
			if st, info := w.userinfo(e.AccessToken); st != http.StatusOK || info["sub"] != "id1" || info["preferred_username"] != w.username {
				t.Errorf("userinfo: %d %v", st, info)
			}
			// No /2/users/me: the scopes have no users.read and tweet.read.
			for _, rq := range w.all() {
				if strings.HasPrefix(rq.Path, "/2/") {
					t.Errorf("twauth asked the OP for %s", rq.Path)
				}
			}
		})
	}
}

// cutTokens shortens the token values of a token answer for a log.
func cutTokens(body string) string {
	out := body
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		i := strings.Index(out, `"`+k+`":"`)
		if i < 0 {
			continue
		}
		start := i + len(k) + 4
		end := strings.IndexByte(out[start:], '"')
		if end > 8 {
			out = out[:start+4] + "…" + out[start+end:]
		}
	}
	return out
}

// TestZitadelRefresh: `twauth refresh` against zitadel. zitadel rotates
// the refresh token on every refresh, as X does; unlike X (as far as X
// documents) it also kills the previous access token at once. A used
// refresh token gets 400 invalid_grant (X: invalid_request), which twauth
// reads as "log in again" (exit 4) all the same.
func TestZitadelRefresh(t *testing.T) {
	w := startOP(t, opOptions{})
	e0 := w.login()

	r := w.twauth("refresh", "--json")
	if r.code != 0 {
		t.Fatalf("refresh: exit %d\n%s", r.code, r.stderr)
	}
	m := decodeJSON(t, r.stdout)
	at1, rt1 := m["access_token"].(string), m["refresh_token"].(string)
	if at1 == "" || at1 == e0.AccessToken {
		t.Errorf("refresh kept or lost the access token: %v", m)
	}
	if rt1 == "" || rt1 == e0.RefreshToken {
		t.Fatalf("zitadel did not rotate the refresh token: %v", m)
	}
	if m["token_type"] != "bearer" || m["scope"] != scopes {
		t.Errorf("refresh --json = %v", m)
	}
	e1 := w.entry(publicID)
	if e1.AccessToken != at1 || e1.RefreshToken != rt1 {
		t.Errorf("the store does not hold the rotated pair: %+v", e1)
	}
	if !strings.Contains(w.readConfig(), `token = "`+at1+`"`) {
		t.Errorf("Config.toml lacks the new access token:\n%s", w.readConfig())
	}
	// The wire: a refresh_token grant, public client auth, no scope.
	toks := w.requests(http.MethodPost, w.disc.TokenEndpoint)
	rq := toks[len(toks)-1]
	if rq.Authorization != "" || rq.Form.Get("client_id") != publicID || rq.Form.Get("grant_type") != "refresh_token" ||
		rq.Form.Get("refresh_token") != e0.RefreshToken || rq.Form.Has("scope") || rq.Status != http.StatusOK {
		t.Errorf("refresh request: %d, Authorization %q, form keys %v", rq.Status, rq.Authorization, keys(rq.Form))
	}

	// The new access token works; the old pair is dead at the OP.
	if st, info := w.userinfo(at1); st != http.StatusOK || info["sub"] != "id1" {
		t.Errorf("userinfo with the new access token: %d %v", st, info)
	}
	if st, _ := w.userinfo(e0.AccessToken); st == http.StatusOK {
		t.Errorf("the access token before the refresh still works")
	}
	st, ans := w.refreshAtOP(e0.RefreshToken)
	if st != http.StatusBadRequest || ans["error"] != "invalid_grant" {
		t.Errorf("the rotated-out refresh token: %d %v, want 400 invalid_grant", st, ans)
	}
	// twauth reads zitadel's invalid_grant as "log in again" (exit 4).
	r = w.twauth("refresh", "--refresh-token", e0.RefreshToken)
	if r.code != 4 || !strings.Contains(r.stderr, "invalid_grant") {
		t.Errorf("refresh with the used refresh token: exit %d, want 4\n%s", r.code, r.stderr)
	}
	if e := w.entry(publicID); e.RefreshToken != rt1 {
		t.Errorf("a failed refresh changed the store")
	}

	// The chain goes on.
	r = w.twauth("refresh")
	if r.code != 0 {
		t.Fatalf("second refresh: exit %d\n%s", r.code, r.stderr)
	}
	e2 := w.entry(publicID)
	if e2.RefreshToken == rt1 || e2.AccessToken == at1 {
		t.Errorf("the second refresh did not rotate")
	}
	if st, _ := w.userinfo(e2.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo after the second refresh: %d", st)
	}

	// zitadel's access tokens live 5 minutes (X: 2 hours), no longer
	// than twauth token's default --min-valid of 5m: as twauth stands,
	// every `twauth token` then refreshes (and rotates).
	n := len(w.requests(http.MethodPost, w.disc.TokenEndpoint))
	r = w.twauth("token")
	if r.code != 0 {
		t.Fatalf("token: exit %d\n%s", r.code, r.stderr)
	}
	e3 := w.entry(publicID)
	if got := strings.TrimSpace(r.stdout); got != e3.AccessToken {
		t.Errorf("twauth token printed a token that is not the stored one")
	}
	if st, _ := w.userinfo(e3.AccessToken); st != http.StatusOK {
		t.Errorf("userinfo with the token of twauth token: %d", st)
	}
	refreshed := len(w.requests(http.MethodPost, w.disc.TokenEndpoint)) - n
	t.Logf("twauth token (--min-valid 5m) on a fresh %s token: %d refresh(es)", e2.Expiry.Sub(e2.UpdatedAt), refreshed)
	n += refreshed
	r = w.twauth("token", "--min-valid", "1m")
	if got := strings.TrimSpace(r.stdout); r.code != 0 || got != e3.AccessToken || len(w.requests(http.MethodPost, w.disc.TokenEndpoint)) != n {
		t.Errorf("twauth token --min-valid 1m: exit %d, refreshed or printed another token\n%s", r.code, r.stderr)
	}
}

// TestZitadelRevoke: `twauth revoke` revokes at zitadel (RFC 7009) with
// public client auth: client_id in the body, which zitadel requires
// (without it: 401 invalid_client).
func TestZitadelRevoke(t *testing.T) {
	w := startOP(t, opOptions{})
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	e := w.login()
	// status --verify asks X's /2/users/me, which an OpenID provider does
	// not have (its userinfo endpoint is another URL with another answer).
	r := w.twauth("status", "--verify")
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 404") {
		t.Errorf("status --verify: exit %d, want 1 (404 from /2/users/me)\n%s", r.code, r.stderr)
	}
	r = w.twauth("revoke")
	if r.code != 0 {
		t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Revoked at X: refresh token and access token.") {
		t.Errorf("revoke says:\n%s", r.stderr)
	}
	revs := w.requests(http.MethodPost, w.disc.RevocationEndpoint)
	if len(revs) != 2 {
		t.Fatalf("%d revocation requests, want 2", len(revs))
	}
	for i, want := range []struct{ token, hint string }{{e.RefreshToken, "refresh_token"}, {e.AccessToken, "access_token"}} {
		rv := revs[i]
		if rv.Status != http.StatusOK || rv.Authorization != "" || rv.Form.Get("client_id") != publicID ||
			rv.Form.Get("token") != want.token || rv.Form.Get("token_type_hint") != want.hint {
			t.Errorf("revocation %d: %d, Authorization %q, form keys %v hint %q", i, rv.Status, rv.Authorization, keys(rv.Form), rv.Form.Get("token_type_hint"))
		}
	}
	// Both tokens are dead at the OP.
	if st, ans := w.refreshAtOP(e.RefreshToken); st != http.StatusBadRequest || ans["error"] != "invalid_grant" {
		t.Errorf("the revoked refresh token: %d %v", st, ans)
	}
	if st, _ := w.userinfo(e.AccessToken); st == http.StatusOK {
		t.Errorf("the revoked access token still works")
	}
	// And gone here.
	if got := w.readConfig(); got != "clientId = \""+publicID+"\"\n" {
		t.Errorf("Config.toml after revoke:\n%s", got)
	}
	if w.entry(publicID) != nil {
		t.Errorf("the store still has the entry")
	}
	if r := w.twauth("refresh"); r.code != 4 {
		t.Errorf("refresh after revoke: exit %d, want 4\n%s", r.code, r.stderr)
	}
	// Without client_id zitadel refuses a public client's revocation.
	resp, body := w.do(http.MethodPost, w.disc.RevocationEndpoint, url.Values{"token": {"x"}}, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("revocation without client auth: %d %s", resp.StatusCode, body)
	}
}

// TestZitadelIssuer: zitadel's example OP sends no iss on the callback
// (RFC 9207) and does not announce authorization_response_iss_parameter_supported;
// twauth --issuer accepts a callback without iss. A shim in front of the OP
// then adds iss=<issuer> to its redirects, to exercise twauth's check
// against a real OP: the right --issuer passes, a wrong one makes twauth
// refuse the callback with a 400 page and keep waiting, and the login ends
// with exit 3 at --timeout, the code never redeemed.
func TestZitadelIssuer(t *testing.T) {
	t.Run("zitadel as is, --issuer", func(t *testing.T) {
		w := startOP(t, opOptions{})
		w.login("--issuer", w.issuer)
		if cb := w.callbacks(); len(cb) != 1 || cb[0].Query().Has("iss") {
			t.Errorf("callbacks %v", cb)
		}
	})
	t.Run("iss shim, no --issuer", func(t *testing.T) {
		w := startOP(t, opOptions{sendIss: true})
		w.login()
		if cb := w.callbacks(); len(cb) != 1 || cb[0].Query().Get("iss") != w.issuer {
			t.Errorf("callbacks %v", cb)
		}
	})
	t.Run("iss shim, --issuer right", func(t *testing.T) {
		w := startOP(t, opOptions{sendIss: true})
		w.login("--issuer", w.issuer)
		if cb := w.callbacks(); len(cb) != 1 || cb[0].Query().Get("iss") != w.issuer {
			t.Errorf("callbacks %v", cb)
		}
	})
	t.Run("iss shim, --issuer wrong", func(t *testing.T) {
		w := startOP(t, opOptions{sendIss: true})
		w.writeConfig("clientId = \"" + publicID + "\"\n")
		r := w.twauth("login", "--issuer", "http://wrong.example", "--timeout", "3s")
		if r.code != 3 {
			t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
		}
		if r.elapsed < 3*time.Second {
			t.Errorf("login gave up after %s, before --timeout", r.elapsed)
		}
		if cb := w.callbacks(); len(cb) != 1 || cb[0].Query().Get("iss") != w.issuer {
			t.Errorf("callbacks %v", cb)
		}
		if w.browser.lastStatus != http.StatusBadRequest || !strings.Contains(w.browser.lastBody, "unexpected authorization server") {
			t.Errorf("browser ended on %d:\n%s", w.browser.lastStatus, w.browser.lastBody)
		}
		for _, s := range []string{"refused a callback", "RFC 9207", "still waiting", "within 3s"} {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
			}
		}
		if n := len(w.requests(http.MethodPost, w.disc.TokenEndpoint)); n != 0 {
			t.Errorf("%d token requests: the code of a refused callback was redeemed", n)
		}
		if w.entry(publicID) != nil || w.readConfig() != "clientId = \""+publicID+"\"\n" {
			t.Errorf("a refused login saved something")
		}
	})
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

// TestZitadelXScopes: X's scope names at zitadel. zitadel drops every
// scope it does not know instead of refusing the request, so X's
// offline.access (OIDC: offline_access) brings no refresh token, and the
// login succeeds with no scope granted. twauth stores a token it cannot
// renew: refresh says "log in again" (exit 4).
func TestZitadelXScopes(t *testing.T) {
	w := startOP(t, opOptions{})
	e := w.login("--scopes", "tweet.read users.read offline.access")
	q := w.requests(http.MethodGet, w.disc.AuthorizationEndpoint)[0].Query
	if q.Get("scope") != "tweet.read users.read offline.access" {
		t.Errorf("scope sent: %q", q.Get("scope"))
	}
	toks := w.requests(http.MethodPost, w.disc.TokenEndpoint)
	t.Logf("token answer (tokens cut): %s", cutTokens(toks[0].Body))
	if e.RefreshToken != "" || e.Scope != "" {
		t.Errorf("store entry: refresh token %v, scope %q; want none granted", e.RefreshToken != "", e.Scope)
	}
	// twauth only calls /2/users/me when users.read and tweet.read were
	// granted; zitadel granted neither.
	for _, rq := range w.all() {
		if strings.HasPrefix(rq.Path, "/2/") {
			t.Errorf("twauth asked the OP for %s", rq.Path)
		}
	}
	if r := w.twauth("refresh"); r.code != 4 || !strings.Contains(r.stderr, "no refresh token") {
		t.Errorf("refresh: exit %d, want 4\n%s", r.code, r.stderr)
	}
}

// TestZitadelConfidentialClient: a web client with a secret. twauth
// authenticates with HTTP Basic, both parts form-encoded first (RFC 6749
// section 2.3.1), at the token and the revocation endpoint; zitadel
// decodes them the same way, so a secret with reserved characters works.
func TestZitadelConfidentialClient(t *testing.T) {
	w := startOP(t, opOptions{})
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	e := w.login("--client-id", confID)
	if !e.Confidential || e.RefreshToken == "" {
		t.Errorf("store entry = %+v", e)
	}
	if r := w.twauth("refresh", "--client-id", confID); r.code != 0 {
		t.Fatalf("refresh: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.twauth("revoke", "--client-id", confID); r.code != 0 {
		t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(confID)+":"+url.QueryEscape(confSecret)))
	reqs := append(w.requests(http.MethodPost, w.disc.TokenEndpoint), w.requests(http.MethodPost, w.disc.RevocationEndpoint)...)
	if len(reqs) != 4 {
		t.Fatalf("%d token and revocation requests, want 4", len(reqs))
	}
	for i, rq := range reqs {
		if rq.Status != http.StatusOK || rq.Authorization != wantAuth || rq.Form.Has("client_id") || rq.Form.Has("client_secret") {
			t.Errorf("request %d to %s: %d, Basic %v, form keys %v", i, rq.Path, rq.Status, rq.Authorization == wantAuth, keys(rq.Form))
		}
	}
	// A wrong secret: zitadel answers invalid_client, twauth exit 2.
	e = w.login("--client-id", confID)
	w.env["TWAUTH_CLIENT_SECRET"] = "wrong"
	if r := w.twauth("refresh", "--client-id", confID); r.code != 2 || !strings.Contains(r.stderr, "invalid_client") {
		t.Errorf("refresh with a wrong secret: exit %d, want 2\n%s", r.code, r.stderr)
	}
	if w.entry(confID).RefreshToken != e.RefreshToken {
		t.Errorf("a refused refresh changed the store")
	}
}
