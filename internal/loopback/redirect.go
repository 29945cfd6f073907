// Package loopback runs the short-lived HTTP listener on 127.0.0.1 (or ::1)
// that receives the authorization response when X redirects the browser
// back to twauth (RFC 8252 section 7.3).
package loopback

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/twauth/twauth/internal/termtext"
)

// RedirectURIError is a redirect URI the listener cannot serve: a
// configuration error.
type RedirectURIError struct {
	URI string
	// Problem is what is wrong with it.
	Problem RedirectProblem
	// Reason says so in words.
	Reason string
}

func (e *RedirectURIError) Error() string {
	return fmt.Sprintf("redirect URI %q cannot be served by twauth's listener: %s", e.URI, e.Reason)
}

// RedirectProblem is what is wrong with a redirect URI.
type RedirectProblem int

// The problems ParseRedirect finds.
const (
	RedirectNotURL      RedirectProblem = iota + 1 // not a URL
	RedirectHTTPS                                  // https: a local listener has no certificate
	RedirectNotHTTP                                // another scheme
	RedirectUserInfo                               // user information in it
	RedirectFragment                               // a fragment, which browsers do not send
	RedirectNoHost                                 // no host
	RedirectNotLoopback                            // a host other than 127.0.0.0/8, ::1 or localhost
	RedirectBadPort                                // a port outside 1 to 65535
	RedirectEmptyPort                              // a colon with no port after it
)

// Redirect is a parsed loopback redirect URI.
type Redirect struct {
	URI  string // as given; it goes to X byte for byte
	Host string // as written, lower-cased: "127.0.0.1", "::1" or "localhost"
	Port int
	Path string
}

// ParseRedirect checks that uri is something a local listener can receive:
// http (X registers callbacks exactly, and a listener has no certificate),
// a loopback host (127.0.0.0/8, ::1 or localhost), a fixed port, no
// fragment.
func ParseRedirect(uri string) (Redirect, error) {
	fail := func(p RedirectProblem, why string) (Redirect, error) {
		return Redirect{}, &RedirectURIError{URI: uri, Problem: p, Reason: why}
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fail(RedirectNotURL, "it is not a URL")
	}
	switch {
	case u.Scheme == "https":
		return fail(RedirectHTTPS, "it is https, and a local listener has no certificate")
	case u.Scheme != "http":
		return fail(RedirectNotHTTP, "it is not an http URL")
	case u.User != nil:
		return fail(RedirectUserInfo, "it carries user information")
	case u.Fragment != "" || strings.Contains(uri, "#"):
		return fail(RedirectFragment, "it has a fragment, which browsers do not send")
	case u.Opaque != "" || u.Host == "":
		return fail(RedirectNoHost, "it has no host")
	}
	host := strings.ToLower(u.Hostname())
	if !isLoopback(host) {
		return fail(RedirectNotLoopback, fmt.Sprintf("%s is not a loopback address; the listener binds only 127.0.0.1, ::1 or localhost", termtext.Safe(host)))
	}
	port := 80
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail(RedirectBadPort, "its port is not between 1 and 65535")
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return fail(RedirectEmptyPort, "its port is empty")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return Redirect{URI: uri, Host: host, Port: port, Path: path}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bindAddrs lists the addresses to listen on for r: localhost means both
// 127.0.0.1 and ::1, as a browser may try either.
func (r Redirect) bindAddrs() []string {
	port := strconv.Itoa(r.Port)
	if r.Host == "localhost" {
		return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
	}
	return []string{net.JoinHostPort(r.Host, port)}
}

// hostMatches reports whether an HTTP Host header names this redirect's
// host and port, which a request from a DNS-rebinding page does not.
func (r Redirect) hostMatches(hostHeader string) bool {
	h, p, err := net.SplitHostPort(hostHeader)
	if err != nil {
		// No port: the default one.
		h, p = strings.Trim(hostHeader, "[]"), "80"
	}
	return strings.EqualFold(h, r.Host) && p == strconv.Itoa(r.Port)
}
