package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/twauth/twauth/internal/store"
)

// Config.toml of a Ballerina program: a comment, the client id twauth
// reads, and a module table that twauth must leave alone.
const configBefore = "# Ballerina config of the X client\n" +
	"clientId = \"" + clientID + "\"\n" +
	"\n" +
	"[myorg.app]\n" +
	"level = \"DEBUG\" # keep me\n"

// TestChromiumLogin runs `twauth login` with a real headless Chromium as
// the browser: Chromium opens the authorize URL, the test clicks
// "Authorize app", Chromium follows X's redirect to twauth's listener, and
// the token lands in Config.toml.
func TestChromiumLogin(t *testing.T) {
	tab := startChromium(t)
	l := startLogin(t, tab, configBefore)
	l.waitConsent()

	text := l.click("authorize")
	for _, want := range []string{
		"You are signed in",
		"twauth has the authorization from X. You can close this tab and return to the terminal.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page Chromium rendered lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Authorization failed") {
		t.Errorf("success page shows an error:\n%s", text)
	}
	l.screenshot("login-success.png")

	r := l.wait()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("login wrote to stdout: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "Logged in to X as @") {
		t.Errorf("stderr lacks the summary:\n%s", r.stderr)
	}

	f, err := (&store.Store{Path: l.store}).Load()
	if err != nil {
		t.Fatal(err)
	}
	e := f.Entry(clientID)
	if e == nil || e.AccessToken == "" {
		t.Fatalf("no access token stored for %s: %+v", clientID, f.Clients)
	}
	if !l.srv.IsValidAccessToken(e.AccessToken) {
		t.Error("the stored access token is not one X issued")
	}
	want := "# Ballerina config of the X client\n" +
		"clientId = \"" + clientID + "\"\n" +
		"token = \"" + e.AccessToken + "\"\n" +
		"\n" +
		"[myorg.app]\n" +
		"level = \"DEBUG\" # keep me\n"
	if got := l.readConfig(); got != want {
		t.Errorf("Config.toml =\n%s\nwant\n%s", got, want)
	}
}

// TestChromiumCancel clicks "Cancel" on the consent page: Chromium lands on
// twauth's error page, login exits 3, and nothing is written.
func TestChromiumCancel(t *testing.T) {
	tab := startChromium(t)
	l := startLogin(t, tab, configBefore)
	l.waitConsent()

	text := l.click("cancel")
	for _, want := range []string{"Authorization failed", "access_denied"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page Chromium rendered lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "You are signed in") {
		t.Errorf("error page claims success:\n%s", text)
	}
	l.screenshot("login-denied.png")

	r := l.wait()
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "denied") {
		t.Errorf("stderr does not say the authorization was denied:\n%s", r.stderr)
	}
	if got := l.readConfig(); got != configBefore {
		t.Errorf("Config.toml changed after a denial:\n%s", got)
	}
	if _, err := os.Stat(l.store); !os.IsNotExist(err) {
		t.Errorf("store %s: %v, want it absent", l.store, err)
	}
}
