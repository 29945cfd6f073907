package interop

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// formBrowser plays the user in a login against zitadel's example OP with
// plain HTTP: it opens the authorization URL, follows redirects, keeps
// cookies, fills the example login form (username, password) and submits
// it, and follows the redirects on to twauth's loopback listener. It only
// ever talks to 127.0.0.1: any other host is an error, so a test can never
// reach the internet.
type formBrowser struct {
	username, password string

	client    *http.Client
	transport *http.Transport

	mu sync.Mutex
	// visited lists "METHOD URL (status)" of every request, in order.
	visited []string
	// forms counts the login forms submitted.
	forms int
	// lastURL, lastStatus and lastBody describe the final page.
	lastURL    string
	lastStatus int
	lastBody   string
	// err is what went wrong in the last open.
	err error
	// done is closed when the open of the current run returns.
	done     chan struct{}
	doneOnce *sync.Once
}

func newFormBrowser(username, password string) *formBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		panic(err)
	}
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	b := &formBrowser{username: username, password: password, transport: tr}
	b.client = &http.Client{
		Jar:       jar,
		Transport: tr,
		Timeout:   10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			if err := onlyLocal(req.URL); err != nil {
				return err
			}
			prev := via[len(via)-1]
			b.note(prev.Method, prev.URL.String(), req.Response.StatusCode)
			return nil
		},
	}
	b.reset()
	return b
}

// reset prepares the browser for a new run of twauth.
func (b *formBrowser) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = make(chan struct{})
	b.doneOnce = &sync.Once{}
	b.lastURL, b.lastStatus, b.lastBody, b.err = "", 0, "", nil
}

// wait waits for the open of the current run, at most d; it reports
// whether the browser had been opened and finished.
func (b *formBrowser) wait(d time.Duration) bool {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (b *formBrowser) close() { b.transport.CloseIdleConnections() }

func (b *formBrowser) note(method, u string, status int) {
	b.mu.Lock()
	b.visited = append(b.visited, fmt.Sprintf("%s %s (%d)", method, u, status))
	b.mu.Unlock()
}

func onlyLocal(u *url.URL) error {
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("the test browser refuses %s: only http://127.0.0.1 is allowed", u.Redacted())
	}
	return nil
}

// open is twauth's opener.Func.
func (b *formBrowser) open(ctx context.Context, rawURL string) error {
	b.mu.Lock()
	finish := func() { close(b.done) }
	once := b.doneOnce
	b.mu.Unlock()
	defer once.Do(finish)
	err := b.browse(ctx, rawURL)
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
	return err
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRE  = regexp.MustCompile(`(?is)([a-z-]+)\s*=\s*"([^"]*)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

func (b *formBrowser) browse(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if err := onlyLocal(u); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	for step := 0; step < 3; step++ {
		resp, err := b.client.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		b.note(req.Method, resp.Request.URL.String(), resp.StatusCode)
		page := string(body)
		fm := formRE.FindStringSubmatch(page)
		if fm == nil || !strings.Contains(strings.ToLower(fm[2]), `name="password"`) {
			b.mu.Lock()
			b.lastURL, b.lastStatus, b.lastBody = resp.Request.URL.String(), resp.StatusCode, page
			b.mu.Unlock()
			return nil
		}
		// zitadel's example login page: fill it in and submit it.
		fa := attrs(fm[1])
		if m := strings.ToUpper(fa["method"]); m != "" && m != http.MethodPost {
			return fmt.Errorf("login form method %q", fa["method"])
		}
		action, err := resp.Request.URL.Parse(fa["action"])
		if err != nil {
			return err
		}
		if err := onlyLocal(action); err != nil {
			return err
		}
		form := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(fm[2], -1) {
			a := attrs(in[1])
			switch a["name"] {
			case "":
			case "username":
				form.Set("username", b.username)
			case "password":
				form.Set("password", b.password)
			default:
				form.Set(a["name"], a["value"])
			}
		}
		b.mu.Lock()
		b.forms++
		b.mu.Unlock()
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return errors.New("the login form came back three times: wrong username or password?")
}
