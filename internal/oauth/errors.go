package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// What a request was for, as error messages say it.
const (
	opExchange = "exchange the authorization code"
	opRefresh  = "refresh the token"
	opRevoke   = "revoke the token"
	opMe       = "look up the user"
)

// Exit codes (DESIGN.md): the errors of this package carry theirs.
const (
	exitFailure     = 1
	exitConfig      = 2
	exitAuth        = 3
	exitLoginNeeded = 4
)

// ServerError is an error answer from X: an OAuth error JSON (RFC 6749
// section 5.2) or any non-2xx status.
type ServerError struct {
	Op          string
	Status      int
	Code        string // the OAuth "error" field; empty when the answer was not OAuth JSON
	Description string // "error_description", clipped and stripped of control characters
	MIMEType    string
	RetryAfter  time.Duration // from a Retry-After header; 0 when absent
	// Confidential records whether a client secret was sent, to pick the hint.
	Confidential bool
}

func (e *ServerError) Error() string {
	var b strings.Builder
	if e.Code == "" && (e.Status >= 500 || e.Status == http.StatusTooManyRequests) {
		// Not a refusal: X (or a proxy) failed, or asks to slow down.
		fmt.Fprintf(&b, "X could not %s", e.Op)
	} else {
		fmt.Fprintf(&b, "X refused to %s", e.Op)
	}
	switch {
	case e.Code != "" && e.Description != "":
		fmt.Fprintf(&b, ": %s (%s)", e.Code, e.Description)
	case e.Code != "":
		fmt.Fprintf(&b, ": %s", e.Code)
	default:
		fmt.Fprintf(&b, ": HTTP %d %s", e.Status, http.StatusText(e.Status))
		if e.MIMEType != "" && e.MIMEType != "application/json" {
			fmt.Fprintf(&b, " with a %s page instead of an OAuth answer", e.MIMEType)
		}
	}
	if h := e.Hint(); h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

// Hint is what the user can do about e.
func (e *ServerError) Hint() string {
	switch e.Code {
	case "unauthorized_client", "invalid_client":
		if e.Confidential {
			return "X did not accept the client secret: copy the app's OAuth 2.0 Client Secret again from the X developer portal (Keys and tokens); if the app is a public client (type Native App), send no secret at all (no --client-secret, TWAUTH_CLIENT_SECRET or clientSecret)"
		}
		return "this app is a confidential client: set its client secret (TWAUTH_CLIENT_SECRET or clientSecret in Config.toml)"
	case "invalid_request", "invalid_grant":
		switch e.Op {
		case opExchange:
			return "the code expired (X gives 30 s) or was already used, or the redirect URI differs from the one registered: run twauth login again"
		case opRefresh:
			return "the refresh token was already used (X rotates it on every refresh), revoked, or belongs to another app: run twauth login"
		}
	case "invalid_scope":
		return "ask only for scopes the app may use (--scopes); X's documented scopes are listed in `twauth login --help`"
	case "access_denied":
		return "the app or the account is not allowed to do this"
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		return "X is rate limiting this app: wait a few minutes and try again"
	case e.Status >= 500:
		return "X or a proxy in between is failing: try again later"
	case e.Status == http.StatusNotFound:
		return "check the endpoint URL (--token-url, --revoke-url, --api-url)"
	}
	return ""
}

// ExitCode is the process exit code for e (DESIGN.md, "Exit codes").
func (e *ServerError) ExitCode() int {
	switch e.Code {
	case "unauthorized_client", "invalid_client":
		return exitConfig
	case "invalid_request", "invalid_grant", "access_denied", "invalid_scope":
		switch e.Op {
		case opExchange:
			return exitAuth
		case opRefresh:
			return exitLoginNeeded
		}
	}
	return exitFailure
}

// Rejected reports whether X refused the token or code itself (as opposed
// to failing): for a refresh this means the refresh token is dead.
func (e *ServerError) Rejected() bool {
	return e.Code == "invalid_request" || e.Code == "invalid_grant"
}

// ResponseError is a 2xx answer that is not a usable token response.
type ResponseError struct {
	Op     string
	Status int
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("X's answer to the request to %s is unusable (HTTP %d): %s; nothing was saved", e.Op, e.Status, e.Reason)
}

// ExitCode is 1: the server misbehaved.
func (e *ResponseError) ExitCode() int { return exitFailure }

// NetworkError is a request that got no answer and may be sent again: a
// token request that never reached the wire, or an idempotent API call.
type NetworkError struct {
	Op   string
	Host string
	Err  error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("could not %s: %s", e.Op, describeNetErr(e.Host, e.Err))
}

func (e *NetworkError) Unwrap() error { return e.Err }

// ExitCode is 1.
func (e *NetworkError) ExitCode() int { return exitFailure }

// LostResponseError is a refresh (or code exchange) that was sent to X but
// whose answer never arrived: X may have acted on it, and for a refresh the
// rotated refresh token would then be lost.
type LostResponseError struct {
	Op   string
	Host string
	Err  error
}

func (e *LostResponseError) Error() string {
	reason := describeNetErr(e.Host, e.Err)
	if e.Op == opExchange {
		return fmt.Sprintf("the request to %s was sent but no answer came back (%s): X may have used the code; run twauth login again", e.Op, reason)
	}
	return fmt.Sprintf("the request to %s was sent but no answer came back (%s): X may already have used the refresh token and issued a new one that never arrived; run twauth refresh once more, and if it exits 4, run twauth login", e.Op, reason)
}

func (e *LostResponseError) Unwrap() error { return e.Err }

// ExitCode is 1.
func (e *LostResponseError) ExitCode() int { return exitFailure }

// LoginNeededError means no usable token or refresh token is held.
type LoginNeededError struct{ Reason string }

func (e *LoginNeededError) Error() string { return e.Reason + ": run twauth login" }

// ExitCode is 4.
func (e *LoginNeededError) ExitCode() int { return exitLoginNeeded }

// tokenError turns what golang.org/x/oauth2 returned into one of the errors
// above. It never includes the answer's body: an HTML page from a proxy is
// useless on a terminal and a token endpoint's body may hold secrets.
func (c *Client) tokenError(op string, a *attempt, err error) error {
	host := hostOf(c.orDefault(c.TokenURL, DefaultTokenURL))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return c.serverError(op, a, re.Response, re.ErrorCode, re.ErrorDescription)
	}
	if errors.Is(err, errTooLarge) {
		return &ResponseError{Op: op, Status: a.status, Reason: "the answer is larger than 1 MB"}
	}
	if a.status != 0 {
		// An answer came but golang.org/x/oauth2 could not read a token
		// from it: not JSON, or no access_token.
		reason := "the answer is not a token response"
		if strings.Contains(err.Error(), "missing access_token") {
			reason = "the answer has no access_token"
		} else if a.mimeType != "" && a.mimeType != "application/json" {
			reason = fmt.Sprintf("the answer is %s, not JSON", a.mimeType)
		}
		return &ResponseError{Op: op, Status: a.status, Reason: reason}
	}
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	if a.wrote.Load() {
		return &LostResponseError{Op: op, Host: host, Err: err}
	}
	return &NetworkError{Op: op, Host: host, Err: err}
}

func (c *Client) serverError(op string, a *attempt, resp *http.Response, code, desc string) *ServerError {
	e := &ServerError{
		Op:           op,
		Code:         clip(a.scrub(code), 60),
		Description:  clip(a.scrub(desc), 200),
		Confidential: c.Confidential(),
	}
	if resp != nil {
		e.Status = resp.StatusCode
		e.MIMEType = mimeType(resp.Header.Get("Content-Type"))
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

func mimeType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 section 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Host
}

// describeNetErr says in a few words why a request got no answer: the
// timeout, the TLS failure with its reason, or the connection error.
func describeNetErr(host string, err error) string {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		dnsErr      *net.DNSError
		opErr       *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer from %s in time (raise --http-timeout if the network is slow)", host)
	case errors.As(err, &unknownCA), errors.As(err, &hostnameErr), errors.As(err, &invalidCert), errors.As(err, &verifyErr):
		return fmt.Sprintf("TLS with %s failed: %s", host, tlsReason(err))
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("TLS with %s failed: the server did not answer with TLS (is the URL http rather than https?)", host)
	case errors.As(err, &alertErr):
		return fmt.Sprintf("TLS with %s failed: the server sent alert %q", host, alertErr.Error())
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %s", host, dnsErr.Err)
	case errors.As(err, &opErr):
		return fmt.Sprintf("cannot reach %s: %s", host, opErrReason(opErr))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprintf("request to %s failed: %v", host, err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func tlsReason(err error) string {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA):
		return "the certificate is signed by an unknown authority (a TLS-intercepting proxy? set SSL_CERT_FILE to its CA)"
	case errors.As(err, &hostnameErr):
		return "the certificate is not valid for this host: " + hostnameErr.Error()
	case errors.As(err, &invalidCert):
		return "the certificate is invalid: " + invalidCert.Error()
	case errors.As(err, &verifyErr):
		return verifyErr.Err.Error()
	}
	return err.Error()
}

func opErrReason(e *net.OpError) string {
	if e.Err == nil {
		return e.Error()
	}
	var se interface{ Unwrap() error }
	inner := e.Err
	if errors.As(inner, &se) {
		if u := se.Unwrap(); u != nil {
			inner = u
		}
	}
	return inner.Error()
}
