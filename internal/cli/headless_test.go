package cli_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twauth/twauth/internal/store"
	"github.com/twauth/twauth/internal/xtest"
)

// approve plays the user for a login without a listener: it opens the
// authorization URL, approves, and returns where X redirected the browser.
func approve(t *testing.T, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("authorize answered %d %q", resp.StatusCode, loc)
	}
	return loc
}

// manual runs `login --manual`, answers its prompt with paste(redirect),
// and returns the result.
func (w *world) manual(paste func(redirect, state string) string, args ...string) result {
	w.t.Helper()
	pr, pw := io.Pipe()
	defer pw.Close()
	w.onAuthURL = func(authURL string) {
		loc := approve(w.t, authURL)
		io.WriteString(pw, paste(loc, stateOf(w.t, authURL))+"\n")
	}
	defer func() { w.onAuthURL = nil }()
	return w.runIO(context.Background(), pr, append([]string{"login", "--manual"}, args...)...)
}

func TestManualLogin(t *testing.T) {
	cases := []struct {
		name  string
		paste func(redirect, state string) string
		code  int
		says  string
	}{
		{"full URL", func(r, _ string) string { return r }, 0, ""},
		{"full URL with blanks", func(r, _ string) string { return "  " + r + "\t" }, 0, ""},
		{"query string", func(r, _ string) string { u, _ := url.Parse(r); return "?" + u.RawQuery }, 0, ""},
		{"bare code", func(r, _ string) string { u, _ := url.Parse(r); return u.Query().Get("code") }, 0, "a bare code carries no state"},
		{"forged state", func(r, _ string) string {
			u, _ := url.Parse(r)
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
			return u.String()
		}, 3, "the state in the pasted URL does not match this login"},
		{"error", func(r, state string) string { return "http://127.0.0.1:1/callback?error=access_denied&state=" + state }, 3, "denied"},
		{"the authorization URL by mistake", func(_, state string) string { return "https://x.com/i/oauth2/authorize?state=" + state }, 2, "has no code parameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := w.manual(tc.paste, "--client-id", publicID, "--redirect-uri", w.redirect)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Fatalf("exit %d, want %d saying %q\n%s", r.code, tc.code, tc.says, r.stderr)
			}
			if !strings.Contains(r.stderr, "X's code expires 30 seconds after you approve") {
				t.Errorf("the prompt does not mention the 30 s:\n%s", r.stderr)
			}
			if tc.code == 0 {
				e := w.entry(publicID)
				if e == nil || w.readConfig() != "token = \""+e.AccessToken+"\"\n" {
					t.Fatal("tokens not saved")
				}
			} else {
				mustExist(t, w.store, false)
				mustExist(t, w.cfg, false)
			}
		})
	}
}

func TestManualLoginAcceptsHTTPSRedirect(t *testing.T) {
	w := newWorld(t)
	const remote = "https://app.example/oauth/callback"
	w.srv.AddClient(xtest.Client{ID: "web-app", RedirectURIs: []string{remote}})
	r := w.manual(func(r, _ string) string { return r }, "--client-id", "web-app", "--redirect-uri", remote)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if got := w.tokenRequests()[0].Form.Get("redirect_uri"); got != remote {
		t.Fatalf("redirect_uri %q", got)
	}
}

func TestURLThenExchange(t *testing.T) {
	w := newWorld(t)
	w.writeConfig("clientId = \"" + publicID + "\"\n")
	r := w.run("url")
	if r.code != 0 {
		t.Fatalf("url: exit %d\n%s", r.code, r.stderr)
	}
	authURL := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(authURL, w.srv.AuthURL()+"?response_type=code&client_id="+publicID) || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("url printed %q", r.stdout)
	}
	pending := (&store.Store{Path: w.store}).PendingPath()
	if m := fileMode(t, pending); m != 0o600 {
		t.Errorf("pending mode %o", m)
	}
	loc := approve(t, authURL)

	// A separate run finishes it.
	r = w.run("exchange", loc)
	if r.code != 0 {
		t.Fatalf("exchange: exit %d\n%s", r.code, r.stderr)
	}
	e := w.entry(publicID)
	if want := "clientId = \"" + publicID + "\"\ntoken = \"" + e.AccessToken + "\"\n"; w.readConfig() != want {
		t.Fatalf("Config.toml = %q", w.readConfig())
	}
	// Used once.
	if r := w.run("exchange", loc); r.code != 2 || !strings.Contains(r.stderr, "this redirect was already exchanged") {
		t.Fatalf("second exchange: exit %d\n%s", r.code, r.stderr)
	}
	// The same redirect again while another login is pending: still the
	// same answer (not "forged", exit 3).
	if r := w.run("url", "--client-id", publicID); r.code != 0 {
		t.Fatalf("url: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.run("exchange", loc); r.code != 2 || !strings.Contains(r.stderr, "this redirect was already exchanged") {
		t.Fatalf("exchange of a used redirect with another login pending: exit %d\n%s", r.code, r.stderr)
	}
}

func TestURLJSON(t *testing.T) {
	w := newWorld(t)
	r := w.run("url", "--client-id", publicID, "--json")
	m := decodeJSON(t, r.stdout)
	if r.code != 0 || !strings.HasPrefix(m["url"].(string), w.srv.AuthURL()) || m["redirect_uri"] != w.redirect || m["expires_at"] != "2026-12-01T10:10:00Z" {
		t.Fatalf("url --json = %v\n%s", m, r.stderr)
	}
	if strings.Contains(r.stdout, "verifier") {
		t.Fatal("url --json shows the verifier")
	}
}

func TestExchangeFailures(t *testing.T) {
	t.Run("no pending login", func(t *testing.T) {
		w := newWorld(t)
		r := w.run("exchange", w.redirect+"?state=x&code=y")
		if r.code != 2 || !strings.Contains(r.stderr, "no pending login: run twauth url first") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("expired", func(t *testing.T) {
		w := newWorld(t)
		r := w.run("url", "--client-id", publicID)
		loc := approve(t, strings.TrimSpace(r.stdout))
		w.clock.Advance(11 * time.Minute)
		r = w.run("exchange", loc)
		if r.code != 2 || !strings.Contains(r.stderr, "the pending login expired") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("forged state", func(t *testing.T) {
		w := newWorld(t)
		r := w.run("url", "--client-id", publicID)
		approve(t, strings.TrimSpace(r.stdout))
		r = w.run("exchange", w.redirect+"?state=forged&code=attacker")
		if r.code != 3 || !strings.Contains(r.stderr, "matches no pending login") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if len(w.tokenRequests()) != 0 {
			t.Fatal("a forged code was exchanged")
		}
	})
	t.Run("bare code", func(t *testing.T) {
		w := newWorld(t)
		r := w.run("url", "--client-id", publicID)
		loc, _ := url.Parse(approve(t, strings.TrimSpace(r.stdout)))
		r = w.run("exchange", loc.Query().Get("code"))
		if r.code != 0 || !strings.Contains(r.stderr, "a bare code carries no state") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("no argument", func(t *testing.T) {
		w := newWorld(t)
		if r := w.run("exchange"); r.code != 2 {
			t.Fatalf("exit %d", r.code)
		}
	})
}

func TestHeadlessFallback(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		opens   bool
		says    string
		tunnels bool
	}{
		{"desktop", map[string]string{"DISPLAY": ":0"}, nil, true, "", false},
		{"wayland", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, nil, true, "", false},
		{"no display", map[string]string{}, nil, false, "No browser can be opened here (there is no display", false},
		{"no display, $BROWSER", map[string]string{"BROWSER": "true"}, nil, true, "", false},
		{"ssh", map[string]string{"DISPLAY": ":0", "SSH_CONNECTION": "10.0.0.5 50000 10.0.0.9 22", "USER": "dev"}, nil, false, "this is an SSH session", true},
		{"ssh, $BROWSER", map[string]string{"SSH_CONNECTION": "10.0.0.5 50000 10.0.0.9 22", "BROWSER": "w3m"}, nil, true, "", false},
		{"--no-browser", map[string]string{"DISPLAY": ":0"}, []string{"--no-browser"}, false, "", false},
		{"--no-browser over ssh", map[string]string{"SSH_CONNECTION": "10.0.0.5 50000 10.0.0.9 22", "USER": "dev"}, []string{"--no-browser"}, false, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.env = tc.env
			opened := false
			w.open = func(ctx context.Context, u string) error {
				opened = true
				return w.browser.OpenContext(ctx, u)
			}
			if !tc.opens {
				// The user opens the printed URL on another machine.
				w.onAuthURL = func(u string) { w.browser.Open(u) }
			}
			r := w.run(append([]string{"login", "--client-id", publicID, "--timeout", "5s"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if opened != tc.opens {
				t.Errorf("browser opened = %v, want %v", opened, tc.opens)
			}
			if !strings.Contains(r.stderr, tc.says) {
				t.Errorf("stderr lacks %q:\n%s", tc.says, r.stderr)
			}
			tunnel := fmt.Sprintf("ssh -N -L %d:127.0.0.1:%d dev@10.0.0.9", w.port, w.port)
			if strings.Contains(r.stderr, tunnel) != tc.tunnels {
				t.Errorf("tunnel hint %q shown = %v:\n%s", tunnel, !tc.tunnels, r.stderr)
			}
		})
	}
}
