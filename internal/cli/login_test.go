package cli_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/pkce"
	"github.com/twauth/twauth/internal/xtest"
)

func TestLoginPublicClient(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("# Ballerina config\nclientId = \"" + publicID + "\"\n\n[myorg.app]\nlevel = \"DEBUG\" # keep me\n")
	r := w.run("login")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("login wrote to stdout: %q", r.stdout)
	}

	// The authorization request.
	auths := w.srv.Authorizations()
	if len(auths) != 1 {
		t.Fatalf("%d authorization requests", len(auths))
	}
	q := auths[0]
	if q.Get("client_id") != publicID || q.Get("redirect_uri") != w.redirect || q.Get("code_challenge_method") != "S256" ||
		q.Get("scope") != "tweet.read tweet.write users.read follows.read offline.access" || q.Get("response_type") != "code" {
		t.Errorf("authorization query = %v", q)
	}
	if st, _ := base64.RawURLEncoding.DecodeString(q.Get("state")); len(st) != 32 {
		t.Errorf("state %q is not 32 random bytes in base64url", q.Get("state"))
	}

	// The token request on the wire: exactly one, client_id in the body, no Authorization.
	reqs := w.tokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	tr := reqs[0]
	verifier := tr.Form.Get("code_verifier")
	if !pkce.ValidVerifier(verifier) || pkce.Challenge(verifier, pkce.S256) != q.Get("code_challenge") {
		t.Errorf("verifier %q does not match the challenge", verifier)
	}
	wantBody := url.Values{
		"client_id": {publicID}, "code": {tr.Form.Get("code")}, "code_verifier": {verifier},
		"grant_type": {"authorization_code"}, "redirect_uri": {w.redirect},
	}.Encode()
	if tr.RawBody != wantBody || tr.Header.Get("Authorization") != "" || tr.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("token request body %q, Authorization %q\nwant body %q and no Authorization", tr.RawBody, tr.Header.Get("Authorization"), wantBody)
	}

	// Config.toml: the token inserted before the first table, every other byte kept.
	e := w.entry(publicID)
	if e == nil {
		t.Fatal("no store entry")
	}
	want := "# Ballerina config\nclientId = \"" + publicID + "\"\ntoken = \"" + e.AccessToken + "\"\n\n[myorg.app]\nlevel = \"DEBUG\" # keep me\n"
	if got := w.readConfig(); got != want {
		t.Errorf("Config.toml =\n%s\nwant\n%s", got, want)
	}
	// The store.
	if !w.srv.IsValidAccessToken(e.AccessToken) || !w.srv.IsValidRefreshToken(e.RefreshToken) {
		t.Error("stored tokens are not the ones X issued")
	}
	if !e.Expiry.Equal(t0.Add(2*time.Hour)) || e.Scope != "tweet.read tweet.write users.read follows.read offline.access" ||
		e.TokenURL != w.srv.TokenURL() || e.Confidential || e.Username != "twauth_dev" || e.TokenType != "bearer" {
		t.Errorf("store entry = %+v", e)
	}
	raw, _ := os.ReadFile(w.store)
	if !strings.Contains(string(raw), `"expiry": "2026-12-01T12:00:00Z"`) {
		t.Errorf("expiry is not RFC 3339 UTC:\n%s", raw)
	}
	if m := fileMode(t, w.store); m != 0o600 {
		t.Errorf("store mode %o", m)
	}
	if m := fileMode(t, filepath.Dir(w.store)); m != 0o700 {
		t.Errorf("store dir mode %o", m)
	}
	// The success page and the summary.
	if w.browser.LastStatus != 200 || !strings.Contains(w.browser.LastBody, "You are signed in") {
		t.Errorf("browser ended on %d %q", w.browser.LastStatus, w.browser.LastBody)
	}
	for _, s := range []string{"Open this URL", w.srv.AuthURL() + "?response_type=code", "Logged in to X as @twauth_dev (app " + publicID + ", public client)", "key token", "2026-12-01 12:00:00 UTC (in 2h)"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	// The listener is gone.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", w.port), time.Second); err == nil {
		c.Close()
		t.Error("the listener outlived the login")
	}
}

func TestLoginConfidentialClientSecretFromConfig(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + confID + "\"\nclientSecret = \"" + confSecret + "\"\ntoken = \"old\"\n")
	r := w.run("login", "--refresh-token-key", "refreshToken")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	tr := w.tokenRequests()[0]
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(confID+":"+url.QueryEscape(confSecret)))
	if tr.Header.Get("Authorization") != wantAuth || tr.Form.Has("client_id") || tr.Form.Has("client_secret") {
		t.Errorf("Authorization %q, body %q: want Basic and no client credentials in the body", tr.Header.Get("Authorization"), tr.RawBody)
	}
	e := w.entry(confID)
	want := "clientId = \"" + confID + "\"\nclientSecret = \"" + confSecret + "\"\ntoken = \"" + e.AccessToken + "\"\nrefreshToken = \"" + e.RefreshToken + "\"\n"
	if got := w.readConfig(); got != want {
		t.Errorf("Config.toml =\n%s\nwant\n%s", got, want)
	}
	if !e.Confidential || !strings.Contains(r.stderr, "confidential client") {
		t.Errorf("entry %+v", e)
	}
}

func TestSecretNeverTravelsWithAnotherClientID(t *testing.T) {
	w := newWorld(t)
	// Config.toml belongs to another app; the flag picks the confidential
	// one: its token would not work for the program that file configures,
	// so the login is refused before anything is sent (issue 12).
	w.writeConfig("clientId = \"" + otherID + "\"\nclientSecret = \"" + otherSecret + "\"\n")
	r := w.run("login", "--client-id", confID)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (the file names another app)\n%s", r.code, r.stderr)
	}
	if n := len(w.tokenRequests()); n != 0 {
		t.Fatalf("%d token requests reached X", n)
	}
	for _, s := range []string{"names client id " + otherID, "--config"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	mustExist(t, w.store, false)

	// With a Config.toml of its own (no clientId there), the secret of the
	// other app's file never goes out either.
	w.writeConfig("clientSecret = \"" + otherSecret + "\"\n")
	r = w.run("login", "--client-id", confID)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (X refuses a confidential client without its secret)\n%s", r.code, r.stderr)
	}
	tr := w.tokenRequests()[0]
	if strings.Contains(tr.Header.Get("Authorization")+tr.RawBody, base64.StdEncoding.EncodeToString([]byte(otherID+":"))) || strings.Contains(tr.RawBody, otherSecret) {
		t.Fatal("the other app's secret was sent")
	}
	for _, s := range []string{"it was not sent with client id " + confID, "this app is a confidential client: set its client secret"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	mustExist(t, w.store, false)
	w.writeConfig("clientId = \"" + confID + "\"\n")

	// The secret from the environment goes with the flag's client id.
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	if r := w.run("login", "--client-id", confID); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestLoginForgedStateKeepsWaiting(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("")
	var forgedStatus int
	w.open = func(ctx context.Context, u string) error {
		forgedStatus = httpGet(t, w.redirect+"?state=forged&code=attacker-code")
		return w.browser.OpenContext(ctx, u)
	}
	r := w.run("login", "--client-id", publicID)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if forgedStatus != 400 {
		t.Errorf("forged callback got %d, want 400", forgedStatus)
	}
	if !strings.Contains(r.stderr, "refused a callback: the state does not match") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if reqs := w.tokenRequests(); len(reqs) != 1 || reqs[0].Form.Get("code") == "attacker-code" {
		t.Fatal("the forged code was exchanged")
	}
}

func TestLoginDenied(t *testing.T) {
	w := newWorld(t)
	const cfg = "clientId = \"" + publicID + "\"\n"
	w.writeConfig(cfg)
	w.srv.SetDeny(true)
	r := w.run("login")
	if r.code != 3 || !strings.Contains(r.stderr, "authorization was denied in the browser (access_denied)") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(w.browser.LastBody, "Authorization failed") {
		t.Errorf("error page: %s", w.browser.LastBody)
	}
	if w.readConfig() != cfg || len(w.tokenRequests()) != 0 {
		t.Fatal("something was written or exchanged after a denial")
	}
	mustExist(t, w.store, false)
}

func TestLoginWrongCode(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("")
	w.open = func(ctx context.Context, u string) error {
		httpGet(t, w.redirect+"?state="+url.QueryEscape(stateOf(t, u))+"&code=not-a-code")
		return nil
	}
	r := w.run("login", "--client-id", publicID)
	if r.code != 3 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, s := range []string{"X refused to exchange the authorization code: invalid_request (Value passed for the token was invalid.)", "the code expired (X gives 30 s) or was already used", "run twauth login again"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if len(w.tokenRequests()) != 1 {
		t.Error("a code exchange was retried")
	}
	mustExist(t, w.store, false)
	if w.readConfig() != "" {
		t.Error("Config.toml changed")
	}
}

func TestLoginCodeExpired(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("")
	w.beforeToken = func(*http.Request) { w.clock.Advance(31 * time.Second) }
	r := w.run("login", "--client-id", publicID)
	if r.code != 3 || !strings.Contains(r.stderr, "X gives 30 s") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestLoginPortInUse(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := w.run("login", "--client-id", publicID)
	if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("127.0.0.1:%d/callback: port in use", w.port)) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if len(w.srv.Authorizations()) != 0 {
		t.Error("the browser was opened")
	}

	// A second registered redirect URI with a free port is used instead.
	free := freePort(t)
	second := fmt.Sprintf("http://127.0.0.1:%d/callback", free)
	w.srv.AddClient(xtest.Client{ID: "two-ports", RedirectURIs: []string{w.redirect, second}})
	r = w.run("login", "--client-id", "two-ports", "--redirect-uri", w.redirect, "--redirect-uri", second)
	if r.code != 0 || !strings.Contains(r.stderr, "using "+second) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if got := w.tokenRequests()[0].Form.Get("redirect_uri"); got != second {
		t.Errorf("redirect_uri %q, want %q", got, second)
	}
}

func TestLoginNonLoopbackRedirect(t *testing.T) {
	w := newWorld(t)
	for uri, why := range map[string]string{
		"https://127.0.0.1:8765/callback": "https",
		"http://example.com:8765/cb":      "example.com is not a loopback address",
	} {
		r := w.run("login", "--client-id", publicID, "--redirect-uri", uri)
		if r.code != 2 || !strings.Contains(r.stderr, why) {
			t.Errorf("%s: exit %d\n%s", uri, r.code, r.stderr)
		}
	}
}

func TestLoginTimeout(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("")
	w.open = func(context.Context, string) error { return nil }
	r := w.run("login", "--client-id", publicID, "--timeout", "300ms")
	if r.code != 3 || !strings.Contains(r.stderr, "no redirect reached "+w.redirect+" within 300ms") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	mustExist(t, w.store, false)
}

func TestLoginInterrupted(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("")
	ctx, cancel := context.WithCancel(context.Background())
	w.open = func(context.Context, string) error { cancel(); return nil }
	r := w.runCtx(ctx, "", "login", "--client-id", publicID)
	if r.code != 130 || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	mustExist(t, w.store, false)
	if w.readConfig() != "" {
		t.Error("Config.toml changed")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", w.port), time.Second); err == nil {
		c.Close()
		t.Error("the listener survived the interrupt")
	}
}

func TestLoginInvalidConfigTouchesNothing(t *testing.T) {
	cases := map[string]struct{ config, where string }{
		"syntax":        {"clientId = \"" + publicID + "\"\n[broken\n", "Config.toml:2:"},
		"duplicate":     {"clientId = \"" + publicID + "\"\ntoken = \"a\"\ntoken = \"b\"\n", "Config.toml:3:"},
		"token table":   {"clientId = \"" + publicID + "\"\n[token]\nx = 1\n", "Config.toml:2:"},
		"non-string id": {"clientId = 42\n", "Config.toml:1:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			w.writeConfig(tc.config)
			r := w.run("login")
			if r.code != 2 || !strings.Contains(r.stderr, tc.where) {
				t.Fatalf("exit %d, want 2 naming %s\n%s", r.code, tc.where, r.stderr)
			}
			if w.readConfig() != tc.config {
				t.Error("Config.toml changed")
			}
			if len(w.srv.Authorizations()) != 0 {
				t.Error("a browser was opened for a login that cannot be saved")
			}
			mustExist(t, w.store, false)
		})
	}
}

func TestLoginNoClientID(t *testing.T) {
	w := newWorld(t)
	r := w.run("login")
	if r.code != 2 || !strings.Contains(r.stderr, "no client id: pass --client-id, set TWAUTH_CLIENT_ID, or add clientId to") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestLoginCreatesConfigAndStoreWithPrivateModes(t *testing.T) {
	w := newWorld(t)
	w.cfg = filepath.Join(w.dir, "newdir", "Config.toml")
	r := w.run("login", "--client-id", publicID, "--token-key", "myorg.x.auth.token")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e := w.entry(publicID)
	want := "[myorg.x.auth]\ntoken = \"" + e.AccessToken + "\"\n"
	if got := w.readConfig(); got != want {
		t.Errorf("Config.toml =\n%q\nwant\n%q", got, want)
	}
	if m := fileMode(t, w.cfg); m != 0o600 {
		t.Errorf("new Config.toml mode %o", m)
	}
}

func TestLoginPlainPKCEWarns(t *testing.T) {
	w := newWorld(t)
	w.plainPKCE = true
	r := w.run("login", "--client-id", publicID, "--pkce-method", "plain")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: --pkce-method plain") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	q := w.srv.Authorizations()[0]
	if q.Get("code_challenge_method") != "plain" || q.Get("code_challenge") != w.tokenRequests()[0].Form.Get("code_verifier") {
		t.Errorf("plain challenge %v", q)
	}
	if r := w.run("login", "--client-id", publicID, "--pkce-method", "S512"); r.code != 2 {
		t.Errorf("unknown method: exit %d", r.code)
	}
}

func TestLoginBrowserFailureKeepsWaiting(t *testing.T) {
	w := newWorld(t)
	w.open = func(ctx context.Context, u string) error {
		go func() {
			time.Sleep(50 * time.Millisecond)
			w.browser.OpenContext(ctx, u)
		}()
		return fmt.Errorf("xdg-open: not found")
	}
	r := w.run("login", "--client-id", publicID)
	if r.code != 0 || !strings.Contains(r.stderr, "could not open a browser (xdg-open: not found): open the URL above yourself; still waiting") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestLoginBrowserCommandGetsTheURL(t *testing.T) {
	w := newWorld(t)
	w.open = nil
	dir := t.TempDir()
	got := filepath.Join(dir, "url")
	script := filepath.Join(dir, "browser")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" > "+got+"\necho opened-on-stdout\n"), 0o755)
	// An opener that records and then plays the user.
	w.env["BROWSER"] = "/nonexistent-browser"
	w.open = nil
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			if b, err := os.ReadFile(got); err == nil && len(b) > 0 {
				// A page that leads to the authorization URL (the URL
				// itself stays off the command line: argv_test.go).
				page, err := url.Parse(strings.TrimSpace(string(b)))
				if err != nil || page.Scheme != "file" {
					t.Errorf("the browser got %q, want a file:// page", b)
					return
				}
				html, _ := os.ReadFile(page.Path)
				m := regexp.MustCompile(`content="0;url=([^"]+)"`).FindSubmatch(html)
				if m == nil {
					t.Errorf("the page leads nowhere:\n%s", html)
					return
				}
				w.browser.Open(strings.ReplaceAll(string(m[1]), "&amp;", "&"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	r := w.runWithRealOpener("login", "--client-id", publicID, "--browser", script, "--timeout", "20s")
	<-done
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "" || !strings.Contains(r.stderr, "opened-on-stdout") {
		t.Errorf("the browser command's stdout must go to stderr: stdout %q", r.stdout)
	}
}

// TestUsageErrorsExit2: every usage error is exit 2 with one line naming
// it and nothing on stdout (testdata/script/flags.txtar has the texts).
func TestUsageErrorsExit2(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"login", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"exchange"}, "accepts 1 arg"},
		{[]string{"token", "extra"}, `unknown command "extra"`},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh" for "twauth completion"`},
		{[]string{"pkce", "--length", "10"}, "out of range"},
		{[]string{"login", "--client-id", ""}, "--client-id is empty"},
	} {
		r := w.run(c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.says) || r.stdout != "" {
			t.Errorf("twauth %s: exit %d, stdout %q, stderr %q; want exit 2 saying %q", strings.Join(c.args, " "), r.code, r.stdout, r.stderr, c.says)
		}
	}
	// Commands that act for no app ignore an empty --client-id.
	if r := w.run("version", "--client-id="); r.code != 0 {
		t.Errorf("twauth version --client-id=: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.run("completion"); r.code != 0 || !strings.Contains(r.stdout, "twauth completion [command]") {
		t.Errorf("twauth completion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
