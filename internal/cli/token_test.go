package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

const scopes = "tweet.read tweet.write users.read follows.read offline.access"

func TestTokenFastPathNeedsNoNetwork(t *testing.T) {
	w := newWorld(t)
	access, _ := w.seed(publicID, scopes, t0.Add(2*time.Hour), false)
	r := w.run("token", "--client-id", publicID)
	if r.code != 0 || r.stdout != access+"\n" || r.stderr != "" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := len(w.srv.Requests()); n != 0 {
		t.Fatalf("%d requests to X on the fast path", n)
	}
	mustExist(t, w.cfg, false)

	// The only app in the store needs no --client-id.
	if r := w.run("token"); r.code != 0 || r.stdout != access+"\n" {
		t.Fatalf("token without a client id: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// --json.
	r = w.run("token", "--json")
	m := decodeJSON(t, r.stdout)
	if m["access_token"] != access || m["token_type"] != "bearer" || m["expires_at"] != "2026-12-01T12:00:00Z" || m["scope"] != scopes || m["refresh_token"] != nil {
		t.Fatalf("token --json = %v", m)
	}
}

func TestTokenExpiryEdge(t *testing.T) {
	for _, tc := range []struct {
		left    time.Duration
		refresh bool
	}{
		{5*time.Minute + time.Second, false},
		{5 * time.Minute, true}, // exactly --min-valid: not "longer than"
		{time.Minute, true},
		{-time.Hour, true},
	} {
		t.Run(tc.left.String(), func(t *testing.T) {
			w := newWorld(t)
			access, _ := w.seed(publicID, scopes, t0.Add(tc.left), false)
			r := w.run("token", "--client-id", publicID, "--min-valid", "5m")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			refreshed := w.srv.CountGrant("refresh_token") == 1
			if refreshed != tc.refresh {
				t.Fatalf("refreshed = %v, want %v", refreshed, tc.refresh)
			}
			if got := strings.TrimSpace(r.stdout); (got == access) == tc.refresh {
				t.Fatalf("printed %q (old %q)", got, access)
			}
		})
	}
}

func TestTokenRefreshSavesRotationAndConfig(t *testing.T) {
	w := newWorld(t)
	const head = "# keep\nclientId = \"" + publicID + "\"\ntoken = \"stale\" # trailing\n"
	w.writeConfig(head)
	_, oldRefresh := w.seed(publicID, scopes, t0.Add(time.Minute), false)
	r := w.run("token")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	e := w.entry(publicID)
	if r.stdout != e.AccessToken+"\n" || e.RefreshToken == oldRefresh || !w.srv.IsValidRefreshToken(e.RefreshToken) || w.srv.IsValidRefreshToken(oldRefresh) {
		t.Fatalf("rotation not saved: %+v", e)
	}
	if !e.Expiry.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("expiry %v", e.Expiry)
	}
	want := "# keep\nclientId = \"" + publicID + "\"\ntoken = \"" + e.AccessToken + "\" # trailing\n"
	if got := w.readConfig(); got != want {
		t.Errorf("Config.toml =\n%s\nwant\n%s", got, want)
	}
	tr := w.tokenRequests()[0]
	if tr.RawBody != "client_id="+publicID+"&grant_type=refresh_token&refresh_token="+oldRefresh || tr.Header.Get("Authorization") != "" {
		t.Errorf("refresh request %q auth %q", tr.RawBody, tr.Header.Get("Authorization"))
	}
}

func TestTokenDoesNotCreateConfig(t *testing.T) {
	w := newWorld(t)
	w.seed(publicID, scopes, t0, false)
	if r := w.run("token", "--client-id", publicID); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	mustExist(t, w.cfg, false)
}

func TestTokenLoginNeeded(t *testing.T) {
	w := newWorld(t)
	r := w.run("token", "--client-id", publicID)
	if r.code != 4 || !strings.Contains(r.stderr, "no token is stored for client id "+publicID+": run twauth login") {
		t.Fatalf("empty store: exit %d\n%s", r.code, r.stderr)
	}
	// No refresh token.
	w.srv.IssueTokens(publicID, "tweet.read")
	s := &store.Store{Path: w.store}
	s.Update(context.Background(), func(f *store.File) error {
		f.Clients[publicID] = &store.Entry{ClientID: publicID, AccessToken: "dead", TokenType: "bearer", Expiry: t0.Add(-time.Minute)}
		return nil
	})
	r = w.run("token", "--client-id", publicID)
	if r.code != 4 || !strings.Contains(r.stderr, "has no refresh token") {
		t.Fatalf("no refresh token: exit %d\n%s", r.code, r.stderr)
	}
	if len(w.srv.Requests()) != 0 {
		t.Fatal("a request was made without a refresh token")
	}
}

func TestReusedRefreshTokenIsLoginNeeded(t *testing.T) {
	w := newWorld(t)
	_, rt := w.seed(publicID, scopes, t0, false)
	if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
		t.Fatalf("first refresh: exit %d\n%s", r.code, r.stderr)
	}
	// A second machine still holds the old refresh token.
	r := w.run("refresh", "--client-id", publicID, "--refresh-token", rt)
	if r.code != 4 {
		t.Fatalf("exit %d, want 4\n%s", r.code, r.stderr)
	}
	for _, s := range []string{"--refresh-token or TWAUTH_REFRESH_TOKEN", "already used (X rotates it on every refresh", "Seed a new one: twauth login where a browser can open, then twauth refresh --json | jq -jr .refresh_token"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	// The rotated token in the store still works.
	if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
		t.Fatalf("refresh with the stored token: exit %d\n%s", r.code, r.stderr)
	}
}

func TestConcurrentTokenCallsRefreshOnce(t *testing.T) {
	w := newWorld(t)
	w.seed(publicID, scopes, t0.Add(time.Minute), false)
	// Slow X down so that every caller finds the token expiring.
	w.srv.InjectTokenFault(xtest.Fault{Delay: 200 * time.Millisecond})
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = w.run("token", "--client-id", publicID)
		}(i)
	}
	wg.Wait()
	if got := w.srv.CountGrant("refresh_token"); got != 1 {
		t.Fatalf("%d refresh requests from %d concurrent callers, want 1", got, n)
	}
	e := w.entry(publicID)
	for i, r := range results {
		if r.code != 0 || r.stdout != e.AccessToken+"\n" {
			t.Errorf("caller %d: exit %d stdout %q\n%s", i, r.code, r.stdout, r.stderr)
		}
	}
	if !w.srv.IsValidRefreshToken(e.RefreshToken) {
		t.Error("the rotated refresh token in the store is not the live one")
	}
}

func TestRefreshTransientFailures(t *testing.T) {
	t.Run("503 then success", func(t *testing.T) {
		w := newWorld(t)
		w.seed(publicID, scopes, t0, false)
		w.srv.InjectTokenFault(xtest.Fault{Status: 503, Body: `{"title":"Service Unavailable"}`})
		if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if len(w.tokenRequests()) != 2 || len(w.sleeps) != 1 {
			t.Fatalf("%d requests, waits %v", len(w.tokenRequests()), w.sleeps)
		}
	})
	t.Run("Retry-After", func(t *testing.T) {
		w := newWorld(t)
		w.seed(publicID, scopes, t0, false)
		w.srv.InjectTokenFault(xtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"12"}}, Body: `{"title":"Too Many Requests"}`})
		if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if len(w.sleeps) != 1 || w.sleeps[0] != 12*time.Second {
			t.Fatalf("waits %v, want [12s]", w.sleeps)
		}
	})
	t.Run("lost response", func(t *testing.T) {
		w := newWorld(t)
		w.seed(publicID, scopes, t0, false)
		w.srv.InjectTokenFault(xtest.Fault{DropAfterProcessing: true})
		r := w.run("refresh", "--client-id", publicID)
		if r.code != 1 || !strings.Contains(r.stderr, "X may already have used the refresh token") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if len(w.tokenRequests()) != 1 {
			t.Fatal("a refresh whose answer was lost was sent again")
		}
		// X did rotate: the stored token is dead now, and twauth says so.
		if r := w.run("refresh", "--client-id", publicID); r.code != 4 {
			t.Fatalf("after the lost response: exit %d\n%s", r.code, r.stderr)
		}
	})
}

func TestRefreshJSONAndSeedFromEnvironment(t *testing.T) {
	w := newWorld(t)
	_, rt := w.srv.IssueTokens(publicID, scopes)
	w.env["TWAUTH_REFRESH_TOKEN"] = rt
	w.env["TWAUTH_CLIENT_ID"] = publicID
	r := w.run("refresh", "--json", "--refresh-token-key", "refreshToken")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	m := decodeJSON(t, r.stdout)
	e := w.entry(publicID)
	if m["refresh_token"] != e.RefreshToken || m["access_token"] != e.AccessToken || m["expires_at"] != "2026-12-01T12:00:00Z" || e.RefreshToken == rt {
		t.Fatalf("refresh --json = %v, store %+v", m, e)
	}
	// Config.toml created, 0600, with both keys.
	want := "token = \"" + e.AccessToken + "\"\nrefreshToken = \"" + e.RefreshToken + "\"\n"
	if got := w.readConfig(); got != want {
		t.Errorf("Config.toml =\n%s\nwant\n%s", got, want)
	}
	if m := fileMode(t, w.cfg); m != 0o600 {
		t.Errorf("mode %o", m)
	}
}

func TestConfidentialRefreshNeedsSecret(t *testing.T) {
	w := newWorld(t)
	w.seed(confID, scopes, t0, true)
	r := w.run("token", "--client-id", confID)
	if r.code != 2 || !strings.Contains(r.stderr, "confidential client") || len(w.srv.Requests()) != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	r = w.run("token", "--client-id", confID)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if auth := w.tokenRequests()[0].Header.Get("Authorization"); !strings.HasPrefix(auth, "Basic ") {
		t.Fatalf("Authorization %q", auth)
	}
}

func TestTwoClientsSideBySide(t *testing.T) {
	w := newWorld(t)
	a1, _ := w.seed(publicID, scopes, t0.Add(time.Hour), false)
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	a2, _ := w.seed(confID, scopes, t0.Add(time.Minute), true)
	r := w.run("token", "--client-id", confID)
	if r.code != 0 || strings.TrimSpace(r.stdout) == a2 {
		t.Fatalf("exit %d %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run("token", "--client-id", publicID); r.stdout != a1+"\n" {
		t.Fatalf("the other app's token changed: %q", r.stdout)
	}
	if r := w.run("token"); r.code != 2 || !strings.Contains(r.stderr, "several apps") {
		t.Fatalf("no client id with two apps: exit %d\n%s", r.code, r.stderr)
	}
	f := w.readStore()
	if len(f.Clients) != 2 || f.Entry(publicID).AccessToken != a1 {
		t.Fatalf("store = %+v", f.Clients)
	}
}

func TestStatus(t *testing.T) {
	w := newWorld(t)
	if r := w.run("status", "--client-id", publicID); r.code != 4 || !strings.Contains(r.stderr, "nothing is stored") {
		t.Fatalf("empty: exit %d\n%s", r.code, r.stderr)
	}
	w.seed(publicID, scopes, t0.Add(90*time.Minute), false)
	r := w.run("status", "--verify")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, s := range []string{
		"Client id      " + publicID + " (public client)",
		"Config.toml    " + w.cfg + ", key token",
		"Token store    " + w.store,
		"Scopes         " + scopes,
		"Access token   expires 2026-12-01 11:30:00 UTC (in 1h30m)",
		"Refresh token  held",
		"Verified       yes",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("status lacks %q:\n%s", s, r.stdout)
		}
	}
	m := decodeJSON(t, w.run("status", "--json").stdout)
	if m["client_type"] != "public" || m["refresh_token_held"] != true || m["expires_in_seconds"] != float64(5400) || m["expired"] != false {
		t.Fatalf("status --json = %v", m)
	}
	for k := range m {
		if strings.Contains(k, "access_token") || k == "refresh_token" {
			t.Errorf("status --json shows %s", k)
		}
	}
	// Whether the program's Config.toml holds the stored token.
	access := w.entry(publicID).AccessToken
	for _, c := range []struct {
		content, says string
		current       bool
	}{
		{"", "key token (missing: twauth refresh writes it)", false},
		{"clientId = \"" + publicID + "\"\n", "key token (no token there: twauth refresh writes it)", false},
		{"token = \"" + access + "\"\n", "key token (holds the current access token)", true},
		{"token = \"older\"\n", "key token (holds another access token, not the stored one: twauth refresh updates it)", false},
	} {
		os.Remove(w.cfg)
		if c.content != "" {
			w.writeConfig(c.content)
		}
		r := w.run("status", "--client-id", publicID)
		if r.code != 0 || !strings.Contains(r.stdout, "Config.toml    "+w.cfg+", "+c.says) {
			t.Errorf("with Config.toml %q, status (exit %d) does not say %q:\n%s", c.content, r.code, c.says, r.stdout)
		}
		if m := decodeJSON(t, w.run("status", "--client-id", publicID, "--json").stdout); m["config_current"] != c.current {
			t.Errorf("with Config.toml %q, config_current = %v", c.content, m["config_current"])
		}
	}
	w.clock.Advance(2 * time.Hour)
	r = w.run("status", "--verify")
	if r.code != 4 || !strings.Contains(r.stdout, "expired 2026-12-01 11:30:00 UTC (30m ago)") {
		t.Fatalf("expired: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestRevoke(t *testing.T) {
	for _, confidential := range []bool{false, true} {
		t.Run(fmt.Sprint("confidential=", confidential), func(t *testing.T) {
			w := newWorld(t)
			id := publicID
			if confidential {
				id = confID
				w.env["TWAUTH_CLIENT_SECRET"] = confSecret
			}
			w.writeConfig("# app\nclientId = \"" + id + "\"\n\n[other]\nx = 1\n")
			if r := w.run("login", "--refresh-token-key", "other.refreshToken"); r.code != 0 {
				t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
			}
			e := w.entry(id)
			w.srv.ResetRequests()
			r := w.run("revoke")
			if r.code != 0 {
				t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
			}
			reqs := w.srv.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d revoke requests", len(reqs))
			}
			for i, hint := range []string{"refresh_token", "access_token"} {
				tok := e.RefreshToken
				if i == 1 {
					tok = e.AccessToken
				}
				if reqs[i].Path != xtest.RevokePath || reqs[i].Form.Get("token") != tok || reqs[i].Form.Get("token_type_hint") != hint {
					t.Errorf("request %d = %s %v", i, reqs[i].Path, reqs[i].Form)
				}
				hasBasic := strings.HasPrefix(reqs[i].Header.Get("Authorization"), "Basic ")
				if hasBasic != confidential || reqs[i].Form.Has("client_id") == confidential {
					t.Errorf("request %d: client auth wrong for confidential=%v: %q %v", i, confidential, reqs[i].Header.Get("Authorization"), reqs[i].Form)
				}
			}
			if w.srv.IsValidAccessToken(e.AccessToken) || w.srv.IsValidRefreshToken(e.RefreshToken) {
				t.Error("tokens still valid at X")
			}
			if got, want := w.readConfig(), "# app\nclientId = \""+id+"\"\n\n[other]\nx = 1\n"; got != want {
				t.Errorf("Config.toml after revoke =\n%q\nwant\n%q", got, want)
			}
			if w.entry(id) != nil {
				t.Error("store entry kept")
			}
			// Nothing left: exit 4, saying so (not "run twauth login").
			if r := w.run("revoke"); r.code != 4 || !strings.Contains(r.stderr, "there is nothing to revoke") || strings.Contains(r.stderr, "run twauth login") {
				t.Errorf("second revoke: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

func TestRevokeAlreadyInvalidCounts(t *testing.T) {
	w := newWorld(t)
	access, refresh := w.seed(publicID, scopes, t0.Add(time.Hour), false)
	w.srv.RevokeToken(refresh)
	w.srv.RevokeToken(access)
	r := w.run("revoke", "--client-id", publicID)
	if r.code != 0 || w.entry(publicID) != nil {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestRevokeOfflineKeepsEverything(t *testing.T) {
	w := newWorld(t)
	w.seed(publicID, scopes, t0.Add(time.Hour), false)
	before, _ := os.ReadFile(w.store)
	w.srv.InjectFault(xtest.RevokePath, xtest.Fault{Status: 503})
	w.srv.InjectFault(xtest.RevokePath, xtest.Fault{Status: 503})
	w.srv.InjectFault(xtest.RevokePath, xtest.Fault{Status: 503})
	w.srv.InjectFault(xtest.RevokePath, xtest.Fault{Status: 503})
	r := w.run("revoke", "--client-id", publicID)
	if r.code != 1 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(w.store)
	if string(before) != string(after) {
		t.Fatal("the store changed although X could not revoke")
	}
}

func TestTokenWarnsWhenMinValidExceedsTheLifetime(t *testing.T) {
	w := newWorld(t)
	w.seed(publicID, scopes, t0.Add(time.Minute), false)
	r := w.run("token", "--client-id", publicID, "--min-valid", "3h")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if w.srv.CountGrant("refresh_token") != 1 {
		t.Fatalf("%d refreshes, want 1", w.srv.CountGrant("refresh_token"))
	}
	want := "the new access token is valid for only 2h0m0s, not more than --min-valid 3h0m0s: every twauth token will refresh; lower --min-valid"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q, want the warning %q", r.stderr, want)
	}
	if r.stdout != w.entry(publicID).AccessToken+"\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
}

// A twauth killed after X rotated the refresh token, but before the new
// store replaced the old one, leaves the successor in a temporary store
// file. The next refresh tries it first, since it is newer than the store
// (docs/design.md, "The durable sequence"): the spent token is never sent
// again, which a server with reuse detection would punish.
func TestRefreshRecoversTheTokenAKilledTwauthLeft(t *testing.T) {
	w := newWorld(t)
	_, oldRefresh := w.seed(publicID, scopes, t0.Add(time.Minute), false)
	before, err := os.ReadFile(w.store)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	rotated, err := os.ReadFile(w.store)
	if err != nil {
		t.Fatal(err)
	}
	successor := w.entry(publicID).RefreshToken
	// Put the world back as the kill left it: the old store in place, the
	// new one under a temp name, plus a temp file cut short.
	orphan := filepath.Join(filepath.Dir(w.store), ".tokens.json.tmp-4242")
	for path, data := range map[string][]byte{
		w.store: before,
		orphan:  rotated,
		filepath.Join(filepath.Dir(w.store), ".tokens.json.tmp-1"): rotated[:len(rotated)/2],
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The kill came after the store's last save.
	storeTime := time.Now().Add(-time.Minute)
	if err := os.Chtimes(w.store, storeTime, storeTime); err != nil {
		t.Fatal(err)
	}

	r := w.run("refresh", "--client-id", publicID)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "its successor was recovered from "+orphan) {
		t.Errorf("stderr = %q, want the recovery named", r.stderr)
	}
	e := w.entry(publicID)
	if !w.srv.IsValidRefreshToken(e.RefreshToken) || e.RefreshToken == successor || e.RefreshToken == oldRefresh {
		t.Fatalf("store holds %q: not a fresh rotation of the recovered token", e.RefreshToken)
	}
	// The requests: the first refresh, then the recovered token; the
	// spent one is not sent again.
	reqs := w.tokenRequests()
	if n := len(reqs); n != 2 || reqs[0].Form.Get("refresh_token") != oldRefresh || reqs[1].Form.Get("refresh_token") != successor {
		t.Fatalf("token requests: %+v", reqs)
	}
	ents, _ := os.ReadDir(filepath.Dir(w.store))
	for _, de := range ents {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("temp file %s left after a successful save", de.Name())
		}
	}

	// With nothing to recover, a rejected token is still "log in again".
	if err := os.WriteFile(w.store, before, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := w.run("refresh", "--client-id", publicID); r.code != 4 || !strings.Contains(r.stderr, "twauth login") {
		t.Fatalf("exit %d, want 4\n%s", r.code, r.stderr)
	}
}

// TestVersion: the plain line and --json agree, and --json is JSON with
// the version and Go release (a flag that exists works).
func TestVersion(t *testing.T) {
	w := newWorld(t)
	plain := w.run("version")
	if plain.code != 0 || !strings.HasPrefix(plain.stdout, "twauth ") || !strings.HasSuffix(plain.stdout, "\n") || plain.stderr != "" {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", plain.code, plain.stdout, plain.stderr)
	}
	js := w.run("version", "--json")
	if js.code != 0 {
		t.Fatalf("version --json: exit %d, stderr %q", js.code, js.stderr)
	}
	m := decodeJSON(t, js.stdout)
	v, _ := m["version"].(string)
	g, _ := m["go"].(string)
	if v == "" || !strings.HasPrefix(g, "go") {
		t.Fatalf("version --json = %q: want version and go", js.stdout)
	}
	if want := "twauth " + v; !strings.HasPrefix(plain.stdout, want) || !strings.Contains(plain.stdout, g) {
		t.Errorf("version says %q, --json says version %q go %q", plain.stdout, v, g)
	}
}

// TestRevokeClearsKeysOfEarlierLogins: a login that writes elsewhere (another
// --token-key, another Config.toml) leaves the previous login's token where
// it was; the store remembers that key by the token's SHA-256 only, login
// says so, and revoke clears it — unless the user has put another value
// there since.
func TestRevokeClearsKeysOfEarlierLogins(t *testing.T) {
	w := newWorld(t)
	first := w.cfg
	second := filepath.Join(w.dir, "app2", "Config.toml")
	if err := os.MkdirAll(filepath.Dir(second), 0o700); err != nil {
		t.Fatal(err)
	}
	w.writeConfig("clientId = \"" + publicID + "\"\n\n[db]\nhost = \"h\"\n")
	if r := w.run("login", "--refresh-token-key", "refreshToken"); r.code != 0 {
		t.Fatalf("first login: exit %d\n%s", r.code, r.stderr)
	}
	e1 := w.entry(publicID)
	// Second login: same Config.toml, the access token under another key.
	r := w.run("login", "--token-key", "db.token", "--refresh-token-key", "refreshToken")
	if r.code != 0 {
		t.Fatalf("second login: exit %d\n%s", r.code, r.stderr)
	}
	if want := first + ", key token, still holds a token of the previous login, valid until it expires or is revoked"; !strings.Contains(r.stderr, want) {
		t.Errorf("second login did not say %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stderr, "key refreshToken, still") {
		t.Errorf("refreshToken is written again, yet login called it left behind:\n%s", r.stderr)
	}
	e2 := w.entry(publicID)
	// Third login: another Config.toml.
	w.cfg = second
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("third login: exit %d\n%s", r.code, r.stderr)
	}
	e3 := w.entry(publicID)
	want := []store.EarlierKey{
		{Path: first, Key: "token", Kind: "access_token", SHA256: store.Fingerprint(e1.AccessToken)},
		{Path: first, Key: "db.token", Kind: "access_token", SHA256: store.Fingerprint(e2.AccessToken)},
		{Path: first, Key: "refreshToken", Kind: "refresh_token", SHA256: store.Fingerprint(e2.RefreshToken)},
	}
	if !reflect.DeepEqual(e3.Earlier, want) {
		t.Fatalf("store records earlier keys\n%+v\nwant\n%+v", e3.Earlier, want)
	}
	raw, _ := os.ReadFile(w.store)
	for _, tok := range []string{e1.AccessToken, e1.RefreshToken, e2.AccessToken, e2.RefreshToken} {
		if strings.Contains(string(raw), tok) {
			t.Fatal("the store keeps a token of an earlier login")
		}
	}
	// The user reuses db.token for something else: revoke must keep it.
	w.cfg = first
	cfg1 := w.readConfig()
	cfg1 = strings.Replace(cfg1, `token = "`+e2.AccessToken+`"`, `token = "mine"`, 1)
	w.writeConfig(cfg1)
	w.cfg = second

	r = w.run("revoke", "--json")
	if r.code != 0 {
		t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
	}
	if got := w.readConfig(); got != "clientId = \""+publicID+"\"\n" {
		t.Errorf("%s after revoke = %q", second, got)
	}
	w.cfg = first
	if got, want := w.readConfig(), "clientId = \""+publicID+"\"\n\n[db]\nhost = \"h\"\ntoken = \"mine\"\n"; got != want {
		t.Errorf("%s after revoke =\n%s\nwant\n%s", first, got, want)
	}
	m := decodeJSON(t, r.stdout)
	if got := fmt.Sprint(m["removed_earlier_keys"]); got != fmt.Sprintf("map[%s:[token refreshToken]]", first) {
		t.Errorf("removed_earlier_keys = %s", got)
	}
	if got := fmt.Sprint(m["removed_keys"]); got != "[token]" {
		t.Errorf("removed_keys = %s", got)
	}
	// Removed means revoked first: the earlier logins' tokens (the first
	// login's access token, the second's access and refresh tokens) are
	// dead at X, with the third's.
	for name, dead := range map[string]bool{
		"first access token":   !w.srv.IsValidAccessToken(e1.AccessToken),
		"second access token":  !w.srv.IsValidAccessToken(e2.AccessToken),
		"second refresh token": !w.srv.IsValidRefreshToken(e2.RefreshToken),
		"third access token":   !w.srv.IsValidAccessToken(e3.AccessToken),
		"third refresh token":  !w.srv.IsValidRefreshToken(e3.RefreshToken),
	} {
		if !dead {
			t.Errorf("the %s is still valid at X after revoke", name)
		}
	}
	w.checkNoSecrets(r)
}

// TestRevokeClearsTheTokenThatWasWritten: a refresh that could not write
// Config.toml leaves the older token there; the store remembers the
// fingerprint of what was written, so a later revoke still finds it.
func TestRevokeClearsTheTokenThatWasWritten(t *testing.T) {
	w := newWorld(t)
	first := w.cfg
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	e1 := w.entry(publicID)
	// twauth token from a directory without a Config.toml (it never
	// creates one), made to refresh: the store moves on to a new access
	// token, the file keeps e1's.
	w.cfg = filepath.Join(w.dir, "elsewhere", "Config.toml")
	if r := w.run("token", "--client-id", publicID, "--min-valid", "3h"); r.code != 0 {
		t.Fatalf("token: exit %d\n%s", r.code, r.stderr)
	}
	mustExist(t, w.cfg, false)
	w.cfg = first
	if e := w.entry(publicID); e.AccessToken == e1.AccessToken || e.Config == nil || e.Config.TokenSHA256 != store.Fingerprint(e1.AccessToken) {
		t.Fatalf("after a refresh that did not write %s the store records %+v", first, e.Config)
	}
	r := w.run("login", "--token-key", "other")
	if r.code != 0 || !strings.Contains(r.stderr, ", key token, still holds a token of the previous login") {
		t.Fatalf("second login: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.run("revoke"); r.code != 0 {
		t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
	}
	if got := w.readConfig(); got != "clientId = \""+publicID+"\"\n" {
		t.Errorf("Config.toml after revoke = %q", got)
	}
	if w.srv.IsValidAccessToken(e1.AccessToken) {
		t.Error("the access token left in Config.toml is still valid at X")
	}
}

// TestRecordedConfigFollowedFromElsewhere: token, refresh, status and
// revoke run from a directory without a Config.toml, with none named,
// update the file login wrote (where the program reads its token) instead
// of creating a new ./Config.toml; a Config.toml in the working directory,
// or one named, still wins.
func TestRecordedConfigFollowedFromElsewhere(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	elsewhere := filepath.Join(w.dir, "cron")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(elsewhere)
	w.noConfigFlag = true
	here := filepath.Join(elsewhere, "Config.toml")

	r := w.run("refresh")
	if r.code != 0 {
		t.Fatalf("refresh: exit %d\n%s", r.code, r.stderr)
	}
	e := w.entry(publicID)
	if got, want := w.readConfig(), "clientId = \""+publicID+"\"\ntoken = \""+e.AccessToken+"\"\n"; got != want {
		t.Errorf("%s after a refresh from elsewhere =\n%s\nwant\n%s", w.cfg, got, want)
	}
	if !strings.Contains(r.stderr, w.cfg+", key token") {
		t.Errorf("refresh does not name the file it wrote:\n%s", r.stderr)
	}
	mustExist(t, here, false)

	r = w.run("token", "--min-valid", "3h")
	e = w.entry(publicID)
	if r.code != 0 || r.stdout != e.AccessToken+"\n" || !strings.Contains(w.readConfig(), e.AccessToken) {
		t.Fatalf("token from elsewhere: exit %d, stdout %q, Config.toml %q\n%s", r.code, r.stdout, w.readConfig(), r.stderr)
	}
	mustExist(t, here, false)
	if r := w.run("status"); r.code != 0 || !strings.Contains(r.stdout, w.cfg) {
		t.Errorf("status from elsewhere: exit %d\n%s", r.code, r.stdout)
	}

	// A Config.toml in the working directory wins, as always.
	if err := os.WriteFile(here, []byte("# here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := w.readConfig()
	if r := w.run("refresh"); r.code != 0 {
		t.Fatalf("refresh with ./Config.toml: exit %d\n%s", r.code, r.stderr)
	}
	e = w.entry(publicID)
	if got, _ := os.ReadFile(here); string(got) != "# here\n\ntoken = \""+e.AccessToken+"\"\n" {
		t.Errorf("./Config.toml = %q", got)
	}
	if w.readConfig() != before {
		t.Errorf("%s changed although ./Config.toml was there", w.cfg)
	}
}

// TestRefreshRecoversTheTokenFromItsJournal: X's answer to a refresh is on
// disk before it is decoded, so a twauth that dies after reading it (here:
// its store write fails, as a kill would stop it) leaves the rotated
// refresh token where the next refresh finds it.
func TestRefreshRecoversTheTokenFromItsJournal(t *testing.T) {
	w := newWorld(t)
	_, oldRefresh := w.seed(publicID, scopes, t0.Add(time.Minute), false)
	before, err := os.ReadFile(w.store)
	if err != nil {
		t.Fatal(err)
	}
	// Once the request is on its way, the store file turns into a
	// directory: the answer arrives, the save cannot happen.
	w.beforeToken = func(*http.Request) {
		if err := os.Remove(w.store); err != nil {
			t.Error(err)
		}
		if err := os.Mkdir(w.store, 0o700); err != nil {
			t.Error(err)
		}
	}
	if r := w.run("refresh", "--client-id", publicID); r.code == 0 {
		t.Fatalf("the refresh saved although the store was a directory:\n%s", r.stderr)
	}
	w.beforeToken = nil
	journals, _ := filepath.Glob(filepath.Join(filepath.Dir(w.store), ".tokens.json.journal-*"))
	if len(journals) != 1 {
		t.Fatalf("journals after the failed save: %v", journals)
	}
	if fileMode(t, journals[0]) != 0o600 {
		t.Errorf("journal mode %o", fileMode(t, journals[0]))
	}
	if w.srv.IsValidRefreshToken(oldRefresh) {
		t.Fatal("X did not rotate: the test proves nothing")
	}
	// The world as a kill leaves it: the old store back in place.
	if err := os.Remove(w.store); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.store, before, 0o600); err != nil {
		t.Fatal(err)
	}
	r := w.run("refresh", "--client-id", publicID)
	if r.code != 0 || !strings.Contains(r.stderr, "its successor was recovered from "+journals[0]) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if e := w.entry(publicID); !w.srv.IsValidRefreshToken(e.RefreshToken) {
		t.Fatal("the store does not hold a live refresh token")
	}
	for _, pattern := range []string{".tokens.json.tmp-*", ".tokens.json.journal-*"} {
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(w.store), pattern)); len(left) != 0 {
			t.Errorf("left after the recovery: %v", left)
		}
	}
}

// TestRevokeStopsWhenAnEarlierTokenCannotBeRevoked: X failing on a token an
// earlier login left stops revoke with nothing changed (the store still
// names that key), so that running it again finishes the job.
func TestRevokeStopsWhenAnEarlierTokenCannotBeRevoked(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	e1 := w.entry(publicID)
	if r := w.run("login", "--token-key", "other"); r.code != 0 {
		t.Fatalf("second login: exit %d\n%s", r.code, r.stderr)
	}
	cfg, _ := os.ReadFile(w.cfg)
	storeBefore, _ := os.ReadFile(w.store)
	for range 4 { // every retry fails
		w.srv.InjectFault(xtest.RevokePath, xtest.Fault{Status: 503})
	}
	r := w.run("revoke")
	if r.code != 1 || !strings.Contains(r.stderr, w.cfg+", key token, holds a token of an earlier twauth login that could not be revoked at X") || !strings.Contains(r.stderr, "nothing was changed: run twauth revoke again") {
		t.Fatalf("revoke with X failing: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(w.cfg); string(got) != string(cfg) {
		t.Errorf("Config.toml changed:\n%s", got)
	}
	if got, _ := os.ReadFile(w.store); string(got) != string(storeBefore) {
		t.Error("the store changed")
	}
	if r := w.run("revoke"); r.code != 0 {
		t.Fatalf("second revoke: exit %d\n%s", r.code, r.stderr)
	}
	if w.srv.IsValidAccessToken(e1.AccessToken) || w.readConfig() != "clientId = \""+publicID+"\"\n" {
		t.Errorf("after the second revoke: first token valid %v, Config.toml %q", w.srv.IsValidAccessToken(e1.AccessToken), w.readConfig())
	}
}

// TestRevokeKeepsAnotherAppsToken: two apps logged in to the same key, one
// after the other; revoking the first leaves the second's token alone.
func TestRevokeKeepsAnotherAppsToken(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("x = 1\n")
	if r := w.run("login", "--client-id", publicID); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	if r := w.run("login", "--client-id", confID); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	delete(w.env, "TWAUTH_CLIENT_SECRET")
	conf := w.entry(confID)
	r := w.run("revoke", "--client-id", publicID)
	if r.code != 0 || !strings.Contains(r.stderr, "Kept key token in "+w.cfg+": it holds a value that is not this app's token") {
		t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
	}
	if got, want := w.readConfig(), "x = 1\ntoken = \""+conf.AccessToken+"\"\n"; got != want {
		t.Errorf("Config.toml = %q, want %q", got, want)
	}
}

// TestRecordedConfigNotFollowedWhenItNamesAnotherApp: a recorded
// Config.toml that now names another client id is someone else's file:
// commands run from elsewhere leave it alone.
func TestRecordedConfigNotFollowedWhenItNamesAnotherApp(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	theirs := "clientId = \"" + otherID + "\"\ntoken = \"theirs\"\n"
	w.writeConfig(theirs)
	elsewhere := filepath.Join(w.dir, "cron")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(elsewhere)
	w.noConfigFlag = true
	e := w.entry(publicID)
	if r := w.run("token"); r.code != 0 || r.stdout != e.AccessToken+"\n" {
		t.Fatalf("token: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run("refresh", "--client-id", publicID); r.code != 0 {
		t.Fatalf("refresh: exit %d\n%s", r.code, r.stderr)
	}
	if got := w.readConfig(); got != theirs {
		t.Errorf("the other app's Config.toml was edited: %q", got)
	}
}

// TestRecordedConfigNotFollowedWithASeedToken: a refresh token passed in
// (a CI job on a runner whose store remembers an older checkout) writes the
// working directory's Config.toml, as the README's CI recipe says.
func TestRecordedConfigNotFollowedWithASeedToken(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	if r := w.run("login"); r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.stderr)
	}
	before := w.readConfig()
	seed := w.entry(publicID).RefreshToken
	checkout := filepath.Join(w.dir, "checkout")
	if err := os.Mkdir(checkout, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(checkout)
	w.noConfigFlag = true
	r := w.run("refresh", "--client-id", publicID, "--refresh-token", seed)
	if r.code != 0 {
		t.Fatalf("refresh: exit %d\n%s", r.code, r.stderr)
	}
	got, err := os.ReadFile(filepath.Join(checkout, "Config.toml"))
	if err != nil || !strings.Contains(string(got), w.entry(publicID).AccessToken) {
		t.Fatalf("./Config.toml of the checkout: %q, %v", got, err)
	}
	if w.readConfig() != before {
		t.Error("the Config.toml of the earlier login was edited")
	}
}
