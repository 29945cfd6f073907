package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestListenElsewhere: with Listen, the listener binds that address (here
// another port, as docker run -p P:Q maps the browser's P to the
// container's Q), serves the redirect URI's path, and still wants the
// redirect URI's host and port in the Host header.
func TestListenElsewhere(t *testing.T) {
	p, q := freePort(t), freePort(t)
	redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", p)
	rj := &rejects{}
	s, err := Listen(Options{RedirectURIs: []string{redirect}, State: testState, OnReject: rj.add, Listen: fmt.Sprintf("127.0.0.1:%d", q)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Addrs(); len(got) != 1 || got[0] != fmt.Sprintf("127.0.0.1:%d", q) {
		t.Fatalf("Addrs = %v", got)
	}
	if s.RedirectURI() != redirect || s.Port() != p {
		t.Fatalf("serving %s port %d, want the redirect URI unchanged", s.RedirectURI(), s.Port())
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
		c.Close()
		t.Fatal("the redirect URI's own address is bound too")
	}
	served := fmt.Sprintf("http://127.0.0.1:%d/callback?state=%s&code=", q, testState)
	if status, _, _ := get(t, "GET", served+"x", fmt.Sprintf("127.0.0.1:%d", q)); status != 400 {
		t.Fatalf("Host naming the listen address: %d, want 400", status)
	}
	if r := rj.all(); len(r) != 1 || r[0] != "unexpected Host header" {
		t.Fatalf("rejects %q", r)
	}
	done := make(chan Result, 1)
	go func() { r, _ := s.Wait(context.Background()); done <- r }()
	if status, _, _ := get(t, "GET", served+"THE-CODE", fmt.Sprintf("127.0.0.1:%d", p)); status != 200 {
		t.Fatalf("Host naming the redirect URI: %d, want 200", status)
	}
	if r := <-done; r.Code != "THE-CODE" {
		t.Fatalf("Wait = %+v", r)
	}
}

// TestListenHostOnly: a Listen address without a port takes the redirect
// URI's, and binds only the host given (localhost would bind ::1 too).
func TestListenHostOnly(t *testing.T) {
	p := freePort(t)
	s, err := Listen(Options{RedirectURIs: []string{fmt.Sprintf("http://localhost:%d/cb", p)}, State: testState, Listen: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Addrs(); len(got) != 1 || got[0] != fmt.Sprintf("127.0.0.1:%d", p) {
		t.Fatalf("Addrs = %v, want 127.0.0.1:%d alone", got, p)
	}
	done := make(chan Result, 1)
	go func() { r, _ := s.Wait(context.Background()); done <- r }()
	if status, _, _ := get(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/cb?state=%s&code=c1", p, testState), fmt.Sprintf("localhost:%d", p)); status != 200 {
		t.Fatalf("status %d", status)
	}
	if r := <-done; r.Code != "c1" {
		t.Fatalf("Wait = %+v", r)
	}
}

// TestListenOtherLoopbackAddress: the redirect URI says 127.0.0.1, the
// listener binds 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo).
func TestListenOtherLoopbackAddress(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 cannot be bound here: %v", err)
	}
	p := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	s, err := Listen(Options{RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/callback", p)}, State: testState, Listen: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Addrs(); len(got) != 1 || got[0] != fmt.Sprintf("127.0.0.2:%d", p) {
		t.Fatalf("Addrs = %v", got)
	}
	done := make(chan Result, 1)
	go func() { r, _ := s.Wait(context.Background()); done <- r }()
	if status, _, _ := get(t, "GET", fmt.Sprintf("http://127.0.0.2:%d/callback?state=%s&code=c2", p, testState), fmt.Sprintf("127.0.0.1:%d", p)); status != 200 {
		t.Fatalf("status %d", status)
	}
	if r := <-done; r.Code != "c2" {
		t.Fatalf("Wait = %+v", r)
	}
}

func TestListenErrors(t *testing.T) {
	p, q := freePort(t), freePort(t)
	one := []string{fmt.Sprintf("http://127.0.0.1:%d/callback", p)}
	for addr, reason := range map[string]string{
		"127.0.0.1:0":      "its port is not between 1 and 65535",
		"127.0.0.1:99999":  "its port is not between 1 and 65535",
		"127.0.0.1:http":   "its port is not between 1 and 65535",
		"1:2:3":            "it is not HOST:PORT",
		"[::1:8765":        "it is not HOST:PORT",
		"http://127.0.0.1": "it is not HOST:PORT",
		"a b":              "its host is not a host name or an IP address",
		"bad\x1b[2J":       "its host is not a host name or an IP address",
	} {
		_, err := Listen(Options{RedirectURIs: one, State: testState, Listen: addr})
		var le *ListenError
		if want := fmt.Sprintf("listen address %q cannot be used: %s", addr, reason); !errors.As(err, &le) || err.Error() != want {
			t.Errorf("Listen %q: %v, want\n %s", addr, err, want)
		}
	}
	two := append(one, fmt.Sprintf("http://127.0.0.1:%d/callback", q))
	_, err := Listen(Options{RedirectURIs: two, State: testState, Listen: fmt.Sprintf("127.0.0.1:%d", q)})
	var le *ListenError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "it names a port, so it serves one redirect URI, and several were given") {
		t.Errorf("a listen port with two redirect URIs: %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Listen(Options{RedirectURIs: one, State: testState, Listen: busy.Addr().String()})
	want := fmt.Sprintf("no redirect URI could be served: %s (listening on %s): port in use", one[0], busy.Addr())
	var pe *PortsInUseError
	if !errors.As(err, &pe) || err.Error() != want {
		t.Errorf("busy listen address: %v, want\n %s", err, want)
	}
	// Host only, [v6] and bare v6 forms parse.
	for in, want := range map[string]listenAddr{
		"0.0.0.0": {host: "0.0.0.0"}, ":8765": {port: "8765"}, "[::]": {host: "::"}, "::": {host: "::"},
		"[::1]:9": {host: "::1", port: "9"}, "localhost:1": {host: "localhost", port: "1"},
	} {
		if got, err := parseListen(in); err != nil || got != want {
			t.Errorf("parseListen(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

// TestCallbackTextIsSafeForATerminal: an error response or an issuer in a
// callback reaches the terminal as visible escapes, and so does an
// AuthorizationError built from a pasted redirect.
func TestCallbackTextIsSafeForATerminal(t *testing.T) {
	p := freePort(t)
	rj := &rejects{}
	s, err := Listen(Options{RedirectURIs: []string{fmt.Sprintf("http://127.0.0.1:%d/cb", p)}, State: testState, Issuer: "https://x.com", OnReject: rj.add})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := fmt.Sprintf("http://127.0.0.1:%d/cb?state=%s", p, testState)
	get(t, "GET", base+"&code=c&iss=https%3A%2F%2Fevil%1B%5D0%3Bx%07%E2%80%AE", "")
	if r := rj.all(); len(r) != 1 || r[0] != `the issuer "https://evil\x1b]0;x\x07\u202e" is not "https://x.com" (RFC 9207 mix-up protection)` {
		t.Fatalf("reject reason %q", r)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Wait(context.Background()); done <- err }()
	get(t, "GET", base+"&error=server_error%1B%5B2J&error_description=a%C2%9B31m%E2%80%AEb%0Ac", "")
	if err := <-done; err == nil || err.Error() != `authorization failed: server_error\x1b[2J: a\u009b31m\u202eb\nc` {
		t.Fatalf("Wait error = %q", err)
	}
	ae := &AuthorizationError{Code: "access_denied", Description: "pasted\x1b[31m\u202e"}
	if ae.Error() != `authorization was denied in the browser (access_denied): pasted\x1b[31m\u202e` {
		t.Fatalf("hand-built AuthorizationError = %q", ae)
	}
	ae = &AuthorizationError{Code: "x\u009by"}
	if ae.Error() != `authorization failed: x\u009by` {
		t.Fatalf("hand-built AuthorizationError = %q", ae)
	}
}
