package cli_test

import (
	"bytes"
	"context"
	"github.com/twauth/twauth/internal/store"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/xtest"
)

// Ctrl-C (or SIGTERM) that lands after the refresh request reached X, while
// its answer is on the way: X has rotated the refresh token, so the run must
// finish (design: "From the moment the request is sent, the rest of the
// sequence runs on a context that is not cancelled"). Today the answer is
// dropped, the run says "nothing was saved" (exit 130), and the chain is lost.
func TestInterruptWhileXAnswersARefresh(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	w.seed(publicID, scopes, t0.Add(time.Minute), false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	code := cli.Run(ctx, cli.Deps{Stdout: &bytes.Buffer{}, Stderr: &stderr, Now: w.clock.Now, GOOS: "linux",
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r) // X acts on it
			if r.URL.Path == xtest.TokenPath {
				cancel() // Ctrl-C before the answer is read
				if r.Context().Err() != nil {
					resp.Body.Close()
					return nil, r.Context().Err()
				}
			}
			return resp, err
		})}, append([]string{"refresh"}, w.baseArgs()...))
	if code != 0 {
		t.Errorf("refresh interrupted after X answered: exit %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	if r := w.run("token", "--min-valid", "3h"); r.code != 0 {
		t.Fatalf("the chain is lost: next token exits %d: %s", r.code, r.stderr)
	}
}

// --issuer is checked on the listener's callback; with --manual it must be
// checked on the pasted redirect too, not silently ignored.
func TestIssuerIgnoredWithManual(t *testing.T) {
	w := newWorld(t, func(o *xtest.Options) { o.Issuer = "https://evil.example" })
	r := w.manual(func(r, _ string) string { return r }, "--client-id", publicID, "--redirect-uri", w.redirect, "--issuer", "https://x.com")
	if r.code != 3 {
		t.Fatalf("pasted redirect with iss=https://evil.example accepted under --issuer https://x.com: exit %d", r.code)
	}
}

// A store from before accounts holds bob's chain under the client id alone;
// a killed `twauth token` left bob's successor refresh token in a journal.
// Alice then logs in to the same app: bob's entry is moved aside (not
// replaced), so bob's journal must survive and be found under his new key.
func TestLoginOfAnotherAccountDropsTheMovedAccountsJournal(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	_, rt1 := w.srv.IssueTokens(publicID, scopes) // bob's (twauth_dev)
	s := &store.Store{Path: w.store}
	if err := s.Update(context.Background(), func(f *store.File) error {
		f.Clients[publicID] = &store.Entry{ClientID: publicID, AccessToken: "old", RefreshToken: rt1, TokenType: "bearer",
			Expiry: t0.Add(time.Minute), Scope: scopes, Username: xtest.DefaultUsername, UpdatedAt: t0}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(w.srv.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "client_id": {publicID}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := s.Journal(publicID, body); err != nil { // the killed run's journal
		t.Fatal(err)
	}
	w.srv.SetUser("alice", "Alice", "222")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.run("token", "--account", "@"+xtest.DefaultUsername, "--min-valid", "3h"); r.code != 0 {
		t.Fatalf("bob's chain is lost: exit %d\n%s", r.code, r.stderr)
	}
}
