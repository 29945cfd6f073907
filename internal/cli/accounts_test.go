package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// Two X accounts of one app (issue 15, "Several accounts per app"), each
// logged in from its own project directory with its own Config.toml.
const (
	aliceID = "1234567890123456789"
	bobID   = "1987654321098765432"
	// appConfig is each project's Config.toml before its login.
	appConfig = "clientId = \"" + publicID + "\"\n"
)

var (
	alice = xtest.User{ID: aliceID, Name: "Alice A", Username: "alice"}
	bob   = xtest.User{ID: bobID, Name: "Bob B", Username: "bob"}
)

// accounts is a world where @alice logged in from dirA and then @bob from
// dirB, both for the public app, into one store. elsewhere is a directory
// with no Config.toml.
type accounts struct {
	*world
	dirA, dirB, elsewhere string
	// bobLogin is the result of bob's login.
	bobLogin result
}

func (a *accounts) cfgA() string { return filepath.Join(a.dirA, "Config.toml") }
func (a *accounts) cfgB() string { return filepath.Join(a.dirB, "Config.toml") }

func newAccounts(t *testing.T) *accounts {
	t.Helper()
	w := newWorld(t)
	a := &accounts{world: w, dirA: w.mkdir("alice-bot"), dirB: w.mkdir("bob-bot"), elsewhere: w.mkdir("cron")}
	writeFile(t, a.cfgA(), appConfig)
	writeFile(t, a.cfgB(), appConfig)
	a.loginAs(alice, a.dirA)
	a.bobLogin = a.loginAs(bob, a.dirB)
	return a
}

// loginAs logs u in to X in the browser and runs twauth login in dir.
func (a *accounts) loginAs(u xtest.User, dir string) result {
	a.t.Helper()
	a.srv.SetUser(u.Username, u.Name, u.ID)
	r := a.runIn(dir, nil, "login")
	if r.code != 0 || !strings.Contains(r.stderr, "Logged in to X as @"+u.Username+" (app "+publicID) {
		a.t.Fatalf("login as @%s in %s: exit %d\n%s", u.Username, dir, r.code, r.stderr)
	}
	return r
}

func (w *world) mkdir(name string) string {
	w.t.Helper()
	d := filepath.Join(w.dir, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		w.t.Fatal(err)
	}
	return d
}

// runIn runs twauth as the harness's run does, but in dir (Deps.Dir) and
// without --config, so that the Config.toml is the one the resolution
// finds from there; env adds to the world's environment. It is safe to
// call from several goroutines (it never fails the test with Fatal).
func (w *world) runIn(dir string, env map[string]string, args ...string) result {
	w.t.Helper()
	full := append(slices.Clone(args),
		"--auth-url", w.srv.AuthURL(), "--token-url", w.srv.TokenURL(),
		"--revoke-url", w.srv.RevokeURL(), "--api-url", w.srv.APIURL(),
		"--store", w.store)
	if args[0] == "login" {
		full = append(full, "--redirect-uri", w.redirect)
	}
	var stdout strings.Builder
	stderr := &watchWriter{line: func(string) {}}
	deps := cli.Deps{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: stderr,
		Getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return w.env[k]
		},
		Now:  w.clock.Now,
		Open: func(ctx context.Context, u string) error { return w.browser.OpenContext(ctx, u) },
		GOOS: "linux",
		Dir:  dir,
	}
	deps.Retry.Sleep = func(context.Context, time.Duration) error { return nil }
	code := cli.Run(context.Background(), deps, full)
	w.browser.Wait()
	res := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	w.checkNoSecrets(res)
	return res
}

// usersMeOf asks the fake X who access token tok acts for; "" when X
// refuses it.
func (w *world) usersMeOf(tok string) string {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.srv.APIURL()+xtest.UsersMePath, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct{ Data xtest.User }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&me) != nil {
		return ""
	}
	return "@" + me.Data.Username + " " + me.Data.ID
}

func whoami(u xtest.User) string { return "@" + u.Username + " " + u.ID }

// account returns the stored entry of u's account of the public app.
func (w *world) account(u xtest.User) *store.Entry {
	w.t.Helper()
	return w.readStore().Clients[store.EntryKey(publicID, u.ID)]
}

// tokenLine is what `twauth token` prints for entry e.
func tokenLine(e *store.Entry) string { return e.AccessToken + "\n" }

// TestAccountsTwoLoginsOneStore: @alice and @bob log in to one app one
// after the other; the store holds both, under client id/user id, each
// with its own Config.toml, and status --all lists both.
func TestAccountsTwoLoginsOneStore(t *testing.T) {
	a := newAccounts(t)
	f := a.readStore()
	keys := slices.Sorted(maps.Keys(f.Clients))
	if want := []string{publicID + "/" + aliceID, publicID + "/" + bobID}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("store keys %v, want %v", keys, want)
	}
	for _, c := range []struct {
		u   xtest.User
		cfg string
	}{{alice, a.cfgA()}, {bob, a.cfgB()}} {
		e := a.account(c.u)
		if e.ClientID != publicID || e.UserID != c.u.ID || e.Username != c.u.Username || e.Config == nil || e.Config.Path != c.cfg || e.Config.TokenKey != "token" {
			t.Errorf("entry of @%s = %+v (config %+v)", c.u.Username, e, e.Config)
			continue
		}
		if got, want := readFile(t, c.cfg), appConfig+"token = \""+e.AccessToken+"\"\n"; got != want {
			t.Errorf("%s =\n%s\nwant\n%s", c.cfg, got, want)
		}
		if u, _ := a.srv.UserOf(e.RefreshToken); u != c.u || !a.srv.IsValidRefreshToken(e.RefreshToken) {
			t.Errorf("@%s's stored refresh token belongs to %+v (valid %v)", c.u.Username, u, a.srv.IsValidRefreshToken(e.RefreshToken))
		}
	}
	raw := readFile(t, a.store)
	if !strings.HasPrefix(raw, "{\n  \"version\": 2,") {
		t.Errorf("store is not version 2:\n%.80s", raw)
	}

	r := a.runIn(a.elsewhere, nil, "status", "--all")
	exp := "expires 2026-12-01 12:00:00 UTC (in 2h); refresh token held\n"
	want := publicID + "  @alice (public client)\n  " + exp + "  token goes to " + a.cfgA() + ", key token\n" +
		publicID + "  @bob (public client)\n  " + exp + "  token goes to " + a.cfgB() + ", key token\n" +
		"Store: " + a.store + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("status --all: exit %d\n%s\nwant\n%s\n%s", r.code, r.stdout, want, r.stderr)
	}

	r = a.runIn(a.elsewhere, nil, "status", "--all", "--json")
	if r.code != 0 {
		t.Fatalf("status --all --json: exit %d\n%s", r.code, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status --all --json is not a JSON array: %v\n%s", err, r.stdout)
	}
	row := func(u xtest.User, cfg string) map[string]any {
		return map[string]any{
			"client_id": publicID, "client_type": "public", "user_id": u.ID, "username": u.Username,
			"expires_at": "2026-12-01T12:00:00Z", "expired": false, "refresh_token_held": true,
			"config": cfg, "token_key": "token",
		}
	}
	if wantRows := []map[string]any{row(alice, a.cfgA()), row(bob, a.cfgB())}; !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("status --all --json =\n%s\nwant rows %v", r.stdout, wantRows)
	}
	for _, e := range []*store.Entry{a.account(alice), a.account(bob)} {
		if strings.Contains(r.stdout, e.AccessToken) || strings.Contains(r.stdout, e.RefreshToken) {
			t.Error("status --all --json prints a token")
		}
	}
}

// TestAccountsConcurrentRefreshKeepsBothChains: refresh --account @alice
// and --account @bob run at the same time, several rounds each. Every
// refresh token is spent once, by its own account; both chains end live;
// each Config.toml holds its own account's token.
func TestAccountsConcurrentRefreshKeepsBothChains(t *testing.T) {
	a := newAccounts(t)
	first := map[string]string{"alice": a.account(alice).RefreshToken, "bob": a.account(bob).RefreshToken}
	a.srv.ResetRequests()

	const rounds = 5
	users := []xtest.User{alice, bob}
	results := make([][]result, len(users))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range rounds {
				results[i] = append(results[i], a.runIn(a.elsewhere, nil, "refresh", "--account", "@"+u.Username))
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, u := range users {
		for n, r := range results[i] {
			if r.code != 0 {
				t.Errorf("refresh --account @%s, round %d: exit %d\n%s", u.Username, n, r.code, r.stderr)
			}
		}
	}

	// On the wire: 2×rounds refreshes, each of a live token (200), no
	// token twice, each account's chain spent rounds times, starting
	// with the refresh token its login got.
	spent := map[string][]string{}
	seen := map[string]bool{}
	for _, req := range a.tokenRequests() {
		rt := req.Form.Get("refresh_token")
		if req.Form.Get("grant_type") != "refresh_token" || req.Status != http.StatusOK || seen[rt] {
			t.Errorf("token request %s → %d (refresh token seen before: %v)", req.Form.Get("grant_type"), req.Status, seen[rt])
		}
		seen[rt] = true
		u, _ := a.srv.UserOf(rt)
		spent[u.Username] = append(spent[u.Username], rt)
	}
	for _, u := range users {
		if len(spent[u.Username]) != rounds || spent[u.Username][0] != first[u.Username] {
			t.Errorf("@%s's chain: %d refreshes (first is the login's: %v), want %d", u.Username, len(spent[u.Username]),
				len(spent[u.Username]) > 0 && spent[u.Username][0] == first[u.Username], rounds)
		}
	}
	if len(spent) != len(users) {
		t.Errorf("refresh tokens spent by %d users, want 2", len(spent))
	}

	// Neither chain is lost, and each Config.toml holds its own account's
	// token: the one twauth token prints, which X says is that account's.
	for _, c := range []struct {
		u   xtest.User
		cfg string
	}{{alice, a.cfgA()}, {bob, a.cfgB()}} {
		e := a.account(c.u)
		if e == nil {
			t.Fatalf("@%s's entry is gone", c.u.Username)
		}
		if !a.srv.IsValidRefreshToken(e.RefreshToken) || slices.Contains(spent[c.u.Username], e.RefreshToken) {
			t.Errorf("@%s's stored refresh token is not the live end of its chain", c.u.Username)
		}
		if got, want := readFile(t, c.cfg), appConfig+"token = \""+e.AccessToken+"\"\n"; got != want {
			t.Errorf("%s =\n%s\nwant\n%s", c.cfg, got, want)
		}
		r := a.runIn(a.elsewhere, nil, "token", "--account", "@"+c.u.Username)
		if r.code != 0 || r.stdout != tokenLine(e) {
			t.Errorf("token --account @%s: exit %d, stdout %q\n%s", c.u.Username, r.code, r.stdout, r.stderr)
			continue
		}
		if got := a.usersMeOf(strings.TrimSpace(r.stdout)); got != whoami(c.u) {
			t.Errorf("X says the token of --account @%s is %q's", c.u.Username, got)
		}
	}
}

// TestAccountsChosenWithoutFlag: with two accounts and no --account, the
// Config.toml a login wrote picks its account; anywhere else the command
// stops with exit 2 listing the accounts, and sends nothing.
func TestAccountsChosenWithoutFlag(t *testing.T) {
	a := newAccounts(t)
	aliceE, bobE := a.account(alice), a.account(bob)
	if r := a.runIn(a.dirA, nil, "token"); r.code != 0 || r.stdout != tokenLine(aliceE) {
		t.Errorf("token in alice's directory: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := a.runIn(a.dirB, nil, "token"); r.code != 0 || r.stdout != tokenLine(bobE) {
		t.Errorf("token in bob's directory: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	r := a.runIn(a.dirB, nil, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "@bob") || strings.Contains(r.stdout, "@alice") {
		t.Errorf("status in bob's directory: exit %d\n%s", r.code, r.stdout)
	}
	a.srv.ResetRequests()
	if r := a.runIn(a.dirA, nil, "refresh"); r.code != 0 {
		t.Fatalf("refresh in alice's directory: exit %d\n%s", r.code, r.stderr)
	}
	if reqs := a.tokenRequests(); len(reqs) != 1 || reqs[0].Form.Get("refresh_token") != aliceE.RefreshToken {
		t.Errorf("refresh in alice's directory did not spend alice's refresh token")
	}
	if a.account(bob).RefreshToken != bobE.RefreshToken {
		t.Error("refresh in alice's directory changed bob's entry")
	}

	// A directory no login wrote: one with no Config.toml, one with a
	// Config.toml of the app that neither login wrote.
	other := a.mkdir("other")
	writeFile(t, filepath.Join(other, "Config.toml"), appConfig)
	before := readFile(t, a.store)
	a.srv.ResetRequests()
	for _, dir := range []string{a.elsewhere, other} {
		for _, cmd := range [][]string{{"token"}, {"refresh"}, {"status"}, {"revoke"}} {
			r := a.runIn(dir, nil, cmd...)
			if r.code != 2 || !strings.Contains(r.stderr, "@alice") || !strings.Contains(r.stderr, "@bob") || !strings.Contains(r.stderr, "--account") {
				t.Errorf("%s in %s: exit %d, want 2 listing @alice and @bob and naming --account\n%s", cmd[0], filepath.Base(dir), r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("%s in %s printed %q", cmd[0], filepath.Base(dir), r.stdout)
			}
		}
	}
	if n := len(a.srv.Requests()); n != 0 {
		t.Errorf("%d requests reached X from commands that stopped", n)
	}
	if readFile(t, a.store) != before || readFile(t, filepath.Join(other, "Config.toml")) != appConfig {
		t.Error("a command that stopped changed the store or Config.toml")
	}
	mustExist(t, filepath.Join(a.elsewhere, "Config.toml"), false)
}

// TestAccountsPickedByFlagOrEnvironment: --account and TWAUTH_ACCOUNT
// pick an account by @name, name or user id; one not stored is exit 2
// naming those that are; the flag wins over the environment.
func TestAccountsPickedByFlagOrEnvironment(t *testing.T) {
	a := newAccounts(t)
	aliceE, bobE := a.account(alice), a.account(bob)
	for _, c := range []struct {
		dir  string
		env  map[string]string
		args []string
		want *store.Entry
	}{
		{a.elsewhere, nil, []string{"--account", "@alice"}, aliceE},
		{a.elsewhere, nil, []string{"--account", "bob"}, bobE},
		{a.elsewhere, nil, []string{"--account", bobID}, bobE},
		{a.elsewhere, nil, []string{"--account", "@BOB"}, bobE},
		{a.dirA, nil, []string{"--account", "@bob"}, bobE},
		{a.elsewhere, map[string]string{"TWAUTH_ACCOUNT": "@bob"}, nil, bobE},
		{a.dirB, map[string]string{"TWAUTH_ACCOUNT": "@alice"}, nil, aliceE},
		{a.elsewhere, map[string]string{"TWAUTH_ACCOUNT": "@bob"}, []string{"--account", "@alice"}, aliceE},
	} {
		r := a.runIn(c.dir, c.env, append([]string{"token"}, c.args...)...)
		if r.code != 0 || r.stdout != tokenLine(c.want) {
			t.Errorf("token %v with %v in %s: exit %d, stdout %q, want @%s's token\n%s", c.args, c.env, filepath.Base(c.dir), r.code, r.stdout, c.want.Username, r.stderr)
		}
	}

	before := readFile(t, a.store)
	for _, c := range []struct {
		dir  string
		env  map[string]string
		args []string
	}{
		{a.elsewhere, nil, []string{"token", "--account", "@nobody"}},
		{a.dirA, nil, []string{"refresh", "--account", "@nobody"}},
		{a.elsewhere, nil, []string{"revoke", "--account", "@nobody"}},
		{a.elsewhere, nil, []string{"status", "--account", "@nobody"}},
		{a.elsewhere, map[string]string{"TWAUTH_ACCOUNT": "@nobody"}, []string{"token"}},
		{a.dirB, map[string]string{"TWAUTH_ACCOUNT": "@nobody"}, []string{"refresh"}},
	} {
		r := a.runIn(c.dir, c.env, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "@nobody") || !strings.Contains(r.stderr, "@alice") || !strings.Contains(r.stderr, "@bob") {
			t.Errorf("%v with %v: exit %d, want 2 naming @nobody, @alice and @bob\n%s", c.args, c.env, r.code, r.stderr)
		}
	}
	if readFile(t, a.store) != before {
		t.Error("an unknown account changed the store")
	}
	if n := a.srv.CountGrant("refresh_token"); n != 0 {
		t.Errorf("%d refreshes for an unknown account", n)
	}
}

// TestAccountsLoginAgainReplacesOnlyThatAccount: @alice logs in again;
// her entry is replaced, bob's is untouched and his chain still works.
func TestAccountsLoginAgainReplacesOnlyThatAccount(t *testing.T) {
	a := newAccounts(t)
	oldAlice, bobE := a.account(alice), a.account(bob)
	cfgB := readFile(t, a.cfgB())

	a.loginAs(alice, a.dirA)
	f := a.readStore()
	if len(f.Clients) != 2 {
		t.Fatalf("%d entries after alice's second login, want 2: %v", len(f.Clients), f.Clients)
	}
	newAlice := a.account(alice)
	if newAlice == nil || newAlice.AccessToken == oldAlice.AccessToken || newAlice.RefreshToken == oldAlice.RefreshToken {
		t.Fatalf("alice's entry was not replaced: %+v", newAlice)
	}
	if u, _ := a.srv.UserOf(newAlice.RefreshToken); u != alice {
		t.Errorf("alice's new refresh token belongs to %+v", u)
	}
	if got := a.account(bob); !reflect.DeepEqual(got, bobE) {
		t.Errorf("bob's entry changed:\n%+v\nwant\n%+v", got, bobE)
	}
	if readFile(t, a.cfgB()) != cfgB {
		t.Error("alice's login changed bob's Config.toml")
	}
	if got, want := readFile(t, a.cfgA()), appConfig+"token = \""+newAlice.AccessToken+"\"\n"; got != want {
		t.Errorf("%s =\n%s\nwant\n%s", a.cfgA(), got, want)
	}
	if !a.srv.IsValidRefreshToken(bobE.RefreshToken) {
		t.Fatal("bob's refresh token is no longer valid at X")
	}
	r := a.runIn(a.elsewhere, nil, "refresh", "--account", "@bob")
	if r.code != 0 {
		t.Fatalf("refresh --account @bob after alice's login: exit %d\n%s", r.code, r.stderr)
	}
	if e := a.account(bob); a.usersMeOf(e.AccessToken) != whoami(bob) || !strings.Contains(readFile(t, a.cfgB()), e.AccessToken) {
		t.Error("bob's refreshed token is not bob's, or did not reach his Config.toml")
	}
}

// TestAccountsRevokeOne: revoke --account @bob revokes bob's tokens at X,
// clears his Config.toml and removes his entry; alice's tokens, entry and
// Config.toml are left as they are.
func TestAccountsRevokeOne(t *testing.T) {
	a := newAccounts(t)
	aliceE, bobE := a.account(alice), a.account(bob)
	cfgA := readFile(t, a.cfgA())
	a.srv.ResetRequests()

	r := a.runIn(a.elsewhere, nil, "revoke", "--account", "@bob")
	if r.code != 0 {
		t.Fatalf("revoke --account @bob: exit %d\n%s", r.code, r.stderr)
	}
	if a.srv.IsValidAccessToken(bobE.AccessToken) || a.srv.IsValidRefreshToken(bobE.RefreshToken) {
		t.Error("bob's tokens are still valid at X")
	}
	for _, req := range a.srv.Requests() {
		if req.Path != xtest.RevokePath {
			t.Errorf("revoke sent %s %s", req.Method, req.Path)
			continue
		}
		if u, _ := a.srv.UserOf(req.Form.Get("token")); u != bob {
			t.Errorf("revoke --account @bob revoked a %s of %+v at X", req.Form.Get("token_type_hint"), u)
		}
	}
	if !a.srv.IsValidAccessToken(aliceE.AccessToken) || !a.srv.IsValidRefreshToken(aliceE.RefreshToken) {
		t.Error("alice's tokens were revoked with bob's")
	}
	f := a.readStore()
	if len(f.Clients) != 1 || !reflect.DeepEqual(a.account(alice), aliceE) {
		t.Errorf("store after revoking bob: %v, want alice's entry alone, unchanged", f.Clients)
	}
	if got := readFile(t, a.cfgA()); got != cfgA {
		t.Errorf("revoking bob changed alice's Config.toml:\n%s\nwant\n%s", got, cfgA)
	}
	if got := readFile(t, a.cfgB()); got != appConfig {
		t.Errorf("bob's Config.toml after revoke =\n%s\nwant\n%s", got, appConfig)
	}
	// One account is left: no --account needed anywhere.
	if r := a.runIn(a.elsewhere, nil, "token"); r.code != 0 || r.stdout != tokenLine(aliceE) {
		t.Errorf("token with alice alone: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestAccountsSecondLoginLeavesFirstAlone: bob's login names nothing of
// alice's and records none of her Config.toml keys as its own. Before X
// says who logged in, the resolution's guess of the entry a login replaces
// is the app's only account, alice's: a login must not take that entry's
// Config.toml keys as "earlier keys" of the new one, or revoking bob
// revokes alice's token and deletes it from her Config.toml
// (TestAccountsRevokeOne).
func TestAccountsSecondLoginLeavesFirstAlone(t *testing.T) {
	a := newAccounts(t)
	if strings.Contains(a.bobLogin.stderr, a.cfgA()) {
		t.Errorf("bob's login speaks of alice's Config.toml:\n%s", a.bobLogin.stderr)
	}
	for _, k := range a.account(bob).Earlier {
		if k.Path == a.cfgA() {
			t.Errorf("bob's entry records alice's %s, key %s, as a key an earlier login of bob's wrote", k.Path, k.Key)
		}
	}
}

// TestAccountsUpgradeVersion1Store: a store written before accounts
// (version 1, keyed by client id, the account known by name only) is used
// as it is; a login of a second account keeps the first, and the file is
// version 2 afterwards.
func TestAccountsUpgradeVersion1Store(t *testing.T) {
	w := newWorld(t)
	dirA, dirB, elsewhere := w.mkdir("alice-bot"), w.mkdir("bob-bot"), w.mkdir("cron")
	cfgA, cfgB := filepath.Join(dirA, "Config.toml"), filepath.Join(dirB, "Config.toml")
	w.srv.SetUser(alice.Username, alice.Name, alice.ID)
	access, refresh := w.srv.IssueTokens(publicID, scopes)
	writeFile(t, cfgA, appConfig+"token = \""+access+"\"\n")
	v1 := `{
  "version": 1,
  "clients": {
    "` + publicID + `": {
      "client_id": "` + publicID + `",
      "access_token": "` + access + `",
      "refresh_token": "` + refresh + `",
      "token_type": "bearer",
      "expiry": "2026-12-01T12:00:00Z",
      "scope": "` + scopes + `",
      "token_url": "` + w.srv.TokenURL() + `",
      "confidential": false,
      "username": "alice",
      "config": {
        "path": "` + cfgA + `",
        "token_key": "token",
        "token_sha256": "` + store.Fingerprint(access) + `"
      },
      "updated_at": "2026-12-01T09:00:00Z"
    }
  }
}
`
	if err := os.MkdirAll(filepath.Dir(w.store), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, w.store, v1)

	// Read as it is, and not rewritten by a read.
	if r := w.runIn(elsewhere, nil, "token"); r.code != 0 || r.stdout != access+"\n" {
		t.Fatalf("token on a version 1 store: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if r := w.runIn(elsewhere, nil, "token", "--account", "@alice"); r.code != 0 || r.stdout != access+"\n" {
		t.Fatalf("token --account @alice on a version 1 store: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if readFile(t, w.store) != v1 {
		t.Fatal("reading the version 1 store rewrote it")
	}

	writeFile(t, cfgB, appConfig)
	w.srv.SetUser(bob.Username, bob.Name, bob.ID)
	r := w.runIn(dirB, nil, "login")
	if r.code != 0 {
		t.Fatalf("login of bob on a version 1 store: exit %d\n%s", r.code, r.stderr)
	}
	raw := readFile(t, w.store)
	if !strings.HasPrefix(raw, "{\n  \"version\": 2,") {
		t.Errorf("store after the login is not version 2:\n%s", raw)
	}
	if m := fileMode(t, w.store); m != 0o600 {
		t.Errorf("store mode %o after the upgrade", m)
	}
	f := w.readStore()
	accts := f.Accounts(publicID)
	if len(accts) != 2 || accts[0].Username != "alice" || accts[1].Username != "bob" {
		t.Fatalf("accounts after bob's login: %+v", f.Clients)
	}
	aliceE, bobE := accts[0], accts[1]
	if aliceE.AccessToken != access || aliceE.RefreshToken != refresh || aliceE.Config == nil || aliceE.Config.Path != cfgA {
		t.Errorf("alice's version 1 entry was not kept as it was: %+v", aliceE)
	}
	if bobE.Key() != store.EntryKey(publicID, bobID) || bobE.UserID != bobID {
		t.Errorf("bob's entry is under %q with user id %q", bobE.Key(), bobE.UserID)
	}
	if readFile(t, cfgA) != appConfig+"token = \""+access+"\"\n" {
		t.Error("bob's login changed alice's Config.toml")
	}

	// Both chains work, each by its account.
	for _, c := range []struct {
		u   xtest.User
		cfg string
	}{{alice, cfgA}, {bob, cfgB}} {
		r := w.runIn(elsewhere, nil, "refresh", "--account", "@"+c.u.Username)
		if r.code != 0 {
			t.Errorf("refresh --account @%s: exit %d\n%s", c.u.Username, r.code, r.stderr)
			continue
		}
		r = w.runIn(elsewhere, nil, "token", "--account", "@"+c.u.Username)
		tok := strings.TrimSpace(r.stdout)
		if r.code != 0 || w.usersMeOf(tok) != whoami(c.u) || !strings.Contains(readFile(t, c.cfg), "token = \""+tok+"\"") {
			t.Errorf("token --account @%s: exit %d; X says %q; %s holds it: %v", c.u.Username, r.code, w.usersMeOf(tok), c.cfg, strings.Contains(readFile(t, c.cfg), tok))
		}
	}
	if w.srv.IsValidRefreshToken(refresh) {
		t.Error("alice's version 1 refresh token was not the one spent")
	}

	// Alice's next login replaces her entry from before accounts: two
	// entries, each under its user id.
	w.srv.SetUser(alice.Username, alice.Name, alice.ID)
	if r := w.runIn(dirA, nil, "login"); r.code != 0 {
		t.Fatalf("alice's login after the upgrade: exit %d\n%s", r.code, r.stderr)
	}
	f = w.readStore()
	keys := slices.Sorted(maps.Keys(f.Clients))
	if want := []string{store.EntryKey(publicID, aliceID), store.EntryKey(publicID, bobID)}; !reflect.DeepEqual(keys, want) {
		t.Errorf("store keys after alice's login %v, want %v", keys, want)
	}
}

// TestDefaultStoreWithAccounts: with no --store, the default file holds
// entries keyed by client id and account; token and status read them (a
// regression: the keyring check looked entries up by client id alone).
func TestDefaultStoreWithAccounts(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	path, err := store.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	st := &store.Store{Path: path}
	if err := st.Update(context.Background(), func(f *store.File) error {
		e := &store.Entry{ClientID: publicID, UserID: "42", Username: "alice", AccessToken: "AT-alice", RefreshToken: "RT", TokenType: "bearer", Expiry: time.Now().Add(time.Hour).UTC()}
		f.Clients[e.Key()] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), cli.Deps{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Dir: t.TempDir()}, []string{"token"})
	if code != 0 || stdout.String() != "AT-alice\n" {
		t.Fatalf("token with the default store: exit %d, %q\n%s", code, stdout.String(), stderr.String())
	}
}
