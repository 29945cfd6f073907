package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/twauth/twauth/internal/testport"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// BenchmarkLogin is one whole `twauth login`, in process, against the fake
// X server with an HTTP "browser", everything on loopback: Config.toml is
// read, the listener starts on the redirect URI, the browser follows the
// authorization URL to the callback, the code is exchanged, /2/users/me is
// asked, the store and Config.toml are written (fsynced) and the listener
// stops. Target (issue 7): at most 5 ms.
func BenchmarkLogin(b *testing.B) {
	dir := b.TempDir()
	port := freePortB(b)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
	srv := xtest.Start(b, xtest.Options{Clients: []xtest.Client{{ID: publicID, RedirectURIs: []string{redirect}}}})
	cfg := filepath.Join(dir, "Config.toml")
	if err := os.WriteFile(cfg, []byte("# Ballerina config\nclientId = \""+publicID+"\"\n\n[myorg.app]\nlevel = \"DEBUG\"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	browser := &xtest.HTTPBrowser{}
	var stderr bytes.Buffer
	deps := cli.Deps{
		Stdout: io.Discard,
		Stderr: &stderr,
		// A desktop session: the browser can open.
		Getenv: func(k string) string {
			if k == "DISPLAY" {
				return ":0"
			}
			return ""
		},
		GOOS: "linux",
		Open: func(ctx context.Context, u string) error { return browser.OpenContext(ctx, u) },
	}
	args := []string{
		"login", "--timeout", "10s", "--redirect-uri", redirect, "--config", cfg, "--store", filepath.Join(dir, "tokens.json"),
		"--auth-url", srv.AuthURL(), "--token-url", srv.TokenURL(), "--revoke-url", srv.RevokeURL(), "--api-url", srv.APIURL(),
	}
	ctx := context.Background()
	for b.Loop() {
		stderr.Reset()
		if code := cli.Run(ctx, deps, args); code != 0 {
			b.Fatalf("login: exit %d\n%s", code, stderr.String())
		}
		browser.Wait()
		if browser.LastStatus != 200 {
			b.Fatalf("the callback page answered %d", browser.LastStatus)
		}
		// The fake keeps every request it saw; forget them.
		srv.ResetRequests()
		browser.Visited = browser.Visited[:0]
	}
}

// BenchmarkTokenCached is `twauth token` with a valid stored token, in
// process: the flags are parsed, Config.toml is read for the client id, the
// store is read and the token printed. No lock, no network.
func BenchmarkTokenCached(b *testing.B) {
	for _, bc := range []struct {
		name string
		args []string
	}{
		// The client id comes from Config.toml: both files are read.
		{"config", nil},
		// --client-id given: only the store is read.
		{"client-id", []string{"--client-id", publicID}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := filepath.Join(dir, "Config.toml")
			if err := os.WriteFile(cfg, []byte("clientId = \""+publicID+"\"\ntoken = \"access-token\"\n"), 0o600); err != nil {
				b.Fatal(err)
			}
			st := &store.Store{Path: filepath.Join(dir, "tokens.json")}
			err := st.Update(context.Background(), func(f *store.File) error {
				f.Clients[publicID] = &store.Entry{
					ClientID: publicID, AccessToken: "access-token", RefreshToken: "refresh-token", TokenType: "bearer",
					Expiry: time.Now().Add(2 * time.Hour), Scope: "tweet.read users.read offline.access",
					TokenURL: "https://api.x.com/2/oauth2/token", Config: &store.ConfigKeys{Path: cfg, TokenKey: "token"},
					UpdatedAt: time.Now(),
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			deps := cli.Deps{Stdout: &stdout, Stderr: &stderr, GOOS: "linux"}
			args := append([]string{"token", "--config", cfg, "--store", st.Path}, bc.args...)
			ctx := context.Background()
			for b.Loop() {
				stdout.Reset()
				if code := cli.Run(ctx, deps, args); code != 0 || !strings.HasPrefix(stdout.String(), "access-token") {
					b.Fatalf("token: exit %d, stdout %q\n%s", code, stdout.String(), stderr.String())
				}
			}
		})
	}
}

func freePortB(b *testing.B) int {
	b.Helper()
	return testport.Free(b)
}
