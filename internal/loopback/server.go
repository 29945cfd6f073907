package loopback

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twauth/twauth/internal/termtext"
)

// Limits that keep one stuck or hostile client from holding the login.
const (
	// MaxQuery is the longest query string accepted on the callback.
	MaxQuery = 8 << 10
	// maxHeaderBytes bounds the request line and headers; net/http adds
	// 4 KB of slack of its own.
	maxHeaderBytes    = 16 << 10
	readHeaderTimeout = 5 * time.Second
	shutdownTimeout   = 500 * time.Millisecond
)

// Options configures Listen.
type Options struct {
	// RedirectURIs are tried in order; the first whose port is free is used.
	RedirectURIs []string
	// State is the value the callback's state parameter must equal.
	State string
	// Issuer, when set, is the authorization server's issuer identifier:
	// a callback carrying a different iss is refused (RFC 9207). A callback
	// without iss is accepted, as X sends none.
	Issuer string
	// OnReject, when set, hears about every callback that was refused while
	// the login keeps waiting (a stale tab, a forged redirect). The reason
	// is safe to print.
	OnReject func(reason string)
	// Listen, when set, is the local address to bind instead of the
	// redirect URI's host: "HOST:PORT", "HOST" or ":PORT", where a missing
	// host means every interface and a missing port the redirect URI's. In
	// a container published with -p 8765:8765, "0.0.0.0:8765" receives the
	// browser's redirect to http://127.0.0.1:8765/callback. The redirect URI
	// sent to X is unchanged, and the Host header must still name the
	// redirect URI's host and port. An address with a port takes exactly
	// one redirect URI.
	Listen string
}

// Result is a successful authorization response.
type Result struct {
	Code string
	// Iss is the iss parameter, when the server sent one.
	Iss string
}

// AuthorizationError is an error response on the callback (RFC 6749
// section 4.1.2.1), e.g. access_denied when the user clicks Cancel: the
// authorization failed.
type AuthorizationError struct {
	Code        string
	Description string
}

// Error says what the server answered; its text is safe to print, whoever
// filled in the fields.
func (e *AuthorizationError) Error() string {
	msg := "authorization failed: " + termtext.Safe(e.Code)
	if e.Code == "access_denied" {
		msg = "authorization was denied in the browser (access_denied)"
	}
	if e.Description != "" {
		msg += ": " + termtext.Safe(e.Description)
	}
	return msg
}

// PortsInUseError means no redirect URI could be bound: a configuration
// error.
type PortsInUseError struct {
	// Tried holds one line per redirect URI: the address and why it failed.
	Tried []string
}

func (e *PortsInUseError) Error() string {
	return "no redirect URI could be served: " + strings.Join(e.Tried, "; ")
}

// ListenError is an Options.Listen the listener cannot use: a
// configuration error.
type ListenError struct {
	Addr   string
	Reason string
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen address %q cannot be used: %s", e.Addr, e.Reason)
}

// Server is a running callback listener.
type Server struct {
	redirect  Redirect
	state     string
	issuer    string
	onReject  func(string)
	listeners []net.Listener
	srv       *http.Server

	once     sync.Once
	results  chan outcome // buffered, 1
	shutdown sync.Once
	drained  chan struct{} // closed when the server has shut down
	err      error         // of the shutdown, once drained is closed
}

type outcome struct {
	res Result
	err error
}

// Listen validates every redirect URI, then binds the first one whose port
// is free. The listener is serving when Listen returns, so the browser can
// be opened at once.
func Listen(opts Options) (*Server, error) {
	if len(opts.RedirectURIs) == 0 {
		return nil, errors.New("no redirect URI")
	}
	var redirects []Redirect
	for _, uri := range opts.RedirectURIs {
		r, err := ParseRedirect(uri)
		if err != nil {
			return nil, err
		}
		redirects = append(redirects, r)
	}
	var listen *listenAddr
	if opts.Listen != "" {
		la, err := parseListen(opts.Listen)
		if err != nil {
			return nil, err
		}
		if la.port != "" && len(redirects) > 1 {
			return nil, &ListenError{Addr: opts.Listen, Reason: "it names a port, so it serves one redirect URI, and several were given"}
		}
		listen = &la
	}
	var tried []string
	for _, r := range redirects {
		addrs := r.bindAddrs()
		what := r.URI
		if listen != nil {
			addrs = []string{listen.addr(r.Port)}
			what += " (listening on " + addrs[0] + ")"
		}
		lns, err := bind(addrs)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %s", what, bindReason(err)))
			continue
		}
		s := &Server{
			redirect:  r,
			state:     opts.State,
			issuer:    opts.Issuer,
			onReject:  opts.OnReject,
			listeners: lns,
			results:   make(chan outcome, 1),
			drained:   make(chan struct{}),
		}
		s.srv = &http.Server{
			Handler:           s,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       10 * time.Second,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          discardLog,
		}
		for _, ln := range lns {
			go s.srv.Serve(ln)
		}
		return s, nil
	}
	return nil, &PortsInUseError{Tried: tried}
}

// listenAddr is a parsed Options.Listen.
type listenAddr struct{ host, port string }

func (l listenAddr) addr(redirectPort int) string {
	port := l.port
	if port == "" {
		port = strconv.Itoa(redirectPort)
	}
	return net.JoinHostPort(l.host, port)
}

// parseListen reads "HOST:PORT", "HOST", ":PORT", "[V6]:PORT", "[V6]" or a
// bare IPv6 address.
func parseListen(s string) (listenAddr, error) {
	fail := func(why string) (listenAddr, error) { return listenAddr{}, &ListenError{Addr: s, Reason: why} }
	var l listenAddr
	switch {
	case strings.Contains(s, "/"):
		return fail("it is not HOST:PORT")
	case net.ParseIP(s) != nil:
		l.host = s
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		l.host = s[1 : len(s)-1]
	case !strings.Contains(s, ":"):
		l.host = s
	default:
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return fail("it is not HOST:PORT")
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail("its port is not between 1 and 65535")
		}
		l.host, l.port = h, p
	}
	if strings.ContainsAny(l.host, "[]/ ") || !printable(l.host) {
		return fail("its host is not a host name or an IP address")
	}
	return l, nil
}

func printable(s string) bool { return termtext.Safe(s) == s }

func bind(addrs []string) ([]net.Listener, error) {
	var lns []net.Listener
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			// localhost: ::1 may be missing on hosts without IPv6; 127.0.0.1
			// is enough then. A ::1 port in use still counts as in use.
			if i > 0 && !errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func bindReason(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "port in use"
	case errors.Is(err, syscall.EACCES):
		return "permission denied (ports below 1024 need privileges)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "address not available on this machine"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// RedirectURI is the redirect URI being served, exactly as given.
func (s *Server) RedirectURI() string { return s.redirect.URI }

// Port is the port of the redirect URI being served.
func (s *Server) Port() int { return s.redirect.Port }

// Addrs lists the local addresses the listener is bound to, e.g.
// "127.0.0.1:8765" and "[::1]:8765" for a localhost redirect URI, or the
// Listen address.
func (s *Server) Addrs() []string {
	out := make([]string, len(s.listeners))
	for i, ln := range s.listeners {
		out[i] = ln.Addr().String()
	}
	return out
}

// Wait blocks until a callback completes the login (a code, or an error
// response carrying the right state) or ctx ends. Either way the listener
// is closed and its port released when Wait returns; the connection that
// carried the callback finishes in the background (Close waits for it), so
// the code exchange does not wait for http.Server.Shutdown's idle polling.
func (s *Server) Wait(ctx context.Context) (Result, error) {
	defer s.startShutdown()
	select {
	case o := <-s.results:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// startShutdown closes the listeners at once, then shuts the server down in
// the background, giving connections half a second to finish before it
// cuts them (a connection that never sent a request would otherwise hold
// it).
func (s *Server) startShutdown() {
	s.shutdown.Do(func() {
		for _, ln := range s.listeners {
			ln.Close()
		}
		go func() {
			defer close(s.drained)
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := s.srv.Shutdown(ctx); err != nil {
				s.err = s.srv.Close()
			}
		}()
	})
}

// Close stops the listener and waits until every connection has finished
// or been cut. It is safe to call more than once, and after Wait.
func (s *Server) Close() error {
	s.startShutdown()
	<-s.drained
	return s.err
}

// ServeHTTP answers the redirect path only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	if !s.redirect.hostMatches(r.Host) {
		// A page on another origin that rebound its DNS name to 127.0.0.1.
		s.reject(w, http.StatusBadRequest, "unexpected Host header", "This request did not come to twauth's callback address.")
		return
	}
	if r.URL.EscapedPath() != s.redirect.Path {
		writePage(w, http.StatusNotFound, pageData{Title: "Not found", Heading: "Not found", Message: "twauth serves only its callback path here."})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writePage(w, http.StatusMethodNotAllowed, pageData{Title: "Method not allowed", Heading: "Method not allowed", Message: "The callback accepts GET only."})
		return
	}
	if len(r.URL.RawQuery) > MaxQuery {
		s.reject(w, http.StatusRequestURITooLong, "the query string is longer than 8 KB", "The callback's query string is too long.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.reject(w, http.StatusBadRequest, "the query string is malformed", "The callback's query string is malformed.")
		return
	}
	for _, k := range []string{"code", "state", "error", "error_description", "error_uri", "iss"} {
		if len(q[k]) > 1 {
			s.reject(w, http.StatusBadRequest, "parameter "+k+" is repeated", "The callback repeats a parameter.")
			return
		}
	}
	state := q.Get("state")
	if state == "" {
		s.reject(w, http.StatusBadRequest, "the callback has no state", "The callback has no state parameter.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(s.state)) != 1 {
		s.reject(w, http.StatusBadRequest, "the state does not match this login (a redirect from an older login, or a forged one)",
			"The state does not match this login. If you started a new login, finish it in its own tab.")
		return
	}
	if iss := q.Get("iss"); iss != "" && s.issuer != "" && iss != s.issuer {
		s.reject(w, http.StatusBadRequest, fmt.Sprintf("the issuer \"%s\" is not %q (RFC 9207 mix-up protection)", termtext.Clip(iss, maxShown), s.issuer),
			"The response came from an unexpected authorization server.")
		return
	}
	if e := q.Get("error"); e != "" {
		// An error wins over a code sent with it.
		aerr := &AuthorizationError{Code: termtext.Clip(e, maxCode), Description: termtext.Clip(q.Get("error_description"), maxShown)}
		s.finish(w, outcome{err: aerr}, http.StatusOK, pageData{
			Title: "Authorization failed", Heading: "Authorization failed",
			Message: "X did not authorize twauth. You can close this tab; the terminal says what to do next.",
			Detail:  aerr.Code + optional(": ", aerr.Description),
		})
		return
	}
	code := q.Get("code")
	if code == "" {
		s.reject(w, http.StatusBadRequest, "the callback has neither a code nor an error", "The callback has no code parameter.")
		return
	}
	s.finish(w, outcome{res: Result{Code: code, Iss: q.Get("iss")}}, http.StatusOK, pageData{
		Title: "Signed in", Heading: "You are signed in", OK: true,
		Message: "twauth has the authorization from X. You can close this tab and return to the terminal.",
	})
}

// finish answers the one callback that ends the login and hands its
// outcome to Wait. Any callback after it is told the login is over.
func (s *Server) finish(w http.ResponseWriter, o outcome, status int, p pageData) {
	first := false
	s.once.Do(func() { first = true })
	if !first {
		writePage(w, http.StatusGone, pageData{Title: "Login finished", Heading: "This login is already finished", Message: "You can close this tab."})
		return
	}
	// The whole page, with its length, is on the wire before Wait can
	// shut the listener down.
	w.Header().Set("Connection", "close")
	writePage(w, status, p)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.results <- o
}

func (s *Server) reject(w http.ResponseWriter, status int, reason, message string) {
	if s.onReject != nil {
		s.onReject(reason)
	}
	writePage(w, status, pageData{
		Title: "Callback refused", Heading: "This callback was not accepted",
		Message: message + " twauth is still waiting for the right one.",
	})
}

func optional(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

// Caps on text from the query shown in an error or a page: an error code,
// and anything else (an error_description, an issuer).
const (
	maxCode  = 100
	maxShown = 1000
)
