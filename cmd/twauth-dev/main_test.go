package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RFC 7636 Appendix B.
const (
	verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader on two goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// app is the loopback callback of the app under login.
type app struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []url.Values
}

func newApp(t *testing.T) *app {
	a := &app{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.got = append(a.got, r.URL.Query())
		a.mu.Unlock()
		if r.URL.Query().Has("error") {
			http.Error(w, "denied: "+r.URL.Query().Get("error"), http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "logged in")
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) callbacks() []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.got...)
}

// serveDev runs "twauth-dev serve" in-process and returns its settings.
func serveDev(t *testing.T, extra ...string) (settings map[string]string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	exit := make(chan int, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--ready-file", ready}, extra...)
	go func() { exit <- run(ctx, "twauth-dev", args, stdout, stderr) }()

	deadline := time.Now().Add(10 * time.Second)
	var addr []byte
	for {
		var err error
		if addr, err = os.ReadFile(ready); err == nil {
			break
		}
		select {
		case code := <-exit:
			cancel()
			t.Fatalf("serve exited %d: %s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no ready file; stderr: %s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	settings = parseExports(t, stdout.String())
	settings["addr"] = strings.TrimSpace(string(addr))
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-exit:
			case <-time.After(10 * time.Second):
				t.Error("serve did not stop")
			}
			if _, err := os.Stat(ready); !os.IsNotExist(err) {
				t.Errorf("ready file left behind: %v", err)
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return settings, stderr, stop
}

// parseExports reads serve's stdout, lines of export TWAUTH_<FLAG>=value
// with plain values, into a map by flag name.
func parseExports(t *testing.T, out string) map[string]string {
	t.Helper()
	settings := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export TWAUTH_"), "=")
		if !ok || !strings.HasPrefix(line, "export TWAUTH_") {
			t.Fatalf("stdout line %q is not export TWAUTH_<FLAG>=value", line)
		}
		settings[strings.ToLower(strings.ReplaceAll(k, "_", "-"))] = v
	}
	return settings
}

func authURL(settings map[string]string, redirectURI string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {settings["client-id"]},
		"redirect_uri":          {redirectURI},
		"scope":                 {"tweet.read users.read offline.access"},
		"state":                 {"st"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	return settings["auth-url"] + "?" + q.Encode()
}

func TestServeBrowseExchange(t *testing.T) {
	a := newApp(t)
	cb := a.srv.URL + "/callback"
	settings, serveErr, stop := serveDev(t, "--redirect-uri", cb, "--client-id", "my-app", "--username", "ada")

	base := "http://" + settings["addr"]
	_, port, _ := strings.Cut(settings["addr"], ":")
	sandbox := filepath.Join(os.TempDir(), "twauth-dev-"+port)
	want := map[string]string{
		"auth-url":     base + "/i/oauth2/authorize",
		"token-url":    base + "/2/oauth2/token",
		"revoke-url":   base + "/2/oauth2/revoke",
		"api-url":      base,
		"client-id":    "my-app",
		"redirect-uri": cb,
		"config":       sandbox + "/Config.toml",
		"store":        sandbox + "/tokens.json",
		"addr":         settings["addr"],
	}
	if len(settings) != len(want) {
		t.Fatalf("settings %v, want %v", settings, want)
	}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("%s=%q, want %q", k, settings[k], v)
		}
	}

	var browseErr bytes.Buffer
	if code := run(context.Background(), "twauth-dev", []string{"browse", authURL(settings, cb)}, io.Discard, &browseErr); code != 0 {
		t.Fatalf("browse exited %d: %s", code, browseErr.String())
	}
	got := a.callbacks()
	if len(got) != 1 || got[0].Get("code") == "" || got[0].Get("state") != "st" {
		t.Fatalf("callbacks %v", got)
	}
	if strings.Contains(browseErr.String(), got[0].Get("code")) {
		t.Fatal("browse printed the code")
	}

	resp, err := http.PostForm(settings["token-url"], url.Values{
		"grant_type": {"authorization_code"}, "code": {got[0].Get("code")}, "redirect_uri": {cb},
		"code_verifier": {verifier}, "client_id": {"my-app"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("exchange: %d %v %+v", resp.StatusCode, err, tok)
	}
	req, _ := http.NewRequest(http.MethodGet, settings["api-url"]+"/2/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"username":"ada"`) {
		t.Fatalf("users/me: %s", body)
	}

	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	log := serveErr.String()
	for _, want := range []string{"GET /i/oauth2/authorize -> 200", "POST /i/oauth2/authorize/decide -> 302", "POST /2/oauth2/token -> 200", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, got[0].Get("code")) || strings.Contains(log, tok.AccessToken) {
		t.Error("serve log holds a secret")
	}
}

func TestBrowseCancelAndFailures(t *testing.T) {
	a := newApp(t)
	cb := a.srv.URL + "/callback"
	settings, _, _ := serveDev(t, "--redirect-uri", cb, "--quiet")

	var errOut bytes.Buffer
	// Cancel: the app answers its error page with 403, so browse exits 1.
	if code := run(context.Background(), "twauth-dev", []string{"browse", "--cancel", authURL(settings, cb)}, io.Discard, &errOut); code != 1 {
		t.Fatalf("browse --cancel exited %d: %s", code, errOut.String())
	}
	if got := a.callbacks(); len(got) != 1 || got[0].Get("error") != "access_denied" {
		t.Fatalf("callbacks %v", got)
	}
	if !strings.Contains(errOut.String(), "403 Forbidden: denied: access_denied") {
		t.Fatalf("stderr %q", errOut.String())
	}

	// A redirect URI that is not registered: X's error page, exit 1.
	errOut.Reset()
	if code := run(context.Background(), "twauth-dev", []string{"browse", authURL(settings, cb+"/")}, io.Discard, &errOut); code != 1 {
		t.Fatalf("exited %d", code)
	}
	if !strings.Contains(errOut.String(), "400 Bad Request") || !strings.Contains(errOut.String(), "must match exactly") {
		t.Fatalf("stderr %q", errOut.String())
	}

	errOut.Reset()
	if code := run(context.Background(), "twauth-dev", []string{"browse", "https://x.com/i/oauth2/authorize"}, io.Discard, &errOut); code != 1 {
		t.Fatalf("non-loopback exited %d", code)
	}
	if !strings.Contains(errOut.String(), "refusing") {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestServeNoConsent(t *testing.T) {
	a := newApp(t)
	cb := a.srv.URL + "/callback"
	settings, _, _ := serveDev(t, "--redirect-uri", cb, "--consent=false", "--issuer", "https://issuer.test", "--quiet")
	if code := run(context.Background(), "twauth-dev", []string{"browse", authURL(settings, cb)}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("browse exited %d", code)
	}
	if got := a.callbacks(); len(got) != 1 || got[0].Get("iss") != "https://issuer.test" || got[0].Get("code") == "" {
		t.Fatalf("callbacks %v", got)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"fly"},
		{"serve", "--addr", "0.0.0.0:0"},
		{"serve", "--addr", ":0"},
		{"serve", "--addr", "example.com:80"},
		{"serve", "--addr", "192.168.1.1:0"},
		{"serve", "--addr", "nonsense"},
		{"serve", "--client-id", ""},
		{"serve", "--redirect-uri", "/callback"},
		{"serve", "extra"},
		{"serve", "--nope"},
		{"browse"},
		{"browse", "http://127.0.0.1/a", "http://127.0.0.1/b"},
		{"browse", "--nope", "http://127.0.0.1/"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), "twauth-dev", args, io.Discard, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, stderr.String())
		}
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), "twauth-dev", []string{"help"}, &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), "twauth-dev serve") {
		t.Errorf("help: %d %q", code, stdout.String())
	}
	if code := run(context.Background(), "twauth-dev", []string{"serve", "-h"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("serve -h: %d", code)
	}
}

func TestServePortInUse(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	var stderr bytes.Buffer
	addr := strings.TrimPrefix(busy.URL, "http://")
	if code := run(context.Background(), "twauth-dev", []string{"serve", "--addr", addr}, io.Discard, &stderr); code != 1 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func TestLoopbackAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8910": "tcp4 127.0.0.1:8910",
		"localhost:0":    "tcp4 127.0.0.1:0",
		"[::1]:8910":     "tcp6 [::1]:8910",
		"127.1.2.3:1":    "tcp4 127.1.2.3:1",
	} {
		n, a, err := loopbackAddr(in)
		if err != nil || n+" "+a != want {
			t.Errorf("loopbackAddr(%q) = %s %s %v, want %s", in, n, a, err, want)
		}
	}
}

func TestPageText(t *testing.T) {
	got := pageText("<html><head><title>T</title><style>x{}</style></head><body><p>It&#39;s\n  <b>bad</b></p></body></html>")
	if got != "It's bad" {
		t.Fatalf("pageText = %q", got)
	}
	if got := pageText(strings.Repeat("é", 400)); len([]rune(got)) != 303 {
		t.Fatalf("long text not cut: %d runes", len([]rune(got)))
	}
}

// TestBinarySIGTERM builds the command and checks that SIGTERM shuts it
// down cleanly.
func TestBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "twauth-dev")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--ready-file", ready)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no ready file; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("did not stop on SIGTERM")
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatalf("ready file left behind: %v", err)
	}
	if !strings.HasPrefix(stdout.String(), "export TWAUTH_AUTH_URL=http://127.0.0.1:") || !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// TestPrintEnv: --print-env prints the export lines of a server with the
// flags given, binding nothing (the port may be in use), and needs a port.
func TestPrintEnv(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	addr := strings.TrimPrefix(busy.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	var stdout, stderr bytes.Buffer
	args := []string{"serve", "--print-env", "--addr", addr, "--client-id", "my app",
		"--redirect-uri", "http://127.0.0.1:9/cb", "--redirect-uri", "http://127.0.0.1:10/cb"}
	if code := run(context.Background(), "twauth-dev", args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	dir := filepath.Join(os.TempDir(), "twauth-dev-"+port)
	want := "export TWAUTH_AUTH_URL=" + busy.URL + "/i/oauth2/authorize\n" +
		"export TWAUTH_TOKEN_URL=" + busy.URL + "/2/oauth2/token\n" +
		"export TWAUTH_REVOKE_URL=" + busy.URL + "/2/oauth2/revoke\n" +
		"export TWAUTH_API_URL=" + busy.URL + "\n" +
		"export TWAUTH_CLIENT_ID='my app'\n" +
		"export TWAUTH_REDIRECT_URI='http://127.0.0.1:9/cb http://127.0.0.1:10/cb'\n" +
		"export TWAUTH_CONFIG=" + dir + "/Config.toml\n" +
		"export TWAUTH_STORE=" + dir + "/tokens.json\n"
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout\n%s\nwant\n%s\nstderr %q", stdout.String(), want, stderr.String())
	}

	stderr.Reset()
	if code := run(context.Background(), "twauth-dev", []string{"serve", "--print-env", "--addr", "127.0.0.1:0"}, io.Discard, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "--print-env needs the server's fixed port") {
		t.Errorf("port 0: exit %d, %q", code, stderr.String())
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"./bin/twauth":             "./bin/twauth",
		"http://127.0.0.1:1/a?b=c": "'http://127.0.0.1:1/a?b=c'",
		"":                         "''",
		"my app":                   "'my app'",
		"it's":                     `'it'\''s'`,
		"$HOME":                    "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// buildBinaries builds twauth-dev and twauth into dir.
func buildBinaries(t *testing.T, dir string) {
	t.Helper()
	for pkg, name := range map[string]string{".": "twauth-dev", "../twauth": "twauth"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
}

// startServe starts prog serve on a free port in dir, with tmp as its
// temporary directory, and returns once it listens (its hint is on stderr
// by then) with its address and stderr.
func startServe(t *testing.T, dir, tmp, prog string) (addr string, stderr *syncBuffer, stop func()) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(prog, "serve", "--addr", "127.0.0.1:0", "--ready-file", ready)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stderr = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			addr = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr, stderr, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve: %v; stderr: %s", err, stderr.String())
		}
	}
}

// shell runs script with sh in dir and returns its output.
func shell(t *testing.T, dir, tmp, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	// A home of its own, so that a file written anywhere else than the
	// line says would not go unseen in the user's.
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp, "XDG_CONFIG_HOME="+tmp+"/config",
		"BROWSER=", "DISPLAY=", "WAYLAND_DISPLAY=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestHintRunsAsPrinted: after make build, ./bin/twauth-dev serve prints a
// twauth login line that logs in as printed, and the eval of --print-env's
// export lines plus a short login line do the same; every file they write
// is in the server's own directory under $TMPDIR, which goes when the
// server stops. Started by an absolute path with a blank in it, the line
// names the programs quoted.
func TestHintRunsAsPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	root := filepath.Join(t.TempDir(), "my checkout")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	buildBinaries(t, filepath.Join(root, "bin"))

	check := func(t *testing.T, tmp, addr, out string, stop func()) {
		_, port, _ := strings.Cut(addr, ":")
		sandbox := filepath.Join(tmp, "twauth-dev-"+port)
		if !strings.Contains(out, "Logged in to X as @") {
			t.Errorf("no login:\n%s", out)
		}
		if b, err := os.ReadFile(filepath.Join(sandbox, "Config.toml")); err != nil || !strings.HasPrefix(string(b), `token = "`) {
			t.Errorf("Config.toml: %q %v", b, err)
		}
		entries, _ := os.ReadDir(tmp)
		if len(entries) != 1 || entries[0].Name() != "twauth-dev-"+port {
			t.Errorf("files outside the server's directory: %v", entries)
		}
		stop()
		if _, err := os.Stat(sandbox); !os.IsNotExist(err) {
			t.Errorf("the server left %s behind: %v", sandbox, err)
		}
	}

	t.Run("login line", func(t *testing.T) {
		tmp := t.TempDir()
		addr, stderr, stop := startServe(t, t.TempDir(), tmp, filepath.Join(root, "bin", "twauth-dev"))
		_, line, _ := strings.Cut(stderr.String(), "Log in to it with:\n  ")
		line, _, _ = strings.Cut(line, "\n")
		wantStart := shellQuote(filepath.Join(root, "bin", "twauth")) + " login "
		wantEnd := " --browser " + shellQuote(shellQuote(filepath.Join(root, "bin", "twauth-dev"))+" browse")
		if !strings.HasPrefix(line, wantStart) || !strings.HasSuffix(line, wantEnd) {
			t.Fatalf("login line %q; want %q … %q", line, wantStart, wantEnd)
		}
		check(t, tmp, addr, shell(t, t.TempDir(), tmp, line), stop)
	})

	t.Run("eval", func(t *testing.T) {
		tmp := t.TempDir()
		addr, stderr, stop := startServe(t, root, tmp, "./bin/twauth-dev")
		hint := stderr.String()
		_, evalLine, _ := strings.Cut(hint, "take the export lines above with\n  ")
		evalLine, _, _ = strings.Cut(evalLine, "\n")
		_, login, _ := strings.Cut(hint, "\nand run ")
		login, _, _ = strings.Cut(login, " (then")
		if evalLine != `eval "$(./bin/twauth-dev serve --print-env --addr `+addr+`)"` ||
			login != "./bin/twauth login --browser './bin/twauth-dev browse'" {
			t.Fatalf("hint:\n%s", hint)
		}
		out := shell(t, root, tmp, evalLine+" && "+login+" && ./bin/twauth status")
		if !strings.Contains(out, "Client id      twauth-dev-client") {
			t.Errorf("status:\n%s", out)
		}
		check(t, tmp, addr, out, stop)
	})
}
