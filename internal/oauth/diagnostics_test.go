package oauth

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// xNotEnrolled is X's answer to an app that is not attached to a Project,
// or whose Project's plan gives it no API access.
const xNotEnrolled = `{"client_id":"12345","detail":"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.","registration_url":"https://developer.twitter.com/en/docs/projects/overview","title":"Client Forbidden","required_enrollment":"Appropriate Level of API Access","reason":"client-not-enrolled","type":"https://api.twitter.com/2/problems/client-forbidden"}`

const xNotEnrolledDetail = "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal."

func TestMeProblems(t *testing.T) {
	cases := []struct {
		name    string
		answer  http.HandlerFunc
		problem Problem
		want    string
	}{
		{"not enrolled", jsonAnswer(403, xNotEnrolled), ProblemNotEnrolled,
			"X refused to look up the user: HTTP 403 Forbidden (" + xNotEnrolledDetail + ")"},
		{"not enrolled by title", jsonAnswer(403, `{"title":"Client Forbidden","detail":"no"}`), ProblemNotEnrolled,
			"X refused to look up the user: HTTP 403 Forbidden (no)"},
		{"scope missing", jsonAnswer(403, `{"title":"Forbidden","type":"about:blank","status":403,"detail":"The access token lacks the scopes this endpoint needs: users.read."}`), ProblemForbidden,
			"X refused to look up the user: HTTP 403 Forbidden (The access token lacks the scopes this endpoint needs: users.read.)"},
		{"unauthorized", jsonAnswer(401, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`), ProblemTokenRejected,
			"X refused to look up the user: HTTP 401 Unauthorized (Unauthorized)"},
		{"rate limited", jsonAnswer(429, `{"title":"Too Many Requests","detail":"Too Many Requests"}`), ProblemRateLimited,
			"X refused to look up the user: HTTP 429 Too Many Requests (Too Many Requests)"},
		{"failing", jsonAnswer(503, `{"title":"Service Unavailable"}`), ProblemServerFailing,
			"X refused to look up the user: HTTP 503 Service Unavailable"},
		{"v1.1 not found", jsonAnswer(404, `{"errors":[{"message":"Sorry, that page does not exist","code":34}]}`), ProblemNotFound,
			"X refused to look up the user: HTTP 404 Not Found (Sorry, that page does not exist)"},
		{"teapot", jsonAnswer(418, `not json`), ProblemOther,
			"X refused to look up the user: HTTP 418 I'm a teapot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEndpoint(t, c.answer)
			_, err := newClient(e, "", nil).Me(context.Background(), "AT-12345678")
			var ae *APIError
			if !errors.As(err, &ae) || ae.Problem != c.problem || ae.Op != OpMe || err.Error() != c.want {
				t.Fatalf("Me = %v (%+v)\nwant %v, %s", err, ae, c.problem, c.want)
			}
			speaksForItself(t, err.Error())
		})
	}
	e := newEndpoint(t, jsonAnswer(403, xNotEnrolled))
	_, err := newClient(e, "", nil).Me(context.Background(), "AT-12345678")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Title != "Client Forbidden" || ae.Reason != "client-not-enrolled" {
		t.Fatalf("APIError = %+v", ae)
	}
}

// TestNotEnrolledAtTheTokenEndpoint: the same answer from a token endpoint
// is a ServerError with that Problem, and its detail is the reason shown.
func TestNotEnrolledAtTheTokenEndpoint(t *testing.T) {
	e := newEndpoint(t, jsonAnswer(403, xNotEnrolled))
	_, err := newClient(e, "", nil).Exchange(context.Background(), "CODE", "v", "http://127.0.0.1:8765/callback")
	var se *ServerError
	want := "X refused to exchange the authorization code: HTTP 403 Forbidden (" + xNotEnrolledDetail + ")"
	if !errors.As(err, &se) || se.Problem != ProblemNotEnrolled || err.Error() != want {
		t.Fatalf("Exchange = %v (%+v)\nwant %s", err, se, want)
	}
}

// TestProblemOf: the error code decides first, and what a refused code or
// refresh token means depends on the request; the status decides the rest.
func TestProblemOf(t *testing.T) {
	cases := []struct {
		op           Op
		status       int
		code         string
		confidential bool
		want         Problem
	}{
		{OpExchange, 401, "unauthorized_client", false, ProblemSecretMissing},
		{OpRefresh, 401, "invalid_client", true, ProblemSecretRejected},
		{OpRevoke, 401, "unauthorized_client", true, ProblemSecretRejected},
		{OpExchange, 400, "invalid_request", false, ProblemCodeRejected},
		{OpExchange, 400, "invalid_grant", false, ProblemCodeRejected},
		{OpRefresh, 400, "invalid_request", false, ProblemRefreshRejected},
		{OpRefresh, 400, "invalid_grant", true, ProblemRefreshRejected},
		{OpRevoke, 401, "invalid_request", false, ProblemOther},
		{OpRevoke, 503, "invalid_request", false, ProblemServerFailing},
		{OpRefresh, 400, "invalid_scope", false, ProblemScope},
		{OpExchange, 403, "access_denied", false, ProblemDenied},
		{OpRefresh, 429, "", false, ProblemRateLimited},
		{OpRefresh, 500, "", false, ProblemServerFailing},
		{OpExchange, 404, "", false, ProblemNotFound},
		{OpExchange, 400, "unsupported_grant_type", false, ProblemOther},
	}
	for _, c := range cases {
		if got := problemOf(c.op, c.status, c.code, c.confidential, errorBody{}); got != c.want {
			t.Errorf("problemOf(%v, %d, %q, %v) = %v, want %v", c.op, c.status, c.code, c.confidential, got, c.want)
		}
	}
	for o, want := range map[Op]string{OpExchange: "exchange the authorization code", OpRefresh: "refresh the token", OpRevoke: "revoke the token", OpMe: "look up the user", 0: "Op(0)"} {
		if o.String() != want {
			t.Errorf("Op %d = %q, want %q", int(o), o, want)
		}
	}
	if ProblemNotEnrolled.String() != "not-enrolled" || Problem(99).String() != "Problem(99)" {
		t.Error("Problem.String")
	}
}
