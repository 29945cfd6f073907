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
)

// Revoke revokes token at X (RFC 7009) with the given token_type_hint
// ("access_token", "refresh_token" or ""). X answers 200 for a token it
// already considers invalid, and so does Revoke: alreadyInvalid reports an
// "invalid token" answer that was taken as success. Transient failures are
// retried like a refresh: revoking twice is harmless.
func (c *Client) Revoke(ctx context.Context, token, hint string) (alreadyInvalid bool, err error) {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if !c.Confidential() {
		form.Set("client_id", c.ClientID)
	}
	endpoint := c.orDefault(c.RevokeURL, DefaultRevokeURL)
	policy := c.Retry.withDefaults()
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return false, fmt.Errorf("revoke URL %q: %w", endpoint, err)
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
			err = c.apiError(opRevoke, a, endpoint, err)
		} else {
			var e struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			_ = json.Unmarshal(body, &e)
			oerr := c.serverError(opRevoke, a, resp, e.Error, e.ErrorDescription)
			// X: "Value passed for the token was invalid." The token is
			// dead already, which is what revoking wanted.
			if resp.StatusCode == http.StatusBadRequest && (oerr.Code == "invalid_request" || oerr.Code == "invalid_token" || oerr.Code == "invalid_grant") {
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

// User is the account a token acts for, from GET /2/users/me.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

// APIError is a non-2xx answer from X's API (not its OAuth endpoints).
type APIError struct {
	Op     string
	Status int
	Detail string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("X refused to %s: HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	switch e.Status {
	case http.StatusUnauthorized:
		s += ": the access token is expired, revoked or not valid; run twauth refresh or twauth login"
	case http.StatusForbidden:
		s += ": the token lacks the users.read and tweet.read scopes, or the app lacks access to this endpoint"
	}
	return s
}

// ExitCode: a token X does not accept means a login is needed.
func (e *APIError) ExitCode() int {
	if e.Status == http.StatusUnauthorized {
		return exitLoginNeeded
	}
	return exitFailure
}

// Me returns the user that accessToken acts for (GET /2/users/me). It needs
// the users.read and tweet.read scopes.
func (c *Client) Me(ctx context.Context, accessToken string) (*User, error) {
	endpoint := strings.TrimRight(c.orDefault(c.APIURL, DefaultAPIURL), "/") + "/2/users/me"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("API URL %q: %w", endpoint, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	a := &attempt{secrets: c.sent(accessToken)}
	resp, body, err := a.do(c.httpClient(), req)
	if err != nil {
		return nil, c.apiError(opMe, a, endpoint, err)
	}
	var out struct {
		Data   *User  `json:"data"`
		Detail string `json:"detail"`
	}
	jerr := json.Unmarshal(body, &out)
	if resp.StatusCode/100 != 2 {
		return nil, &APIError{Op: opMe, Status: resp.StatusCode, Detail: clip(a.scrub(out.Detail), 120)}
	}
	if jerr != nil || out.Data == nil || out.Data.Username == "" {
		return nil, &ResponseError{Op: opMe, Status: resp.StatusCode, Reason: "the answer has no data.username"}
	}
	return out.Data, nil
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
func (c *Client) apiError(op string, a *attempt, endpoint string, err error) error {
	switch {
	case errors.Is(err, errTooLarge):
		return &ResponseError{Op: op, Status: a.status, Reason: "the answer is larger than 1 MB"}
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return &NetworkError{Op: op, Host: hostOf(endpoint), Err: err}
}
