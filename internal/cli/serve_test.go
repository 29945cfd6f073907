package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
	"github.com/twauth/twauth/internal/xtest"
)

// serveRequest sends what ballerina/oauth2's refresh grant sends: a body
// built by concatenation, credentials in Basic.
func serveRequest(t *testing.T, url, handle, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("grant_type=refresh_token&refresh_token="+handle))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

// TestServe (issue 14): serve --configure writes the program's local
// credentials into Config.toml (never X's secret) and their hashes into the
// store; serve answers the program's refresh grant with the stored X token
// while it is fresh, refreshes at X once it is not, refuses a wrong
// credential, and stops with exit 0 when its context ends.
func TestServe(t *testing.T) {
	w := newWorld(t)
	w.env["TWAUTH_CLIENT_SECRET"] = confSecret
	w.writeConfig("clientId = \"" + confID + "\"\n")
	access, _ := w.seed(confID, scopes, t0.Add(30*time.Minute), true)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	r := w.run("serve", "--configure", "--listen", listen)
	if r.code != 0 {
		t.Fatalf("serve --configure: exit %d\n%s", r.code, r.stderr)
	}
	cfg := w.readConfig()
	if strings.Contains(cfg, confSecret) {
		t.Fatal("X's client secret landed in the program's Config.toml")
	}
	doc, err := balconfig.Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) string {
		v, _, _ := doc.Get(k)
		return v
	}
	refreshURL, handle, id, secret := get("refreshUrl"), get("refreshToken"), get("localClientId"), get("localClientSecret")
	if refreshURL != "http://"+listen+"/oauth2/token" || !strings.HasPrefix(handle, "twauth-local-") || !strings.HasPrefix(secret, "twauth-local-") || id == "" {
		t.Fatalf("Config.toml after --configure:\n%s", cfg)
	}
	e := w.entry(confID)
	if e.Serve == nil || strings.Contains(fmt.Sprint(*e.Serve), secret) || e.Serve.ClientSecretSHA256 == "" {
		t.Fatalf("the store keeps %+v, want hashes only", e.Serve)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- w.runCtx(ctx, "", "serve", "--listen", listen) }()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 200 {
			cancel()
			t.Fatalf("serve never answered: %v\n%+v", err, <-done)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Fresh: the stored token, and no request to X.
	code, m := serveRequest(t, refreshURL, handle, id, secret)
	if code != 200 || m["access_token"] != access || m["token_type"] != "bearer" {
		t.Fatalf("status %d, answer %v", code, m)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Error("the answer hands out a refresh token")
	}
	before := len(w.tokenRequests())
	// Wrong credential, wrong handle.
	if code, m := serveRequest(t, refreshURL, handle, id, "nope"); code != 401 || m["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", code, m)
	}
	if code, m := serveRequest(t, refreshURL, "twauth-local-other", id, secret); code != 400 || m["error"] != "invalid_grant" {
		t.Errorf("wrong handle: %d %v", code, m)
	}
	// Expired: one refresh at X, through the store's rotation.
	w.clock.Advance(time.Hour)
	code, m = serveRequest(t, refreshURL, handle, id, secret)
	if code != 200 || m["access_token"] == access {
		t.Fatalf("after expiry: status %d, answer %v", code, m)
	}
	if n := len(w.tokenRequests()) - before; n != 1 {
		t.Errorf("%d requests to X, want 1 refresh", n)
	}
	if got := w.entry(confID); got.AccessToken != m["access_token"] || !w.srv.IsValidRefreshToken(got.RefreshToken) {
		t.Error("the store does not hold the rotated chain")
	}
	// The same chain serves twauth token.
	if r := w.run("token"); r.code != 0 || strings.TrimSpace(r.stdout) != m["access_token"] {
		t.Errorf("twauth token beside serve: exit %d %q", r.code, r.stdout)
	}
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Fatalf("serve stopped with exit %d\n%s", r.code, r.stderr)
		}
		for _, s := range []string{access, handle, secret, confSecret, m["access_token"].(string)} {
			if strings.Contains(r.stderr, s) {
				t.Fatalf("serve's log holds a secret:\n%s", r.stderr)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestServeRefusals: a non-loopback address, no credentials issued, and a
// local credential where X's secret is read are usage errors.
func TestServeRefusals(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	w.seed(publicID, scopes, t0.Add(time.Hour), false)
	if r := w.run("serve", "--listen", "0.0.0.0:8766"); r.code != 2 {
		t.Errorf("non-loopback: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.run("serve", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))); r.code != 2 || !strings.Contains(r.stderr, "twauth serve --configure") {
		t.Errorf("not configured: exit %d\n%s", r.code, r.stderr)
	}
	w.writeConfig("clientId = \"" + publicID + "\"\nclientSecret = \"twauth-local-abc\"\n")
	if r := w.run("token"); r.code != 2 || !strings.Contains(r.stderr, "never sent to X") {
		t.Errorf("a local secret as X's: exit %d\n%s", r.code, r.stderr)
	}
}

// TestLoginListenElsewhere (issue 17, item 5): --listen binds another
// local address (a container's 0.0.0.0) with a warning naming the risk;
// the redirect URI sent to X is unchanged.
func TestLoginListenElsewhere(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	r := w.run("login", "--listen", fmt.Sprintf("0.0.0.0:%d", w.port))
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("the listener is bound to %s", "")) || !strings.Contains(r.stderr, fmt.Sprintf(":%d, not only to loopback", w.port)) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if got := w.tokenRequests()[0].Form.Get("redirect_uri"); got != w.redirect {
		t.Errorf("redirect_uri %q, want %q", got, w.redirect)
	}
}

// TestServeWhenXFails (issue 14, faults): X answering 503 during a refresh
// gives the program 503 temporarily_unavailable with Retry-After, and the
// chain survives: once X is back, the next request is answered. X hanging
// is bounded by --http-timeout.
func TestServeWhenXFails(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	w.seed(publicID, scopes, t0.Add(time.Minute), false)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if r := w.run("serve", "--configure", "--listen", listen); r.code != 0 {
		t.Fatalf("configure: exit %d\n%s", r.code, r.stderr)
	}
	doc, _ := balconfig.Parse([]byte(w.readConfig()))
	get := func(k string) string { v, _, _ := doc.Get(k); return v }
	url, handle, id, secret := get("refreshUrl"), get("refreshToken"), get("localClientId"), get("localClientSecret")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- w.runCtx(ctx, "", "serve", "--listen", listen, "--http-timeout", "500ms") }()
	for i := 0; ; i++ {
		if resp, err := http.Get("http://" + listen + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 200 {
			t.Fatal("serve never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// X fails every try of the refresh: the program is told to come back.
	for range 8 {
		w.srv.InjectFault(xtest.TokenPath, xtest.Fault{Status: 503})
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("grant_type=refresh_token&refresh_token="+handle))
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "temporarily_unavailable") {
		t.Fatalf("X failing: %d %s %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if e := w.entry(publicID); !w.srv.IsValidRefreshToken(e.RefreshToken) {
		t.Fatal("the chain did not survive X's failure")
	}
	w.srv.ClearFaults()
	// X hangs: bounded by --http-timeout, again a 503.
	w.srv.InjectFault(xtest.TokenPath, xtest.Fault{Hang: true})
	start := time.Now()
	if code, _ := serveRequest(t, url, handle, id, secret); code != 503 || time.Since(start) > 20*time.Second {
		t.Fatalf("X hanging: %d after %s", code, time.Since(start))
	}
	w.srv.ClearFaults()
	if code, m := serveRequest(t, url, handle, id, secret); code != 200 || m["access_token"] == "" {
		t.Fatalf("X back: %d %v", code, m)
	}
	cancel()
	<-done
}
