// Command twauth-dev lets you try twauth without an X account.
//
//	twauth-dev serve [flags]        serve a fake X authorization server on loopback
//	twauth-dev browse [flags] URL   play the user: open URL, press "Authorize app"
//
// serve prints its settings on stdout as shell export lines of twauth's
// variables (TWAUTH_AUTH_URL, …), and on stderr a twauth login command line
// that uses them, then runs until SIGINT or SIGTERM. With --print-env it
// prints the export lines and exits, for another shell:
//
//	./bin/twauth-dev serve                          # one shell
//	eval "$(./bin/twauth-dev serve --print-env)"    # another
//	./bin/twauth login --browser './bin/twauth-dev browse'
//
// browse is meant for twauth's --browser flag, which passes the URL as the
// last argument.
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
	code := run(ctx, os.Args[0], os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  twauth-dev serve [flags]        serve a fake X authorization server on loopback
  twauth-dev browse [flags] URL   open URL as a user would and press "Authorize app"

Run "twauth-dev serve -h" or "twauth-dev browse -h" for the flags.
`

// run is the whole command, invoked as prog (argv[0]); it returns the exit
// code: 0 ok, 1 failure, 2 usage error.
func run(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, prog, args[1:], stdout, stderr)
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

func serve(ctx context.Context, prog string, args []string, stdout, stderr io.Writer) int {
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
	printEnv := fs.Bool("print-env", false, "print the export lines of a server with these flags and exit, serving nothing (for eval in another shell; needs a fixed port)")
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
	if *printEnv {
		if _, port, _ := net.SplitHostPort(listenAddr); port == "0" {
			fmt.Fprintf(stderr, "twauth-dev serve: --print-env needs the server's fixed port, not --addr %s: port 0 is chosen when it starts\n", *addr)
			return 2
		}
		printExports(stdout, devSettings(listenAddr, *clientID, redirects))
		return 0
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

	settings := devSettings(ln.Addr().String(), *clientID, redirects)
	printExports(stdout, settings)
	if !*quiet {
		printHint(stderr, prog, ln.Addr().String(), settings, *secret != "")
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
	// The tokens that dev logins saved are worthless once the server stops.
	_ = os.RemoveAll(devDir(ln.Addr().String()))
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

// setting is one of twauth's settings for the dev server: its flag, whose
// variable is TWAUTH_<FLAG>, and its value.
type setting struct{ flag, value string }

// devSettings are the twauth settings that log in to the server at addr:
// its endpoints, its app, and a Config.toml and store of their own in
// devDir, so that a dev login leaves the user's own alone.
func devSettings(addr, clientID string, redirects []string) []setting {
	base, dir := "http://"+addr, devDir(addr)
	return []setting{
		{"auth-url", base + xtest.AuthorizePath},
		{"token-url", base + xtest.TokenPath},
		{"revoke-url", base + xtest.RevokePath},
		{"api-url", base},
		{"client-id", clientID},
		{"redirect-uri", strings.Join(redirects, " ")},
		{"config", filepath.Join(dir, "Config.toml")},
		{"store", filepath.Join(dir, "tokens.json")},
	}
}

// devDir is the directory of the twauth files of the server at addr, in
// the temporary directory and named by its port, so that --print-env names
// it too; the server removes it when it stops.
func devDir(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return filepath.Join(os.TempDir(), "twauth-dev-"+port)
}

// printExports prints settings as lines of export VAR=value for a POSIX
// shell.
func printExports(w io.Writer, settings []setting) {
	for _, s := range settings {
		fmt.Fprintf(w, "export TWAUTH_%s=%s\n", strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_")), shellQuote(s.value))
	}
}

// printHint tells how to log in to the server: a twauth login line with
// every setting as a flag, which runs as printed from the directory where
// twauth-dev was started (./bin/twauth-dev gives ./bin/twauth), and the
// shorter way through the export lines. The serve flags that change them
// are in the --print-env line.
func printHint(w io.Writer, prog, addr string, settings []setting, confidential bool) {
	twauth, dev := "twauth", prog
	if i := strings.LastIndexByte(prog, '/'); i >= 0 {
		twauth = prog[:i+1] + "twauth"
	}
	browser := "--browser " + shellQuote(shellQuote(dev)+" browse")
	var login, printEnv strings.Builder
	for _, s := range settings {
		for _, v := range strings.Fields(s.value) { // --redirect-uri repeats
			flag := " --" + s.flag + " " + shellQuote(v)
			login.WriteString(flag)
			if s.flag == "client-id" && v != defaultClientID || s.flag == "redirect-uri" && s.value != defaultRedirectURI {
				printEnv.WriteString(flag)
			}
		}
	}
	if addr != defaultAddr {
		printEnv.WriteString(" --addr " + addr)
	}
	fmt.Fprintf(w, "twauth-dev: fake X server on http://%s (Ctrl-C to stop). Log in to it with:\n", addr)
	fmt.Fprintf(w, "  %s login%s %s\n", shellQuote(twauth), login.String(), browser)
	fmt.Fprintf(w, "or, in another shell, take the export lines above with\n  eval \"$(%s serve --print-env%s)\"\n", shellQuote(dev), printEnv.String())
	fmt.Fprintf(w, "and run %s login %s (then status, token, refresh, revoke)\n", shellQuote(twauth), browser)
	if confidential {
		fmt.Fprintln(w, "with TWAUTH_CLIENT_SECRET set to the --client-secret given here")
	}
}

// shellQuote quotes s for a POSIX shell, leaving plain words as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
