package main

import (
	"context"
	"fmt"
	"github.com/twauth/twauth/internal/testport"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// The scripts in testdata/script run twauth as a real process: the test
// binary re-executes itself as "twauth" (cli.Main) and as "twauth-browse",
// an HTTP "browser" that approves on the fake X server.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"twauth": func() {
			os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
		"twauth-browse": func() {
			b := &xtest.HTTPBrowser{}
			if err := b.Open(os.Args[len(os.Args)-1]); err != nil {
				fmt.Fprintln(os.Stderr, "twauth-browse:", err)
				os.Exit(1)
			}
		},
	})
}

// Clients registered with each script's fake X server.
const (
	scriptPublicID = "twauth-test-public"
	scriptConfID   = "twauth-test-conf"
	scriptSecret   = "conf-secret-value"
)

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("TWAUTH_UPDATE_SCRIPTS") != "",
		Setup: func(env *testscript.Env) error {
			port := testport.Free(env.T())
			redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
			srv := xtest.NewServer(xtest.Options{Clients: []xtest.Client{
				{ID: scriptPublicID, RedirectURIs: []string{redirect}},
				{ID: scriptConfID, Secret: scriptSecret, RedirectURIs: []string{redirect}},
			}})
			env.Defer(srv.Close)
			for k, v := range map[string]string{
				"TWAUTH_AUTH_URL":     srv.AuthURL(),
				"TWAUTH_TOKEN_URL":    srv.TokenURL(),
				"TWAUTH_REVOKE_URL":   srv.RevokeURL(),
				"TWAUTH_API_URL":      srv.APIURL(),
				"TWAUTH_REDIRECT_URI": redirect,
				"TWAUTH_STORE":        filepath.Join(env.WorkDir, "state", "tokens.json"),
				"REDIRECT":            redirect,
				"PUBLIC_ID":           scriptPublicID,
				"CONF_ID":             scriptConfID,
				"CONF_SECRET":         scriptSecret,
				"HOME":                env.WorkDir,
				"XDG_CONFIG_HOME":     filepath.Join(env.WorkDir, ".config"),
				"DISPLAY":             ":0",
				"BROWSER":             "twauth-browse",
			} {
				env.Setenv(k, v)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"tokens":  cmdTokens,
			"approve": cmdApprove,
		},
	})
}

// tokens CLIENT_ID sets $ACCESS and $REFRESH from the store.
func cmdTokens(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: tokens CLIENT_ID")
	}
	f, err := (&store.Store{Path: ts.Getenv("TWAUTH_STORE")}).Load()
	ts.Check(err)
	e := f.Entry(args[0])
	if (e != nil) == neg {
		ts.Fatalf("store entry for %s: present = %v", args[0], e != nil)
	}
	if e != nil {
		ts.Setenv("ACCESS", e.AccessToken)
		ts.Setenv("REFRESH", e.RefreshToken)
	}
}

// approve VAR opens the authorization URL printed on the last stdout,
// approves it, and sets $VAR to the URL X redirected to.
func cmdApprove(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: approve VAR")
	}
	authURL := ts.ReadFile("stdout")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(trimSpace(authURL))
	ts.Check(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		ts.Fatalf("authorize answered %d", resp.StatusCode)
	}
	ts.Setenv(args[0], resp.Header.Get("Location"))
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
