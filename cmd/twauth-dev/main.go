// Command twauth-dev lets you try twauth without an X account.
//
//	twauth-dev serve [flags]        serve a fake X authorization server on loopback
//	twauth-dev browse [flags] URL   play the user: open URL, press "Authorize app"
//
// serve prints one line per setting on stdout (auth-url=, token-url=,
// revoke-url=, api-url=, client-id=) and runs until SIGINT or SIGTERM.
// browse is meant for twauth's --browser flag, which passes the URL as the
// last argument:
//
//	twauth login --browser "twauth-dev browse" ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/twauth/twauth/internal/xtest"
)

// Defaults of serve.
const (
	defaultAddr        = "127.0.0.1:8910"
	defaultClientID    = "twauth-dev-client"
	defaultRedirectURI = "http://127.0.0.1:8765/callback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  twauth-dev serve [flags]        serve a fake X authorization server on loopback
  twauth-dev browse [flags] URL   open URL as a user would and press "Authorize app"

Run "twauth-dev serve -h" or "twauth-dev browse -h" for the flags.
`

// run is the whole command; it returns the exit code: 0 ok, 1 failure,
// 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "browse":
		return browse(ctx, args[1:], stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "twauth-dev: unknown command %q\n%s", args[0], usage)
	return 2
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("twauth-dev serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr, "`host:port` to listen on; the host must be loopback (127.0.0.1, ::1, localhost); port 0 picks a free one")
	clientID := fs.String("client-id", defaultClientID, "client id of the app the server knows")
	secret := fs.String("client-secret", "", "client secret; empty makes the app a public client (no secret)")
	var redirects stringList
	fs.Var(&redirects, "redirect-uri", "registered callback URL, matched exactly; repeatable (default "+defaultRedirectURI+")")
	consent := fs.Bool("consent", true, `show a consent page with "Authorize app" and "Cancel"; false approves at once`)
	issuer := fs.String("issuer", "", "send iss=`ISSUER` on the callback (RFC 9207); X sends none")
	username := fs.String("username", xtest.DefaultUsername, "username that GET /2/users/me reports")
	codeTTL := fs.Duration("code-ttl", xtest.DefaultCodeTTL, "life of an authorization code")
	accessTTL := fs.Duration("access-ttl", xtest.DefaultAccessTTL, "life of an access token (expires_in)")
	readyFile := fs.String("ready-file", "", "write the listen address to `FILE` once listening (removed at shutdown)")
	quiet := fs.Bool("quiet", false, "do not log requests on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: twauth-dev serve [flags]\n\nServes a fake of X's OAuth 2.0 server until SIGINT or SIGTERM.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "twauth-dev serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *clientID == "" {
		fmt.Fprintln(stderr, "twauth-dev serve: --client-id must not be empty")
		return 2
	}
	if len(redirects) == 0 {
		redirects = stringList{defaultRedirectURI}
	}
	for _, r := range redirects {
		if u, err := url.Parse(r); err != nil || u.Scheme == "" || u.Host == "" {
			fmt.Fprintf(stderr, "twauth-dev serve: --redirect-uri %q is not an absolute URL\n", r)
			return 2
		}
	}
	network, listenAddr, err := loopbackAddr(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "twauth-dev serve: %v\n", err)
		return 2
	}
	ln, err := net.Listen(network, listenAddr)
	if err != nil {
		fmt.Fprintf(stderr, "twauth-dev serve: %v\n", err)
		return 1
	}
	defer ln.Close()

	fake := xtest.New(xtest.Options{
		Clients:   []xtest.Client{{ID: *clientID, Secret: *secret, RedirectURIs: redirects}},
		Consent:   *consent,
		Username:  *username,
		CodeTTL:   *codeTTL,
		AccessTTL: *accessTTL,
		Issuer:    *issuer,
	})
	var handler http.Handler = fake
	if !*quiet {
		handler = logRequests(fake, stderr)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}

	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "auth-url=%s%s\ntoken-url=%s%s\nrevoke-url=%s%s\napi-url=%s\nclient-id=%s\n",
		base, xtest.AuthorizePath, base, xtest.TokenPath, base, xtest.RevokePath, base, *clientID)
	if !*quiet {
		printHint(stderr, base, *clientID, *secret != "", redirects[0])
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if *readyFile != "" {
		if err := writeReadyFile(*readyFile, ln.Addr().String()); err != nil {
			fmt.Fprintf(stderr, "twauth-dev serve: %v\n", err)
			_ = srv.Close()
			return 1
		}
		defer os.Remove(*readyFile)
	}

	select {
	case err := <-served:
		fmt.Fprintf(stderr, "twauth-dev serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	fake.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if !*quiet {
		fmt.Fprintln(stderr, "twauth-dev: stopped")
	}
	return 0
}

// loopbackAddr checks that addr is host:port on a loopback host and returns
// the network and address to listen on ("localhost" means 127.0.0.1).
func loopbackAddr(addr string) (network, hostPort string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("--addr %q: %v", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return "tcp4", net.JoinHostPort("127.0.0.1", port), nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", "", fmt.Errorf("--addr %q: the dev server listens on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	if ip.To4() != nil {
		return "tcp4", net.JoinHostPort(host, port), nil
	}
	return "tcp6", net.JoinHostPort(host, port), nil
}

// writeReadyFile writes addr to name atomically, so that a script polling
// for the file never reads it half-written.
func writeReadyFile(name, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".twauth-dev-ready-*")
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	_, err = tmp.WriteString(addr + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("ready file: %w", err)
	}
	return nil
}

func printHint(w io.Writer, base, clientID string, confidential bool, redirectURI string) {
	fmt.Fprintf(w, "twauth-dev: fake X server on %s (Ctrl-C to stop). Try:\n", base)
	fmt.Fprintf(w, "  twauth login --client-id %s --auth-url %s%s --token-url %s%s --revoke-url %s%s --api-url %s",
		clientID, base, xtest.AuthorizePath, base, xtest.TokenPath, base, xtest.RevokePath, base)
	if redirectURI != defaultRedirectURI {
		fmt.Fprintf(w, " --redirect-uri %s", redirectURI)
	}
	fmt.Fprintln(w, ` --browser "twauth-dev browse"`)
	if confidential {
		fmt.Fprintln(w, "  with TWAUTH_CLIENT_SECRET set to the --client-secret given here")
	}
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (for faults
// that drop it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs method, path (never the query: it may carry a code or
// state) and status of every request.
func logRequests(h http.Handler, out io.Writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		h.ServeHTTP(sw, r)
		status := "no answer"
		if sw.status != 0 {
			status = fmt.Sprintf("%d", sw.status)
		}
		fmt.Fprintf(out, "twauth-dev: %s %s -> %s (%s)\n", r.Method, r.URL.Path, status,
			time.Since(start).Round(time.Microsecond))
	})
}

func browse(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("twauth-dev browse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cancel := fs.Bool("cancel", false, `press "Cancel" instead of "Authorize app" on the consent page`)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: twauth-dev browse [flags] URL\n\n"+
			"Opens URL like a user's browser: follows redirects (loopback hosts only) and submits the\n"+
			"consent page. Exits 0 when the final page answers 2xx.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "twauth-dev browse: give exactly one URL, after the flags")
		return 2
	}
	ctx, stop := context.WithTimeout(ctx, *timeout)
	defer stop()
	b := &xtest.HTTPBrowser{Cancel: *cancel}
	if err := b.OpenContext(ctx, fs.Arg(0)); err != nil {
		fmt.Fprintf(stderr, "twauth-dev browse: %s\n", strings.TrimPrefix(err.Error(), "browser: "))
		return 1
	}
	page := withoutQuery(b.LastURL)
	if b.LastStatus < 200 || b.LastStatus > 299 {
		fmt.Fprintf(stderr, "twauth-dev browse: the final page %s answered %d %s", page, b.LastStatus, http.StatusText(b.LastStatus))
		if text := pageText(b.LastBody); text != "" {
			fmt.Fprintf(stderr, ": %s", text)
		}
		fmt.Fprintln(stderr)
		return 1
	}
	fmt.Fprintf(stderr, "twauth-dev browse: the final page %s answered %d %s\n", page, b.LastStatus, http.StatusText(b.LastStatus))
	return 0
}

// withoutQuery drops the query of a URL, which may carry a code or state.
func withoutQuery(raw string) string {
	s, _, _ := strings.Cut(raw, "?")
	return s
}

var (
	headRe  = regexp.MustCompile(`(?is)<(head|script|style)\b.*?</(head|script|style)\s*>`)
	tagsRe  = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRe = regexp.MustCompile(`\s+`)
)

// pageText is the visible text of a page, on one line, at most 300 characters.
func pageText(body string) string {
	s := headRe.ReplaceAllString(body, " ")
	s = tagsRe.ReplaceAllString(s, " ")
	s = strings.TrimSpace(spaceRe.ReplaceAllString(html.UnescapeString(s), " "))
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "..."
	}
	return s
}
