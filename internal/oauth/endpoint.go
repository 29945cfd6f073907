package oauth

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/twauth/twauth/internal/termtext"
)

// EndpointError is an endpoint URL twauth will not send to.
type EndpointError struct {
	// Name says which endpoint, as the caller named it ("token URL").
	Name string
	URL  string
	// Reason says what is wrong with it.
	Reason string
}

func (e *EndpointError) Error() string {
	return fmt.Sprintf("%s %s %s", e.Name, termtext.Safe(e.URL), e.Reason)
}

// CheckEndpoint returns a *EndpointError unless rawURL is an absolute https
// URL, or an http URL of this machine (127.0.0.0/8, ::1, localhost): over
// plain http the client secret, codes and tokens would cross the network in
// the clear, which RFC 6749 sections 3.1 and 3.2 forbid. name says which
// endpoint it is, for the message. The Client checks its endpoints with it
// before every request.
func CheckEndpoint(name, rawURL string) error {
	fail := func(why string) error { return &EndpointError{Name: name, URL: rawURL, Reason: why} }
	u, err := url.Parse(rawURL)
	if err != nil {
		return fail("is not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if u.Host != "" && !isLoopbackHost(u.Hostname()) {
			return fail("is plain http to another machine, which would send credentials and tokens in the clear: use https (http is only for 127.0.0.1, ::1 or localhost)")
		}
	default:
		return fail("is not an http(s) URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return fail("has no host")
	}
	return nil
}

// isLoopbackHost reports whether host names this machine: localhost, or a
// loopback IP address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
