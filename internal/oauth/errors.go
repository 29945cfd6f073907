package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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

	"github.com/twauth/twauth/internal/termtext"
)

// Op is what a request to X was for.
type Op int

// The requests twauth makes.
const (
	OpExchange Op = iota + 1 // the authorization code exchange (RFC 6749 section 4.1.3)
	OpRefresh                // a refresh (RFC 6749 section 6)
	OpRevoke                 // a revocation (RFC 7009)
	OpMe                     // GET /2/users/me
)

// String says what the request was for, as error messages put it ("X
// refused to exchange the authorization code").
func (o Op) String() string {
	switch o {
	case OpExchange:
		return "exchange the authorization code"
	case OpRefresh:
		return "refresh the token"
	case OpRevoke:
		return "revoke the token"
	case OpMe:
		return "look up the user"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Problem is what an error answer from X means for the user, as far as the
// answer tells: the command line picks its exit code and its advice from it.
type Problem int

// The problems X's answers reveal.
const (
	// ProblemOther is an answer that says nothing more specific.
	ProblemOther Problem = iota
	// ProblemSecretRejected: X refused the client authentication
	// (unauthorized_client, invalid_client) although a client secret was
	// sent: the secret is wrong, or the app is a public client that must
	// send none.
	ProblemSecretRejected
	// ProblemSecretMissing: X refused the client authentication and no
	// secret was sent: the app is a confidential client (X says "Missing
	// valid authorization header").
	ProblemSecretMissing
	// ProblemCodeRejected: X refused the authorization code or the
	// verifier (invalid_request, invalid_grant; X says "Value passed for
	// the token was invalid."): the code expired (X gives 30 s), was used
	// already, or the redirect URI differs from the one the code was issued
	// for.
	ProblemCodeRejected
	// ProblemRefreshRejected: X refused the refresh token (invalid_request,
	// invalid_grant): used already (X rotates it), revoked, or another
	// app's. The chain is dead; Rejected reports it too.
	ProblemRefreshRejected
	// ProblemScope: invalid_scope.
	ProblemScope
	// ProblemDenied: access_denied.
	ProblemDenied
	// ProblemRateLimited: HTTP 429.
	ProblemRateLimited
	// ProblemServerFailing: HTTP 5xx from X or a proxy.
	ProblemServerFailing
	// ProblemNotFound: HTTP 404, most likely a wrong endpoint URL.
	ProblemNotFound
	// ProblemNotEnrolled: X's "client-not-enrolled" ("Client Forbidden"):
	// the app is not attached to a Project, or the Project's plan gives it
	// no access to the API (X requires a paid or pay-per-use plan).
	ProblemNotEnrolled
	// ProblemTokenRejected: the API refused the access token (HTTP 401):
	// expired, revoked or not valid.
	ProblemTokenRejected
	// ProblemForbidden: the API refused the request (HTTP 403): the token
	// lacks a scope, or the app lacks access to the endpoint.
	ProblemForbidden
)

var problemNames = [...]string{
	ProblemOther:           "other",
	ProblemSecretRejected:  "secret-rejected",
	ProblemSecretMissing:   "secret-missing",
	ProblemCodeRejected:    "code-rejected",
	ProblemRefreshRejected: "refresh-rejected",
	ProblemScope:           "scope",
	ProblemDenied:          "denied",
	ProblemRateLimited:     "rate-limited",
	ProblemServerFailing:   "server-failing",
	ProblemNotFound:        "not-found",
	ProblemNotEnrolled:     "not-enrolled",
	ProblemTokenRejected:   "token-rejected",
	ProblemForbidden:       "forbidden",
}

// String names p in a word or two, for logs and test failures.
func (p Problem) String() string {
	if p >= 0 && int(p) < len(problemNames) {
		return problemNames[p]
	}
	return "Problem(" + strconv.Itoa(int(p)) + ")"
}

// Caps on text from a server in an error: the reason is kept whole up to
// maxDescription characters (servers often put the specific reason last),
// an error code up to maxCode.
const (
	maxDescription = 1000
	maxCode        = 100
)

// ServerError is an error answer from X's OAuth endpoints: an OAuth error
// JSON (RFC 6749 section 5.2) or any non-2xx status. Its text fields are
// safe to print (termtext.Safe) and hold none of the secrets the request
// carried.
type ServerError struct {
	Op          Op
	Status      int
	Code        string // the OAuth "error" field; empty when the answer was not OAuth JSON
	Description string // "error_description", up to 1000 characters
	MIMEType    string
	RetryAfter  time.Duration // from a Retry-After header; 0 when absent
	// Problem is what the answer means; see the Problem constants.
	Problem Problem
	// RedirectURI is, for OpExchange, the redirect URI the exchange sent:
	// X matches it exactly against the app's registered callback URIs and
	// the one the code was issued for.
	RedirectURI string
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
		if e.Description != "" {
			fmt.Fprintf(&b, " (%s)", e.Description)
		}
	}
	return b.String()
}

// Rejected reports whether X refused the token or code itself (as opposed
// to failing): for a refresh this means the refresh token is dead.
func (e *ServerError) Rejected() bool {
	return e.Code == "invalid_request" || e.Code == "invalid_grant"
}

// problemOf reads what an OAuth error answer means. The error code wins;
// the status decides when the code says nothing about the request.
func problemOf(op Op, status int, code string, confidential bool, b errorBody) Problem {
	switch code {
	case "unauthorized_client", "invalid_client":
		if confidential {
			return ProblemSecretRejected
		}
		return ProblemSecretMissing
	case "invalid_request", "invalid_grant":
		switch op {
		case OpExchange:
			return ProblemCodeRejected
		case OpRefresh:
			return ProblemRefreshRejected
		}
	case "invalid_scope":
		return ProblemScope
	case "access_denied":
		return ProblemDenied
	}
	return problemOfStatus(status, b)
}

func problemOfStatus(status int, b errorBody) Problem {
	switch {
	case b.notEnrolled():
		return ProblemNotEnrolled
	case status == http.StatusTooManyRequests:
		return ProblemRateLimited
	case status >= 500:
		return ProblemServerFailing
	case status == http.StatusNotFound:
		return ProblemNotFound
	}
	return ProblemOther
}

// errorBody holds the fields of the error answers X sends: OAuth's (RFC
// 6749 section 5.2), API v2's problem JSON (RFC 7807 plus X's "reason"),
// and API v1.1's {"errors":[{"message"}]}.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Title            string `json:"title"`
	Detail           string `json:"detail"`
	Reason           string `json:"reason"`
	Errors           []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

func parseErrorBody(body []byte) errorBody {
	var b errorBody
	_ = json.Unmarshal(body, &b)
	return b
}

// notEnrolled reports X's answer for an app that is not attached to a
// Project or whose plan gives it no API access:
// {"title":"Client Forbidden","reason":"client-not-enrolled",...}.
func (b errorBody) notEnrolled() bool {
	return b.Reason == "client-not-enrolled" || b.Title == "Client Forbidden"
}

// detail is the most specific human text of a non-OAuth error answer.
func (b errorBody) detail() string {
	switch {
	case b.Detail != "":
		return b.Detail
	case len(b.Errors) > 0:
		return b.Errors[0].Message
	}
	return ""
}

// ResponseError is a 2xx answer that is not a usable token response, or an
// answer too large to read.
type ResponseError struct {
	Op     Op
	Status int
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("X's answer to the request to %s is unusable (HTTP %d): %s; nothing was saved", e.Op, e.Status, e.Reason)
}

// NetworkError is a request that got no answer and may be sent again: a
// token request that never reached the wire, or an idempotent API call.
type NetworkError struct {
	Op   Op
	Host string
	Err  error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("could not %s: %s", e.Op, describeNetErr(e.Host, e.Err))
}

func (e *NetworkError) Unwrap() error { return e.Err }

// TimedOut reports whether the request ran out of time (the HTTP client's
// timeout or the context's deadline); the message then ends with "in time".
func (e *NetworkError) TimedOut() bool { return timedOut(e.Err) }

// LostResponseError is a refresh (or code exchange) that was sent to X but
// whose answer never arrived: X may have acted on it, and for a refresh the
// rotated refresh token would then be lost. It is never retried.
type LostResponseError struct {
	Op   Op
	Host string
	Err  error
}

func (e *LostResponseError) Error() string {
	what := "X may already have used the refresh token and issued a new one that never arrived"
	if e.Op == OpExchange {
		what = "X may have used the code"
	}
	// The reason comes last, so that advice about it can follow it.
	return fmt.Sprintf("the request to %s was sent and no answer came back, so %s: %s", e.Op, what, describeNetErr(e.Host, e.Err))
}

func (e *LostResponseError) Unwrap() error { return e.Err }

// TimedOut reports whether the answer did not come in time; the message
// then ends with "in time".
func (e *LostResponseError) TimedOut() bool { return timedOut(e.Err) }

// LoginNeededError means no usable token or refresh token is held: only a
// new login helps.
type LoginNeededError struct{ Reason string }

func (e *LoginNeededError) Error() string { return e.Reason }

// tokenError turns what golang.org/x/oauth2 returned into one of the errors
// above. It never includes the answer's body: an HTML page from a proxy is
// useless on a terminal and a token endpoint's body may hold secrets.
func (c *Client) tokenError(op Op, a *attempt, redirectURI string, err error) error {
	host := hostOf(c.orDefault(c.TokenURL, DefaultTokenURL))
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		se := c.serverError(op, a, re.Response, re.ErrorCode, re.ErrorDescription, parseErrorBody(re.Body))
		if op == OpExchange {
			se.RedirectURI = redirectURI
		}
		return se
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
			reason = fmt.Sprintf("the answer is %s, not JSON", termtext.Clip(a.mimeType, maxCode))
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

// serverError builds the ServerError of an error answer. Text from the
// server is scrubbed of the request's secrets, then made safe to print.
func (c *Client) serverError(op Op, a *attempt, resp *http.Response, code, desc string, b errorBody) *ServerError {
	e := &ServerError{
		Op:          op,
		Code:        termtext.Clip(a.scrub(code), maxCode),
		Description: termtext.Clip(a.scrub(desc), maxDescription),
	}
	if resp != nil {
		e.Status = resp.StatusCode
		e.MIMEType = termtext.Clip(mimeType(resp.Header.Get("Content-Type")), maxCode)
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	if code == "" && b.notEnrolled() {
		// Problem JSON, not OAuth: its detail is the reason.
		e.Description = termtext.Clip(a.scrub(b.detail()), maxDescription)
	}
	e.Problem = problemOf(op, e.Status, code, c.Confidential(), b)
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
	case timedOut(err):
		return fmt.Sprintf("no answer from %s in time", host)
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
	return fmt.Sprintf("request to %s failed: %s", host, termtext.Safe(err.Error()))
}

func timedOut(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
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
		return "the certificate is not valid for this host: " + termtext.Safe(hostnameErr.Error())
	case errors.As(err, &invalidCert):
		return "the certificate is invalid: " + termtext.Safe(invalidCert.Error())
	case errors.As(err, &verifyErr):
		return termtext.Safe(verifyErr.Err.Error())
	}
	return termtext.Safe(err.Error())
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
