package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/cli"
)

// TestCleartextEndpointRefused (issue 13, item 8): an http:// endpoint on a
// host that is not loopback would carry the client secret and the refresh
// token in cleartext: exit 2 naming the URL, nothing sent.
func TestCleartextEndpointRefused(t *testing.T) {
	w := newWorld(t)
	w.seed(confID, scopes, t0.Add(time.Minute), true)
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	before := len(w.srv.Requests())
	var stdout, stderr bytes.Buffer
	code := cli.Run(t.Context(), cli.Deps{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return w.env[k] }, Now: w.clock.Now},
		[]string{"refresh", "--client-id", confID, "--store", w.store, "--config", w.cfg, "--token-url", "http://203.0.113.7/token"})
	if code != 2 || !strings.Contains(stderr.String(), "http://203.0.113.7/token") {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if len(w.srv.Requests()) != before {
		t.Error("a request was sent")
	}
}

// TestPendingTokenURLNeverFollowed (issue 13, item 2): a pending login
// whose token_url was edited does not send the code, verifier and
// credentials there: exchange refuses before spending anything.
func TestPendingTokenURLNeverFollowed(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	r := w.run("url")
	if r.code != 0 {
		t.Fatalf("url: exit %d\n%s", r.code, r.stderr)
	}
	pending := filepath.Join(filepath.Dir(w.store), "pending.json")
	data, err := os.ReadFile(pending)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), w.srv.TokenURL(), "https://attacker.example/token", 1)
	if edited == string(data) {
		t.Fatal("the pending login holds no token_url to edit")
	}
	os.WriteFile(pending, []byte(edited), 0o600)
	u := strings.TrimSpace(r.stdout)
	state := u[strings.Index(u, "state=")+6:]
	state = state[:strings.IndexByte(state+"&", '&')]
	r = w.run("exchange", w.redirect+"?code=abc&state="+state)
	if r.code != 2 || !strings.Contains(r.stderr, "https://attacker.example/token") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if n := len(w.tokenRequests()); n != 0 {
		t.Errorf("%d token requests", n)
	}
}

// TestTokenKeyClashRefused (issue 13, item 13): --token-key clientId would
// overwrite the client id with the access token: a usage error.
func TestTokenKeyClashRefused(t *testing.T) {
	w := newWorld(t)
	const cfg = "clientId = \"" + publicID + "\"\n"
	w.writeConfig(cfg)
	r := w.run("login", "--token-key", "clientId")
	if r.code != 2 || !strings.Contains(r.stderr, "clientId") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if w.readConfig() != cfg || len(w.tokenRequests()) != 0 {
		t.Error("something was written or sent")
	}
}

// TestConfigThatIsNotAFileRefused (issue 13, items 10 and 14): a
// Config.toml that is a directory, or larger than any real one, is exit 2
// with the reason, not a failure or a hang.
func TestConfigThatIsNotAFileRefused(t *testing.T) {
	w := newWorld(t)
	w.noConfigFlag = true
	w.seed(publicID, scopes, t0.Add(time.Hour), false)
	dir := filepath.Join(w.dir, "cfgdir")
	os.Mkdir(dir, 0o700)
	if r := w.run("status", "--client-id", publicID, "--config", dir); r.code != 2 {
		t.Errorf("a directory: exit %d\n%s", r.code, r.stderr)
	}
	big := filepath.Join(w.dir, "big.toml")
	f, _ := os.Create(big)
	f.Truncate(17 << 20)
	f.Close()
	if r := w.run("status", "--client-id", publicID, "--config", big); r.code != 2 || !strings.Contains(r.stderr, "MiB") {
		t.Errorf("17 MiB: exit %d\n%s", r.code, r.stderr)
	}
}

// TestManualPasteOverLimitRefused (issue 13, item 10): a pasted line over
// 64 KiB is refused whole, never sent as a code.
func TestManualPasteOverLimitRefused(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	r := w.runCtx(t.Context(), strings.Repeat("a", 300<<10)+"\n", "login", "--manual")
	if r.code != 2 || !strings.Contains(r.stderr, "64 KiB") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if n := len(w.tokenRequests()); n != 0 {
		t.Errorf("%d token requests", n)
	}
}

// TestExpiredPendingRemoved (issue 13, item 14): a pending login that
// expired is removed, with its verifier, the next time twauth runs.
func TestExpiredPendingRemoved(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("url"); r.code != 0 {
		t.Fatalf("url: exit %d\n%s", r.code, r.stderr)
	}
	pending := filepath.Join(filepath.Dir(w.store), "pending.json")
	if data, _ := os.ReadFile(pending); !strings.Contains(string(data), "code_verifier") {
		t.Fatalf("no pending login:\n%s", data)
	}
	w.clock.Advance(11 * time.Minute)
	w.seed(publicID, scopes, t0.Add(time.Hour), false)
	if r := w.run("status"); r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	if data, _ := os.ReadFile(pending); strings.Contains(string(data), "code_verifier") {
		t.Fatalf("the expired login is still there:\n%s", data)
	}
}

// TestTimeoutSaysTheOneThingToDo (issue 17, item 6): where no browser can
// open and no SSH tunnel was shown, the timeout names --manual, never "the
// SSH tunnel above"; over SSH, where the tunnel was printed, it names both.
func TestTimeoutSaysTheOneThingToDo(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	w.env = map[string]string{} // no display, no browser
	w.open = func(context.Context, string) error { return nil }
	r := w.run("login", "--timeout", "200ms")
	if r.code != 3 || strings.Contains(r.stderr, "tunnel above") || !strings.Contains(r.stderr, "twauth login --manual") {
		t.Errorf("headless: exit %d\n%s", r.code, r.stderr)
	}
	w.env = map[string]string{"SSH_CONNECTION": "10.0.0.1 50000 10.0.0.2 22", "USER": "me"}
	r = w.run("login", "--timeout", "200ms")
	if r.code != 3 || !strings.Contains(r.stderr, "ssh -N -L") || !strings.Contains(r.stderr, "the SSH tunnel above") {
		t.Errorf("over SSH: exit %d\n%s", r.code, r.stderr)
	}
}

// TestVersionFlag (issue 17, item 3): twauth --version prints what twauth
// version prints.
func TestVersionFlag(t *testing.T) {
	w := newWorld(t)
	a, b := w.run("--version"), w.run("version")
	if a.code != 0 || a.stdout == "" || a.stdout != b.stdout {
		t.Errorf("--version: exit %d %q; version: %q", a.code, a.stdout, b.stdout)
	}
}

// TestKeyringLoginWithoutKeyringSpendsNothing: `login --store keyring:`
// where no keyring answers (no D-Bus session) is exit 2 before the browser
// opens: a code spent for tokens that could not be saved would be lost.
func TestKeyringLoginWithoutKeyringSpendsNothing(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	var stdout, stderr bytes.Buffer
	opened := false
	code := cli.Run(t.Context(), cli.Deps{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return w.env[k] }, Now: w.clock.Now,
		Open: func(context.Context, string) error { opened = true; return nil }, GOOS: "linux"},
		[]string{"login", "--store", "keyring:", "--config", w.cfg, "--redirect-uri", w.redirect,
			"--auth-url", w.srv.AuthURL(), "--token-url", w.srv.TokenURL(), "--api-url", w.srv.APIURL()})
	if code != 2 || opened || !strings.Contains(stderr.String(), "--store PATH") {
		t.Fatalf("exit %d, browser opened %v\n%s", code, opened, stderr.String())
	}
	if n := len(w.tokenRequests()); n != 0 {
		t.Errorf("%d token requests", n)
	}
}
