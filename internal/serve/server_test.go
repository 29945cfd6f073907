package serve

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckListen(t *testing.T) {
	for addr, reason := range map[string]string{
		"127.0.0.1:8766":     "",
		"127.8.9.10:8766":    "",
		"[::1]:8766":         "",
		"localhost:8766":     "",
		"LocalHost:0":        "",
		"0.0.0.0:8766":       "not a loopback address",
		"[::]:8766":          "not a loopback address",
		"192.168.1.5:8766":   "not a loopback address",
		"[::ffff:7f00:1]:80": "", // IPv4-mapped 127.0.0.1
		":8766":              "no host means every interface",
		"example.com:8766":   "the host is not an IP address",
		"127.0.0.1":          "not HOST:PORT",
		"":                   "not HOST:PORT",
	} {
		err := CheckListen(addr)
		var le *ListenError
		switch {
		case reason == "" && err != nil:
			t.Errorf("%q: %v", addr, err)
		case reason != "" && (!errors.As(err, &le) || le.Addr != addr || le.Reason != reason):
			t.Errorf("%q: %v, want a ListenError saying %q", addr, err, reason)
		}
	}
	want := "listen address 0.0.0.0:8766: not a loopback address; use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT"
	if err := CheckListen("0.0.0.0:8766"); err.Error() != want {
		t.Errorf("%q\nwant %q", err, want)
	}
}

// TestRunFinishesAnswersInFlight: cancelling Run's context stops the
// listener, lets the answer in flight finish, and returns nil.
func TestRunFinishesAnswersInFlight(t *testing.T) {
	clock := newClock()
	src := newSource(clock.Now)
	src.gate = make(chan struct{})
	clock.Advance(2 * time.Hour) // the first request must refresh, and waits at the gate
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, ln, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now})) }()

	answered := make(chan string, 1)
	go func() {
		tok, err := post(http.DefaultClient, addr, basic(testClientID, testSecret), "grant_type=refresh_token&refresh_token="+testHandle)
		if err != nil {
			tok = err.Error()
		}
		answered <- tok
	}()
	for src.calls.Load() == 0 { // the request is in the handler
		time.Sleep(time.Millisecond)
	}
	stop()
	for { // the listener is closed
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-ran:
		t.Fatalf("Run returned %v with an answer in flight", err)
	default:
	}
	close(src.gate)
	if tok := <-answered; tok != "x-access-token-2-SECRET" {
		t.Errorf("the request in flight got %q", tok)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestRunReportsServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Run(context.Background(), ln, http.NotFoundHandler()); err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Run on a closed listener: %v", err)
	}
}

// TestLogLines: one JSON line per request with time, outcome and latency,
// and the plain text form for the terminal.
func TestLogLines(t *testing.T) {
	clock := newClock()
	src := newSource(clock.Now)
	var jsonLog, textLog logBuffer
	jsonAddr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, Log: jsonLog.logger()}))
	textAddr := start(t, NewHandler(Options{Source: src, Credentials: testCreds, Now: clock.Now, Log: slog.New(slog.NewTextHandler(&textLog, nil))}))
	for _, addr := range []string{jsonAddr, textAddr} {
		rawExchange(t, addr, ballerina{clientID: testClientID, clientSecret: testSecret, refreshToken: testHandle}.request(addr))
		rawExchange(t, addr, ballerina{clientID: testClientID, clientSecret: "cs-WRONG-0123", refreshToken: testHandle}.request(addr))
	}

	lines := strings.Split(strings.TrimSuffix(jsonLog.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want 2:\n%s", len(lines), jsonLog.String())
	}
	for i, want := range []struct {
		level, outcome, detail string
		status                 int
	}{{"INFO", "ok", "", 200}, {"WARN", "invalid_client", "wrong client id or secret", 401}} {
		var l struct {
			Time                              time.Time
			Level, Msg, Method, Path, Outcome string
			Detail                            string
			Status                            int
			Latency                           *float64 `json:"latency_ms"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatal(err)
		}
		if l.Time.IsZero() || l.Latency == nil || l.Level != want.level || l.Msg != "request" || l.Method != "POST" ||
			l.Path != "/oauth2/token" || l.Outcome != want.outcome || l.Detail != want.detail || l.Status != want.status {
			t.Errorf("line %d: %s", i, lines[i])
		}
	}
	if text := textLog.String(); strings.Count(text, "\n") != 2 || !strings.Contains(text, "level=INFO msg=request method=POST path=/oauth2/token status=200 outcome=ok latency_ms=") {
		t.Errorf("text log:\n%s", text)
	}
	checkNoSecrets(t, jsonLog.String()+textLog.String(), testSecret, testHandle, "x-access-token", "cs-WRONG-0123")
}
