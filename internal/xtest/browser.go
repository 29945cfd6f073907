package xtest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// DefaultBrowserMaxSteps is HTTPBrowser's default limit on requests per Open.
const DefaultBrowserMaxSteps = 20

// maxPageBytes is how much of a page HTTPBrowser keeps.
const maxPageBytes = 1 << 20

// HTTPBrowser plays the user's part in a login with plain HTTP: it opens a
// URL, follows redirects, submits the consent page (Authorize app, or
// Cancel), and stops on the first page that is neither a redirect nor a
// consent page. It only ever talks to loopback hosts (127.0.0.0/8, ::1,
// localhost): a URL or redirect elsewhere is an error, so a test can never
// reach the internet. End-to-end tests pass it to twauth as the browser.
//
// Read the Last fields and Visited after Open returns; when Open runs on
// another goroutine, call Wait first. An HTTPBrowser must not be copied
// after first use.
type HTTPBrowser struct {
	// Client sends the requests; nil means a client with a 30 s timeout
	// that uses no proxy. Its redirect policy is ignored: HTTPBrowser
	// follows redirects itself. Its Jar, if any, keeps cookies.
	Client *http.Client
	// Cancel presses "Cancel" instead of "Authorize app" on a consent page.
	Cancel bool
	// MaxSteps limits the requests of one Open; 0 means
	// DefaultBrowserMaxSteps.
	MaxSteps int

	// LastURL, LastStatus and LastBody describe the final page of the last
	// Open (LastBody is cut at 1 MiB); they are empty when it failed.
	LastURL    string
	LastStatus int
	LastBody   string
	// Visited lists "METHOD URL" of every request made, in order, across
	// every Open.
	Visited []string
	// ConsentPages counts the consent pages submitted.
	ConsentPages int

	mu sync.Mutex
	wg sync.WaitGroup
}

// Open browses to rawURL; see OpenContext.
func (b *HTTPBrowser) Open(rawURL string) error {
	return b.OpenContext(context.Background(), rawURL)
}

// Wait blocks until every Open in flight has returned.
func (b *HTTPBrowser) Wait() { b.wg.Wait() }

// OpenContext browses to rawURL as a user would. It returns nil when it
// reached a final page, whatever its status (see LastStatus), and an error
// when a URL is not http(s) on a loopback host, a request fails, or
// MaxSteps requests did not reach a final page.
func (b *HTTPBrowser) OpenContext(ctx context.Context, rawURL string) error {
	b.wg.Add(1)
	defer b.wg.Done()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.LastURL, b.LastStatus, b.LastBody = "", 0, ""

	var client *http.Client
	if b.Client == nil {
		tr := &http.Transport{Proxy: nil}
		defer tr.CloseIdleConnections()
		client = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	} else {
		c := *b.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	maxSteps := b.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultBrowserMaxSteps
	}

	method, body := http.MethodGet, ""
	target, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("browser: bad URL: %w", err)
	}
	if target.Scheme == "file" {
		// A local page, as twauth hands a browser it starts: follow its
		// meta refresh as a browser does.
		if target, err = followLocalPage(target); err != nil {
			return err
		}
	}
	for step := 0; ; step++ {
		if step == maxSteps {
			return fmt.Errorf("browser: no final page after %d requests (last %s)", maxSteps, pageName(target))
		}
		if err := checkLoopback(target); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, target.String(), strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("browser: %w", err)
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("User-Agent", "twauth-xtest-browser/1")
		b.Visited = append(b.Visited, method+" "+target.String())
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // its text holds the whole URL, code and state included
			}
			return fmt.Errorf("browser: %s %s: %w", method, pageName(target), err)
		}
		page, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("browser: reading %s: %w", pageName(target), err)
		}

		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, err := target.Parse(loc)
			if err != nil {
				return fmt.Errorf("browser: bad redirect from %s: %w", pageName(target), err)
			}
			next.Fragment, next.RawFragment = "", ""
			if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect {
				method, body = http.MethodGet, ""
			}
			target = next
			continue
		}
		if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			if sub, ok := consentSubmission(string(page), b.Cancel); ok {
				next, err := target.Parse(sub.action)
				if err != nil {
					return fmt.Errorf("browser: bad form action on %s: %w", pageName(target), err)
				}
				b.ConsentPages++
				if sub.post {
					method, body = http.MethodPost, sub.fields.Encode()
				} else {
					next.RawQuery = sub.fields.Encode()
					method, body = http.MethodGet, ""
				}
				target = next
				continue
			}
		}
		b.LastURL, b.LastStatus, b.LastBody = target.String(), resp.StatusCode, string(page)
		return nil
	}
}

// checkLoopback refuses any URL that is not http(s) on a loopback host.
func checkLoopback(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("browser: refusing %s: only http and https URLs are opened", pageName(u))
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("browser: refusing to go to non-loopback host %q (%s)", host, pageName(u))
}

// IsLoopbackURL reports whether rawURL is http(s) on a loopback host:
// 127.0.0.0/8, ::1 or localhost.
func IsLoopbackURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && checkLoopback(u) == nil
}

// pageName names u without its query, which may hold a code or state.
func pageName(u *url.URL) string {
	if u.Host == "" {
		return strings.SplitN(u.String(), "?", 2)[0]
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

type submission struct {
	action string
	post   bool
	fields url.Values
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	inputRe  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	buttonRe = regexp.MustCompile(`(?is)<button\b([^>]*)>(.*?)</button\s*>`)
	tagRe    = regexp.MustCompile(`(?s)<[^>]*>`)
	attrRe   = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
)

// consentSubmission finds on an HTML page the form whose submit button has
// the id "authorize" (or "cancel") or the visible text "Authorize app" (or
// "Cancel"), and returns what a browser sends when the button is pressed.
func consentSubmission(page string, cancel bool) (submission, bool) {
	wantID, wantText := "authorize", "Authorize app"
	if cancel {
		wantID, wantText = "cancel", "Cancel"
	}
	for _, fm := range formRe.FindAllStringSubmatch(page, -1) {
		formAttrs, inner := parseAttrs(fm[1]), fm[2]
		fields := url.Values{}
		var pressed map[string]string
		for _, im := range inputRe.FindAllStringSubmatch(inner, -1) {
			a := parseAttrs(im[1])
			switch strings.ToLower(a["type"]) {
			case "submit":
				if a["id"] == wantID || a["value"] == wantText {
					pressed = a
				}
			case "checkbox", "radio", "button", "reset", "image", "file":
			default:
				if name, ok := a["name"]; ok && name != "" {
					fields.Add(name, a["value"])
				}
			}
		}
		for _, bm := range buttonRe.FindAllStringSubmatch(inner, -1) {
			a := parseAttrs(bm[1])
			if t := strings.ToLower(a["type"]); t != "" && t != "submit" {
				continue
			}
			text := strings.TrimSpace(html.UnescapeString(tagRe.ReplaceAllString(bm[2], "")))
			if a["id"] == wantID || text == wantText {
				pressed = a
			}
		}
		if pressed == nil {
			continue
		}
		if name := pressed["name"]; name != "" {
			fields.Add(name, pressed["value"])
		}
		return submission{
			action: formAttrs["action"],
			post:   strings.EqualFold(formAttrs["method"], "post"),
			fields: fields,
		}, true
	}
	return submission{}, false
}

// parseAttrs parses the attributes of a tag; names are lower-cased and
// values HTML-unescaped.
func parseAttrs(s string) map[string]string {
	out := make(map[string]string)
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		name := strings.ToLower(m[1])
		if _, seen := out[name]; seen {
			continue
		}
		out[name] = html.UnescapeString(m[2] + m[3] + m[4])
	}
	return out
}

// metaRefresh finds the target of a page's <meta http-equiv="refresh">.
var metaRefresh = regexp.MustCompile(`(?i)<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"`)

// followLocalPage reads the file:// page at u and returns where its meta
// refresh leads.
func followLocalPage(u *url.URL) (*url.URL, error) {
	data, err := os.ReadFile(filepath.FromSlash(u.Path))
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	m := metaRefresh.FindSubmatch(data)
	if m == nil {
		return nil, fmt.Errorf("browser: the page %s leads nowhere", u.Path)
	}
	next, err := url.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return nil, fmt.Errorf("browser: the page %s leads to a bad URL: %w", u.Path, err)
	}
	return next, nil
}
