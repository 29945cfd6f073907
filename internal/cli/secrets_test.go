package cli_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/xtest"
)

// TestNoSecretInAnyOutput runs every command — the successful runs, with
// and without -v, and the failing ones — against a confidential app whose
// client secret is known, and then greps everything they printed for every
// secret value in play: the client secrets, and every authorization code,
// PKCE verifier, access token and refresh token the fake X issued or
// received. None may reach stderr (messages, warnings, the -v trace,
// errors); stdout may hold only what the command is there to print: the
// access token for `token`, the new token set for `refresh --json`.
func TestNoSecretInAnyOutput(t *testing.T) {
	w := newWorld(t)
	// A secret given on the command line by mistake, and refused by X.
	const wrongSecret = "WRONG-SECRET-wr0ng-s3cr3t"
	// The app's secret is in Config.toml, so it travels with every request
	// to the token and revocation endpoints.
	w.writeConfig("clientId = \"" + confID + "\"\nclientSecret = \"" + confSecret + "\"\n")

	type step struct {
		name string
		r    result
		// mayPrint are the secrets the command's job is to print on stdout.
		mayPrint []string
	}
	var steps []step
	do := func(name string, wantCode int, r result, mayPrint ...string) result {
		t.Helper()
		if r.code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s", name, r.code, wantCode, r.stderr)
		}
		steps = append(steps, step{name, r, mayPrint})
		return r
	}
	// noStdout: a command that prints nothing but prose, to stderr.
	noStdout := func(name string, r result) {
		t.Helper()
		if r.stdout != "" {
			t.Errorf("%s: stdout %q, want nothing", name, r.stdout)
		}
	}
	// traced: a -v run shows its requests with the secrets redacted (so
	// the grep below is not vacuous).
	traced := func(name string, r result, want ...string) {
		t.Helper()
		for _, s := range append([]string{"> POST ", "[redacted]"}, want...) {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("%s: the -v trace lacks %q:\n%s", name, s, r.stderr)
			}
		}
	}
	access := func() string { return w.entry(confID).AccessToken }
	refresh := func() string { return w.entry(confID).RefreshToken }

	// login, every way.
	noStdout("login", do("login", 0, w.run("login")))
	r := do("login -v", 0, w.run("login", "-v"))
	noStdout("login -v", r)
	traced("login -v", r, "> Authorization: Basic [redacted]", "code=[redacted]", "code_verifier=[redacted]",
		`"access_token":"[redacted]"`, `"refresh_token":"[redacted]"`, "> Authorization: Bearer [redacted]")
	r = do("login --json", 0, w.run("login", "--json"))
	decodeJSON(t, r.stdout)
	noStdout("login --manual -v", do("login --manual -v", 0, w.manual(func(loc, _ string) string { return loc }, "-v", "--redirect-uri", w.redirect)))
	// --client-secret on the command line works (it is documented as
	// visible to other users; see TestHardeningHelpDocumentsDefaults).
	noStdout("login --client-secret", do("login --client-secret", 0, w.run("login", "--client-secret", confSecret)))

	// url, then exchange.
	r = do("url", 0, w.run("url"))
	loc := approve(t, strings.TrimSpace(r.stdout))
	r = do("exchange -v", 0, w.run("exchange", "-v", loc))
	noStdout("exchange -v", r)
	traced("exchange -v", r, "code_verifier=[redacted]")

	// token prints the access token, and only it.
	r = do("token", 0, w.run("token"), access())
	if r.stdout != access()+"\n" {
		t.Errorf("token: stdout %q, want the access token and a newline", r.stdout)
	}
	r = do("token --json", 0, w.run("token", "--json"), access())
	if m := decodeJSON(t, r.stdout); m["access_token"] != access() || m["refresh_token"] != nil {
		t.Errorf("token --json = %v", m)
	}

	// refresh; the refresh token used here is dead afterwards.
	rotated := refresh()
	r = do("refresh -v", 0, w.run("refresh", "-v"))
	noStdout("refresh -v", r)
	traced("refresh -v", r, "refresh_token=[redacted]", "> Authorization: Basic [redacted]")
	r = do("refresh --json", 0, w.run("refresh", "--json"), access(), refresh())
	if m := decodeJSON(t, r.stdout); m["refresh_token"] != refresh() {
		t.Errorf("refresh --json = %v", m)
	}
	// token refreshes an expiring token first, and prints the new one.
	w.clock.Advance(2 * time.Hour)
	r = do("token -v (refreshing)", 0, w.run("token", "-v"), access())
	traced("token -v (refreshing)", r, "refresh_token=[redacted]")

	// status.
	do("status", 0, w.run("status"))
	do("status --json", 0, w.run("status", "--json"))
	r = do("status --verify -v", 0, w.run("status", "--verify", "-v"))
	if !strings.Contains(r.stderr, "> Authorization: Bearer [redacted]") {
		t.Errorf("status --verify -v: no redacted trace:\n%s", r.stderr)
	}

	// Commands that hold no token.
	do("pkce", 0, w.run("pkce"))
	do("version", 0, w.run("version"))
	do("completion bash", 0, w.run("completion", "bash"))
	do("--help", 0, w.runExact("--help"))

	// Failures.
	r = do("refresh --refresh-token <rotated away> -v", 4, w.run("refresh", "-v", "--refresh-token", rotated))
	noStdout("refresh --refresh-token", r)
	w.env["TWAUTH_REFRESH_TOKEN"] = rotated
	noStdout("TWAUTH_REFRESH_TOKEN refresh --json", do("TWAUTH_REFRESH_TOKEN refresh --json", 4, w.run("refresh", "--json")))
	delete(w.env, "TWAUTH_REFRESH_TOKEN")

	w.srv.SetDeny(true)
	noStdout("denied login -v", do("denied login -v", 3, w.run("login", "-v")))
	w.srv.SetDeny(false)

	// A replayed code: X refuses it, and twauth names neither it nor the
	// verifier.
	used := w.tokenRequests()[0].Form.Get("code")
	w.open = func(ctx context.Context, u string) error {
		httpGet(t, w.redirect+"?state="+url.QueryEscape(stateOf(t, u))+"&code="+url.QueryEscape(used))
		return nil
	}
	noStdout("login with a replayed code -v", do("login with a replayed code -v", 3, w.run("login", "-v")))
	w.open = nil
	do("exchange <a used code, no pending login>", 2, w.run("exchange", used))

	// A wrong secret on the command line.
	r = do("login --client-secret <wrong> -v", 2, w.run("login", "-v", "--client-secret", wrongSecret))
	traced("login --client-secret <wrong> -v", r, "> Authorization: Basic [redacted]")

	// A proxy's error page that echoes the request, refresh token and all.
	for range 4 {
		w.srv.InjectTokenFault(xtest.Fault{Status: 502, Body: "<html><body>Bad Gateway. Your request: grant_type=refresh_token&refresh_token=" + refresh() + "</body></html>"})
	}
	noStdout("refresh -v against an echoing 502", do("refresh -v against an echoing 502", 1, w.run("refresh", "-v")))
	// A broken server whose OAuth error echoes what it was sent.
	w.srv.InjectTokenFault(xtest.Fault{Status: 400, Body: `{"error":"invalid_request","error_description":"Value passed for the token was invalid: ` + refresh() + `"}`})
	do("refresh -v against an echoing 400", 4, w.run("refresh", "-v"))
	// ... and one that echoes the code and the verifier of an exchange.
	w.beforeToken = func(req *http.Request) {
		body, _ := req.GetBody()
		raw, _ := io.ReadAll(body)
		form, _ := url.ParseQuery(string(raw))
		w.srv.InjectTokenFault(xtest.Fault{Status: 400, Body: `{"error":"invalid_grant","error_description":"code ` +
			form.Get("code") + ` does not match verifier ` + form.Get("code_verifier") + `"}`})
	}
	r = do("login -v against an echoing 400", 3, w.run("login", "-v"))
	if !strings.Contains(r.stderr, "code [redacted] does not match verifier [redacted]") {
		t.Errorf("the echoed code and verifier are not redacted in the message:\n%s", r.stderr)
	}
	w.beforeToken = nil
	// ... and the API and the revocation endpoint, likewise.
	w.srv.InjectFault(xtest.UsersMePath, xtest.Fault{Status: 401, Body: `{"title":"Unauthorized","detail":"token ` + access() + ` is not valid"}`})
	do("status --verify -v against an echoing 401", 4, w.run("status", "--verify", "-v"))
	w.srv.InjectFault(xtest.RevokePath, xtest.Fault{Status: 401, Body: `{"error":"unauthorized_client","error_description":"client secret ` + confSecret + ` for token ` + refresh() + ` is wrong"}`})
	do("revoke -v against an echoing 401", 2, w.run("revoke", "-v"))
	// X spends the refresh token but the answer is lost.
	w.srv.InjectTokenFault(xtest.Fault{DropAfterProcessing: true})
	do("refresh with a lost answer", 1, w.run("refresh"))
	do("refresh after the lost answer", 4, w.run("refresh"))
	w.srv.RevokeToken(access())
	do("status --verify, token revoked", 4, w.run("status", "--verify", "-v"))

	// Log in again, then revoke.
	do("login", 0, w.run("login"))
	r = do("revoke -v", 0, w.run("revoke", "-v"))
	noStdout("revoke -v", r)
	traced("revoke -v", r, "token=[redacted]", "token_type_hint=refresh_token")
	do("revoke again", 4, w.run("revoke"))

	// Every secret in play, known only now that all has run.
	secrets := append(w.srv.Secrets(), confSecret, otherSecret, wrongSecret)
	if len(secrets) < 30 {
		t.Fatalf("only %d secrets in play: the test no longer exercises what it claims", len(secrets))
	}
	for _, st := range steps {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			if strings.Contains(st.r.stderr, s) {
				t.Errorf("%s: secret %.12s… in stderr:\n%s", st.name, s, st.r.stderr)
			}
			if strings.Contains(st.r.stdout, s) && !contains(st.mayPrint, s) {
				t.Errorf("%s: secret %.12s… on stdout, which is not there to print it:\n%s", st.name, s, st.r.stdout)
			}
		}
	}
}
