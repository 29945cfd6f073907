//go:build unix

package cli_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/xtest"
)

// TestBrowserGetsNoSecrets (issue 13, items 1 and 4): the browser twauth
// starts is a process every user of the machine can see (ps,
// /proc/PID/cmdline). It gets the path of a page only this user can read,
// not the authorization URL: no state and no code challenge in any argv.
// And it inherits neither TWAUTH_CLIENT_SECRET nor TWAUTH_REFRESH_TOKEN.
func TestBrowserGetsNoSecrets(t *testing.T) {
	bin := twauthBinary(t)
	port := freePort(t)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
	srv := xtest.Start(t, xtest.Options{Clients: []xtest.Client{{ID: confID, Secret: confSecret, RedirectURIs: []string{redirect}}}})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "Config.toml")
	if err := os.WriteFile(cfg, []byte("clientId = \""+confID+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The "browser" records its argv and environment, then leaves.
	rec := filepath.Join(dir, "browser")
	script := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv > '"+rec+".env'\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '"+rec+".tmp'\nmv '"+rec+".tmp' '"+rec+".argv'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	const seedRT = "SEED-REFRESH-TOKEN-not-used"
	cmd := exec.Command(bin, "login", "--browser", script, "--redirect-uri", redirect, "--config", cfg,
		"--store", filepath.Join(dir, "state", "tokens.json"),
		"--auth-url", srv.AuthURL(), "--token-url", srv.TokenURL(), "--api-url", srv.APIURL(), "--timeout", "1m")
	cmd.Env = append(binaryEnv(dir), "TWAUTH_CLIENT_SECRET="+confSecret, "TWAUTH_REFRESH_TOKEN="+seedRT, "DISPLAY=:0")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()

	var argv []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if argv, err = os.ReadFile(rec + ".argv"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser never ran:\n%s", stderr.String())
		}
	}
	// The URL twauth printed for the user carries the state: find it.
	authURL := regexp.MustCompile(`http://127\.0\.0\.1:\d+/i/oauth2/authorize\?\S+`).FindString(stderr.String())
	u, err := url.Parse(authURL)
	if err != nil || u.Query().Get("state") == "" {
		t.Fatalf("no authorization URL on stderr:\n%s", stderr.String())
	}
	state, challenge := u.Query().Get("state"), u.Query().Get("code_challenge")
	for _, secret := range []string{state, challenge, "state=", "code_challenge="} {
		if strings.Contains(string(argv), secret) {
			t.Fatalf("the browser's argv holds %q:\n%s", secret, argv)
		}
	}
	env, _ := os.ReadFile(rec + ".env")
	for _, secret := range []string{confSecret, seedRT, "TWAUTH_CLIENT_SECRET", "TWAUTH_REFRESH_TOKEN"} {
		if strings.Contains(string(env), secret) {
			t.Fatalf("the browser inherited %q", secret)
		}
	}
	// It got a file:// page of this user's alone that leads to the URL.
	page, err := url.Parse(strings.TrimSpace(string(argv)))
	if err != nil || page.Scheme != "file" {
		t.Fatalf("the browser got %q, want a file:// URL", argv)
	}
	fi, err := os.Stat(page.Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the page: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	body, _ := os.ReadFile(page.Path)
	m := regexp.MustCompile(`content="0;url=([^"]+)"`).FindSubmatch(body)
	if m == nil || strings.ReplaceAll(string(m[1]), "&amp;", "&") != authURL {
		t.Fatalf("the page does not lead to the authorization URL:\n%s", body)
	}
	// The user's browser follows it; the login completes.
	if err := (&xtest.HTTPBrowser{}).OpenContext(context.Background(), authURL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the login did not finish:\n%s", stderr.String())
	}
	if _, err := os.Stat(page.Path); !os.IsNotExist(err) {
		t.Errorf("the page outlived the login: %v", err)
	}
}

// lockedBuffer is a buffer a child process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
