package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/etcdstore"
	"github.com/twauth/twauth/internal/etcdtest"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// TestEtcdThreeMachines (issue 16): three "machines" — separate HOMEs,
// Config.toml files and process groups — run 20 `twauth token` processes
// each, at once, against one refresh chain in a real etcd, while the token
// is about to expire. The fake X sees exactly one refresh; all 60 print the
// same token, the one X now accepts.
func TestEtcdThreeMachines(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build twauth with: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "twauth")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/twauth/twauth/cmd/twauth").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cluster := etcdtest.Start(t, etcdtest.Options{})
	storeURL := cluster.URL("/twauth/e2e")
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t))
	srv := xtest.Start(t, xtest.Options{Clients: []xtest.Client{{ID: crashClientID, RedirectURIs: []string{redirect}}}})
	endpoints := []string{"--auth-url", srv.AuthURL(), "--token-url", srv.TokenURL(), "--revoke-url", srv.RevokeURL(), "--api-url", srv.APIURL()}

	// The first machine logs in: the login seeds the shared entry.
	home0 := filepath.Join(dir, "machine0")
	os.MkdirAll(home0, 0o700)
	cfg0 := filepath.Join(home0, "Config.toml")
	os.WriteFile(cfg0, []byte("clientId = \""+crashClientID+"\"\n"), 0o600)
	var stderr bytes.Buffer
	b := &xtest.HTTPBrowser{}
	code := cli.Run(context.Background(), cli.Deps{
		Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }, Open: b.OpenContext, GOOS: "linux",
	}, append([]string{"login", "--store", storeURL, "--config", cfg0, "--redirect-uri", redirect, "--timeout", "20s", "--browser", "http-browser"}, endpoints...))
	if code != 0 {
		t.Fatalf("login: exit %d\n%s", code, stderr.String())
	}
	// The stored token now expires within --min-valid, for every machine.
	be, err := etcdstore.New(context.Background(), storeURL, etcdstore.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	st := &store.Store{Path: filepath.Join(dir, "unused", "tokens.json"), Backend: be}
	if err := st.Update(context.Background(), func(f *store.File) error {
		e := f.Entry(crashClientID)
		if e == nil {
			return fmt.Errorf("no entry after login: %+v", f.Clients)
		}
		e.Expiry = time.Now().Add(time.Minute).UTC()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	refreshesBefore := countPath(srv.Requests(), xtest.TokenPath)

	type out struct {
		machine int
		code    int
		stdout  string
		stderr  string
	}
	results := make(chan out, 60)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for m := 1; m <= 3; m++ {
		home := filepath.Join(dir, fmt.Sprintf("machine%d", m))
		os.MkdirAll(home, 0o700)
		cfg := filepath.Join(home, "Config.toml")
		os.WriteFile(cfg, []byte("clientId = \""+crashClientID+"\"\n"), 0o600)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(m int) {
				defer wg.Done()
				<-start
				cmd := exec.Command(bin, append([]string{"token", "--store", storeURL, "--config", cfg, "--min-valid", "5m"}, endpoints...)...)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				var so, se bytes.Buffer
				cmd.Stdout, cmd.Stderr = &so, &se
				err := cmd.Run()
				code := 0
				if err != nil {
					code = -1
					if ee, ok := err.(*exec.ExitError); ok {
						code = ee.ExitCode()
					}
				}
				results <- out{m, code, so.String(), se.String()}
			}(m)
		}
	}
	close(start)
	wg.Wait()
	close(results)
	tokens := map[string]int{}
	for r := range results {
		if r.code != 0 {
			t.Errorf("machine %d: exit %d\n%s", r.machine, r.code, r.stderr)
			continue
		}
		tokens[strings.TrimSpace(r.stdout)]++
	}
	if len(tokens) != 1 {
		t.Fatalf("the 60 processes printed %d different tokens: %v", len(tokens), tokens)
	}
	if n := countPath(srv.Requests(), xtest.TokenPath) - refreshesBefore; n != 1 {
		t.Errorf("%d refreshes reached X, want exactly one", n)
	}
	for tok := range tokens {
		if !srv.IsValidAccessToken(tok) {
			t.Error("the token all printed is not one X accepts")
		}
	}
}

func countPath(reqs []xtest.Request, path string) int {
	n := 0
	for _, r := range reqs {
		if r.Path == path {
			n++
		}
	}
	return n
}
