// Package e2e tests twauth against software this project did not write:
// here, a real Chromium that opens the authorize URL, renders the consent
// page, follows X's redirect to twauth's loopback listener and renders the
// page twauth answers with.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/twauth/twauth/internal/testport"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twauth/twauth/internal/cli"
	"github.com/twauth/twauth/internal/xtest"
)

const (
	// chromiumEnv overrides where Chromium is; a path that is not an
	// executable makes the tests skip, as on a machine without Chromium.
	chromiumEnv = "TWAUTH_CHROMIUM"
	// updateEnv=1 writes the screenshots into docs/ as well.
	updateEnv  = "TWAUTH_UPDATE_SCREENSHOTS"
	skipReason = "chromium not installed: apt-get install -y chromium"

	viewportW, viewportH = 900, 600

	// browserLife bounds a whole test's browser: when it ends the
	// browser process is killed, so a hung Chromium fails the test.
	browserLife = 30 * time.Second
	// startTimeout bounds the start of the browser.
	startTimeout = 15 * time.Second
	// stepTimeout bounds one step (a navigation, a click and the
	// redirects it causes, a query).
	stepTimeout = 10 * time.Second
	// loginTimeout is twauth's own --timeout for the callback.
	loginTimeout = 20 * time.Second
)

// chromiumPath returns the Chromium to run, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		if isExecutable(p) {
			return p
		}
		t.Logf("%s=%s is not an executable file", chromiumEnv, p)
		t.Skip(skipReason)
	}
	if isExecutable("/usr/bin/chromium") {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip(skipReason)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// syncBuffer collects Chromium's output, which its own goroutine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startChromium starts a headless Chromium with a fresh profile and
// returns the context of its first tab. The browser is closed when the
// test ends; its output is logged when the test failed.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	profile := t.TempDir() // removed after the browser has exited (cleanups run LIFO)
	out := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium refuses to start as root with its sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Loopback only: ignore any proxy of the environment.
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(viewportW, viewportH),
		chromedp.CombinedOutput(out),
	)
	life, lifeCancel := context.WithTimeout(context.Background(), browserLife)
	allocCtx, allocCancel := chromedp.NewExecAllocator(life, opts...)
	tab, tabCancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully, then make sure the process is
		// gone (allocCancel waits for it) before the profile is removed.
		start := time.Now()
		cctx, cancel := context.WithTimeout(tab, 5*time.Second)
		err := chromedp.Cancel(cctx)
		cancel()
		tabCancel()
		allocCancel()
		lifeCancel()
		t.Logf("Chromium closed in %v", time.Since(start).Round(time.Millisecond))
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("closing Chromium: %v", err)
		}
		if t.Failed() {
			t.Logf("Chromium output (D-Bus complaints left out):\n%s", withoutDBus(out.String()))
		}
	})
	// The first Do starts the browser; its life is bound to tab (and to
	// life), not to a step's timeout, so a watchdog ends a start that hangs.
	start := time.Now()
	watchdog := time.AfterFunc(startTimeout, lifeCancel)
	err := chromedp.Do(tab)
	if !watchdog.Stop() {
		t.Fatalf("%s did not start within %v: %v\n%s", path, startTimeout, err, withoutDBus(out.String()))
	}
	if err != nil {
		t.Fatalf("starting %s: %v\n%s", path, err, withoutDBus(out.String()))
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	// --window-size is the outer window, even headless: the page would get
	// less. Fix the viewport itself.
	if err := chromedp.Do(step(t, tab), chromedp.EmulateViewport(viewportW, viewportH)); err != nil {
		t.Fatalf("setting the viewport: %v", err)
	}
	return tab
}

// withoutDBus drops the lines in which Chromium complains that a container
// has no D-Bus: they are noise, not the reason for a failure.
func withoutDBus(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.Contains(line, "dbus/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// step returns a context for one browser step on tab.
func step(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	t.Cleanup(cancel)
	return ctx
}

func freePort(t *testing.T) int {
	t.Helper()
	return testport.Free(t)
}

type result struct {
	code           int
	stdout, stderr string
}

// opened is what Deps.Open reports once Chromium has loaded the URL.
type opened struct {
	url string
	err error
}

// login is one `twauth login` running in-process with Chromium as its
// browser, against a fake X that shows a consent page.
type login struct {
	t        *testing.T
	tab      context.Context
	srv      *xtest.Server
	redirect string
	cfg      string
	store    string
	opened   chan opened
	done     chan result
	// last is when the previous phase ended; see mark.
	last time.Time
}

// mark logs how long the phase that ends now took.
func (l *login) mark(phase string) {
	l.t.Helper()
	now := time.Now()
	l.t.Logf("%s: %v", phase, now.Sub(l.last).Round(time.Millisecond))
	l.last = now
}

const clientID = "chromium-e2e-client"

// startLogin writes config as Config.toml and starts `twauth login`; its
// Deps.Open navigates the tab to the authorize URL.
func startLogin(t *testing.T, tab context.Context, config string) *login {
	t.Helper()
	dir := t.TempDir()
	l := &login{
		t:        t,
		tab:      tab,
		redirect: fmt.Sprintf("http://127.0.0.1:%d/callback", freePort(t)),
		cfg:      filepath.Join(dir, "Config.toml"),
		store:    filepath.Join(dir, "state", "tokens.json"),
		opened:   make(chan opened, 1),
		done:     make(chan result, 1),
		last:     time.Now(),
	}
	l.srv = xtest.Start(t, xtest.Options{
		Clients: []xtest.Client{{ID: clientID, RedirectURIs: []string{l.redirect}}},
		Consent: true,
	})
	if err := os.WriteFile(l.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	// open is twauth's browser: Chromium loads the URL in the tab. It runs
	// on twauth's goroutine; the test touches the tab only after it has
	// reported on l.opened, so the tab is never used by two goroutines.
	open := func(ctx context.Context, u string) error {
		nctx, cancel := context.WithTimeout(tab, stepTimeout)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		err := chromedp.Do(nctx, chromedp.Navigate(u))
		l.opened <- opened{url: u, err: err}
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	deps := cli.Deps{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(string) string { return "" },
		Open:   open,
		GOOS:   "linux",
	}
	args := []string{
		"login",
		"--redirect-uri", l.redirect,
		"--auth-url", l.srv.AuthURL(), "--token-url", l.srv.TokenURL(),
		"--revoke-url", l.srv.RevokeURL(), "--api-url", l.srv.APIURL(),
		"--store", l.store, "--config", l.cfg,
		"--timeout", loginTimeout.String(),
		// A browser command tells twauth that this display-less machine
		// has a browser; Deps.Open is what opens it.
		"--browser", "chromium",
	}
	go func() {
		code := cli.Run(ctx, deps, args)
		l.done <- result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}()
	t.Cleanup(func() {
		// A test that failed early interrupts the login and waits for it.
		cancel()
		select {
		case r := <-l.done:
			l.done <- r
		case <-time.After(5 * time.Second):
			t.Error("twauth login did not return after its context was canceled")
		}
	})
	return l
}

// waitConsent waits until Chromium, opened by twauth, shows the consent
// page with its buttons.
func (l *login) waitConsent() {
	l.t.Helper()
	select {
	case o := <-l.opened:
		if o.err != nil {
			l.t.Fatalf("Chromium could not open the authorize URL: %v", o.err)
		}
		if !strings.HasPrefix(o.url, l.srv.AuthURL()+"?") {
			l.t.Fatalf("twauth opened %s, want the authorize URL %s", o.url, l.srv.AuthURL())
		}
	case r := <-l.done:
		l.t.Fatalf("twauth login ended (exit %d) before the browser opened:\n%s", r.code, r.stderr)
	case <-time.After(stepTimeout):
		l.t.Fatal("twauth did not open the browser")
	}
	err := chromedp.Do(step(l.t, l.tab),
		chromedp.WaitVisible(chromedp.ID("authorize")),
		chromedp.WaitVisible(chromedp.ID("cancel")),
	)
	if err != nil {
		l.t.Fatalf("consent page: %v", err)
	}
	title, err := chromedp.Run(step(l.t, l.tab), chromedp.Title())
	if err != nil || !strings.HasPrefix(title, "Authorize app") {
		l.t.Fatalf("consent page title %q, %v", title, err)
	}
	l.mark("twauth opened Chromium on the consent page")
}

// click clicks the button with id with the mouse and waits until Chromium
// has followed the redirect and loaded twauth's callback page. It checks
// that the page is on the redirect URI with the login's state and returns
// the text Chromium rendered.
func (l *login) click(id string) string {
	l.t.Helper()
	resp, err := chromedp.RunResponse(step(l.t, l.tab), chromedp.Click(chromedp.ID(id)))
	if err != nil {
		l.t.Fatalf("clicking #%s: %v", id, err)
	}
	l.mark("click, redirects and callback page")
	if resp == nil || resp.Status != 200 {
		l.t.Fatalf("after #%s the document's response is %+v, want 200", id, resp)
	}
	loc, err := chromedp.Run(step(l.t, l.tab), chromedp.Location())
	if err != nil {
		l.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		l.t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != l.redirect {
		l.t.Fatalf("Chromium is on %s, want the redirect URI %s", loc, l.redirect)
	}
	auths := l.srv.Authorizations()
	if len(auths) != 1 {
		l.t.Fatalf("%d authorization requests, want 1", len(auths))
	}
	if st := u.Query().Get("state"); st == "" || st != auths[0].Get("state") {
		l.t.Errorf("callback state %q, authorize state %q", st, auths[0].Get("state"))
	}
	text, err := chromedp.Run(step(l.t, l.tab), chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		l.t.Fatal(err)
	}
	return text
}

// wait returns the result of twauth login.
func (l *login) wait() result {
	l.t.Helper()
	select {
	case r := <-l.done:
		l.done <- r // for the cleanup
		l.mark("twauth login returned")
		return r
	case <-time.After(stepTimeout):
		l.t.Fatal("twauth login did not return after the callback")
		return result{}
	}
}

func (l *login) readConfig() string {
	l.t.Helper()
	b, err := os.ReadFile(l.cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	return string(b)
}

// screenshot takes a full-page PNG of the tab and writes it to a temporary
// directory, and to docs/name when TWAUTH_UPDATE_SCREENSHOTS=1.
func (l *login) screenshot(name string) {
	l.t.Helper()
	buf, err := chromedp.Run(step(l.t, l.tab), chromedp.FullScreenshot(100))
	if err != nil {
		l.t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		l.t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != viewportW || b.Dy() < viewportH {
		l.t.Errorf("screenshot is %dx%d, want %d wide and at least %d high", b.Dx(), b.Dy(), viewportW, viewportH)
	}
	tmp := filepath.Join(l.t.TempDir(), name)
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		l.t.Fatal(err)
	}
	if os.Getenv(updateEnv) == "1" {
		docs := filepath.Join("..", "..", "docs", name)
		if err := os.MkdirAll(filepath.Dir(docs), 0o755); err != nil {
			l.t.Fatal(err)
		}
		if err := os.WriteFile(docs, buf, 0o644); err != nil {
			l.t.Fatal(err)
		}
		l.t.Logf("wrote %s (%d bytes)", docs, len(buf))
	}
}
