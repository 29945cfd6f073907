package serve

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestTwoClientsAcrossThreeExpiries drives the endpoint with two clients
// written by others' rules: requests byte for byte as ballerina/oauth2
// builds them (both credential bearers, with and without scopes, a raw '+'
// and '%' in the handle and the secret), and golang.org/x/oauth2's own
// refreshing TokenSource. Across three forced expiries both get the current
// token, and the source sees exactly one refresh per expiry.
func TestTwoClientsAcrossThreeExpiries(t *testing.T) {
	clock := newClock()
	src := newSource(clock.Now)
	var logs logBuffer
	addr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, Log: logs.logger()}))

	bal := map[string]ballerina{
		"basic":             {clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle},
		"basic, scopes":     {clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle, scopes: []string{"tweet.read", " users.read "}},
		"post body":         {clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle, postBody: true},
		"post body, scopes": {clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle, postBody: true, scopes: []string{"users.read"}, optionalParams: [][2]string{{"audience", "x+y%z"}, {"resource", "http://a/?b=c"}}},
	}

	conf := &oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: "http://" + addr + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	// x/oauth2 measures expiry with the real clock, which this test cannot
	// move: an early expiry of 2 h makes it take every answer (7140 s) as
	// stale, so each Token call is a refresh request on the wire and the
	// forced expiries of the fake clock reach it.
	ts := oauth2.ReuseTokenSourceWithExpiry(nil, conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: testHandle}), 2*time.Hour)

	for expiry := 0; expiry <= 3; expiry++ {
		want := Token{AccessToken: fmt.Sprintf("x-access-token-%d-SECRET", expiry+1), Scope: grantedScope}
		wantBody := tokenJSON(want, 7200-60)
		for name, c := range bal {
			resp, body := rawExchange(t, addr, c.request(addr))
			if resp.StatusCode != http.StatusOK || body != wantBody {
				t.Fatalf("expiry %d, ballerina %s: %d %q, want 200 %q", expiry, name, resp.StatusCode, body, wantBody)
			}
			for k, v := range map[string]string{"Content-Type": "application/json;charset=UTF-8", "Cache-Control": "no-store", "Pragma": "no-cache"} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %s %q, want %q", name, k, got, v)
				}
			}
		}
		for range 2 {
			tok, err := ts.Token()
			if err != nil {
				t.Fatalf("expiry %d, x/oauth2: %v", expiry, err)
			}
			if tok.AccessToken != want.AccessToken || tok.TokenType != "bearer" || tok.RefreshToken != testHandle ||
				tok.Extra("expires_in") != float64(7140) || tok.Extra("scope") != grantedScope {
				t.Fatalf("expiry %d, x/oauth2 got %+v (expires_in %v)", expiry, tok, tok.Extra("expires_in"))
			}
		}
		if got := src.refreshCount(); got != expiry {
			t.Fatalf("after %d expiries the source refreshed %d times", expiry, got)
		}
		clock.Advance(2 * time.Hour) // the token expires
	}
	// One call to the source per epoch: the cache answered all the others.
	if got := src.calls.Load(); got != 4 {
		t.Errorf("source called %d times, want 4", got)
	}
	checkNoSecrets(t, logs.String(), testSecret, testHandle, "x-access-token")
}

// TestExpiresInCountsDown checks expires_in against the clock: the
// remaining life minus the margin, in whole seconds, and a fresh token
// once fewer than MinValid remain.
func TestExpiresInCountsDown(t *testing.T) {
	clock := newClock()
	src := newSource(clock.Now)
	addr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, MinValid: 10 * time.Minute, Margin: 2 * time.Minute}))
	req := ballerina{clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle}.request(addr)
	first := src.current()
	for _, step := range []struct {
		advance time.Duration
		token   int // which token the source issued
		want    int
	}{
		{0, 1, 7200 - 120},
		{time.Hour + 500*time.Millisecond, 1, 3600 - 120 - 1}, // 3599.5 s left: rounded down
		{49*time.Minute + 59*time.Second, 1, 10*60 - 120},     // 600.5 s left: still cached
		{time.Second, 2, 7200 - 120},                          // 599.5 s left: refreshed
	} {
		clock.Advance(step.advance)
		_, body := rawExchange(t, addr, req)
		tok := Token{AccessToken: fmt.Sprintf("x-access-token-%d-SECRET", step.token), Scope: first.Scope}
		if body != tokenJSON(tok, step.want) {
			t.Errorf("after %v: %q, want %q", step.advance, body, tokenJSON(tok, step.want))
		}
	}
}
