package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/twauth/twauth/internal/termtext"
)

// Revoke revokes token at X (RFC 7009) with the given token_type_hint
// ("access_token", "refresh_token" or ""). X answers 200 for a token it
// already considers invalid, and so does Revoke: alreadyInvalid reports an
// "invalid token" answer that was taken as success. Transient failures are
// retried like a refresh: revoking twice is harmless. The revoke URL must
// pass CheckEndpoint.
func (c *Client) Revoke(ctx context.Context, token, hint string) (alreadyInvalid bool, err error) {
	endpoint := c.orDefault(c.RevokeURL, DefaultRevokeURL)
	if err := CheckEndpoint("revoke URL", endpoint); err != nil {
		return false, err
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if !c.Confidential() {
		form.Set("client_id", c.ClientID)
	}
	policy := c.Retry.withDefaults()
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return false, &EndpointError{Name: "revoke URL", URL: endpoint, Reason: "is not a URL"}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.Confidential() {
			// RFC 6749 section 2.3.1: both parts form-encoded first.
			req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
		}
		a := &attempt{secrets: c.sent(token)}
		resp, body, err := a.do(c.httpClient(), req)
		if err == nil && resp.StatusCode/100 == 2 {
			return false, nil
		}
		if err != nil {
			err = c.apiError(OpRevoke, a, endpoint, err)
		} else {
			b := parseErrorBody(body)
			oerr := c.serverError(OpRevoke, a, resp, b.Error, b.ErrorDescription, b)
			// X: "Value passed for the token was invalid." The token is
			// dead already, which is what revoking wanted.
			if resp.StatusCode == http.StatusBadRequest && (b.Error == "invalid_request" || b.Error == "invalid_token" || b.Error == "invalid_grant") {
				return true, nil
			}
			err = oerr
		}
		wait, ok := policy.retryAfter(try, err)
		if !ok {
			return false, err
		}
		if serr := policy.sleep(ctx, wait); serr != nil {
			return false, serr
		}
	}
}

// User is the account a token acts for, from GET /2/users/me. Its fields
// are safe to print (termtext.Safe).
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

// APIError is a non-2xx answer from X's API (not its OAuth endpoints). Its
// text fields are safe to print and hold no secret the request carried.
type APIError struct {
	Op     Op
	Status int
	// Detail is the answer's "detail" (problem JSON) or first
	// errors[].message, up to 1000 characters.
	Detail string
	// Title and Reason are the problem JSON's "title" and X's "reason"
	// (e.g. "Client Forbidden", "client-not-enrolled").
	Title, Reason string
	// Problem is what the answer means: ProblemTokenRejected (401),
	// ProblemNotEnrolled, ProblemForbidden (another 403),
	// ProblemRateLimited, ProblemServerFailing, ProblemNotFound or
	// ProblemOther.
	Problem Problem
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("X refused to %s: HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Me returns the user that accessToken acts for (GET /2/users/me). It needs
// the users.read and tweet.read scopes. The API URL must pass
// CheckEndpoint.
func (c *Client) Me(ctx context.Context, accessToken string) (*User, error) {
	base := c.orDefault(c.APIURL, DefaultAPIURL)
	if err := CheckEndpoint("API URL", base); err != nil {
		return nil, err
	}
	endpoint := strings.TrimRight(base, "/") + "/2/users/me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, &EndpointError{Name: "API URL", URL: base, Reason: "is not a URL"}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	a := &attempt{secrets: c.sent(accessToken)}
	resp, body, err := a.do(c.httpClient(), req)
	if err != nil {
		return nil, c.apiError(OpMe, a, endpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		b := parseErrorBody(body)
		e := &APIError{
			Op:     OpMe,
			Status: resp.StatusCode,
			Detail: termtext.Clip(a.scrub(b.detail()), maxDescription),
			Title:  termtext.Clip(a.scrub(b.Title), maxCode),
			Reason: termtext.Clip(a.scrub(b.Reason), maxCode),
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			e.Problem = ProblemTokenRejected
		case b.notEnrolled():
			e.Problem = ProblemNotEnrolled
		case resp.StatusCode == http.StatusForbidden:
			e.Problem = ProblemForbidden
		default:
			e.Problem = problemOfStatus(resp.StatusCode, b)
		}
		return nil, e
	}
	var out struct {
		Data *User `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data == nil || out.Data.Username == "" {
		return nil, &ResponseError{Op: OpMe, Status: resp.StatusCode, Reason: "the answer has no data.username"}
	}
	u := out.Data
	return &User{ID: termtext.Safe(u.ID), Name: termtext.Safe(u.Name), Username: termtext.Safe(u.Username)}, nil
}

// do sends req through a recording client and reads the answer.
func (a *attempt) do(base *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := a.client(base).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// apiError classifies a failed revoke or users/me request. Both are
// idempotent, so a request lost after it was sent is as retryable as one
// that never left.
func (c *Client) apiError(op Op, a *attempt, endpoint string, err error) error {
	switch {
	case errors.Is(err, errTooLarge):
		return &ResponseError{Op: op, Status: a.status, Reason: "the answer is larger than 1 MB"}
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return &NetworkError{Op: op, Host: hostOf(endpoint), Err: err}
}
