package xtest

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

const (
	adaMe = `{"data":{"id":"42","name":"Ada L","username":"ada"}}`
	bobMe = `{"data":{"id":"43","name":"Bob B","username":"bob"}}`
)

// Each token answers /2/users/me with the user who approved its grant,
// through every rotation, whoever is logged in to the browser now.
func TestSetUserTokensKeepTheirUser(t *testing.T) {
	s := start(t, Options{Username: "ada", Name: "Ada L", UserID: "42"})
	if u := s.CurrentUser(); u != (User{ID: "42", Name: "Ada L", Username: "ada"}) {
		t.Fatalf("CurrentUser = %+v", u)
	}
	ada := login(t, s, defaultScope)
	s.SetUser("bob", "Bob B", "43")
	if u := s.CurrentUser(); u != (User{ID: "43", Name: "Bob B", Username: "bob"}) {
		t.Fatalf("CurrentUser after SetUser = %+v", u)
	}
	bob := login(t, s, defaultScope)

	wantBody(t, usersMe(t, s, ada.AccessToken), 200, adaMe)
	wantBody(t, usersMe(t, s, bob.AccessToken), 200, bobMe)

	// Three rotations of each chain, interleaved, with the other user
	// logged in: every new pair keeps its chain's user.
	chains := []struct {
		rt, me string
		want   User
	}{
		{ada.RefreshToken, adaMe, User{"42", "Ada L", "ada"}},
		{bob.RefreshToken, bobMe, User{"43", "Bob B", "bob"}},
	}
	for round := range 3 {
		if round%2 == 0 {
			s.SetUser("ada", "Ada L", "42")
		} else {
			s.SetUser("bob", "Bob B", "43")
		}
		for i := range chains {
			c := &chains[i]
			old := c.rt
			tj := decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, old), "", ""))
			wantBody(t, usersMe(t, s, tj.AccessToken), 200, c.me)
			for _, v := range []string{old, tj.AccessToken, tj.RefreshToken} {
				if u, ok := s.UserOf(v); !ok || u != c.want {
					t.Fatalf("round %d: UserOf = %+v %v, want %+v", round, u, ok, c.want)
				}
			}
			c.rt = tj.RefreshToken
		}
	}
	// The first access tokens still answer for their own users.
	wantBody(t, usersMe(t, s, ada.AccessToken), 200, adaMe)
	wantBody(t, usersMe(t, s, bob.AccessToken), 200, bobMe)

	if u, ok := s.UserOf("never-issued"); ok || u != (User{}) {
		t.Fatalf("UserOf an unknown value = %+v %v", u, ok)
	}
}

// The code belongs to whoever is logged in when it is issued: for a
// consent page, when "Authorize app" is pressed, not when the page was
// shown; a code issued before SetUser keeps its user.
func TestSetUserApprovalDecides(t *testing.T) {
	s := start(t, Options{Username: "ada", Name: "Ada L", UserID: "42"})

	early := code(t, s, authParams(publicID))
	s.SetUser("bob", "Bob B", "43")
	if u, ok := s.UserOf(early); !ok || u.Username != "ada" {
		t.Fatalf("UserOf(code issued before SetUser) = %+v %v", u, ok)
	}
	tj := decodeToken(t, post(t, s.TokenURL(), exchangeForm(early, rfcVerifier), "", ""))
	wantBody(t, usersMe(t, s, tj.AccessToken), 200, adaMe)

	s.SetConsent(true)
	s.SetUser("ada", "Ada L", "42")
	page := authorizeWith(t, s, authParams(publicID))
	m := hiddenIDRe.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("consent page: %d %s", page.status, page.body)
	}
	s.SetUser("bob", "Bob B", "43")
	rq := redirectQuery(t, post(t, s.URL()+DecidePath, url.Values{"id": {m[1]}, "decision": {"approve"}}, "", ""))
	tj = decodeToken(t, post(t, s.TokenURL(), exchangeForm(rq.Get("code"), rfcVerifier), "", ""))
	wantBody(t, usersMe(t, s, tj.AccessToken), 200, bobMe)
}

// SetUser fills in a missing name and id as Options does: the same user
// name gives the same id, another name another id.
func TestSetUserDefaults(t *testing.T) {
	s := start(t, Options{Username: "carol"})
	carol := s.CurrentUser()
	s.SetUser("dave", "", "")
	dave := s.CurrentUser()
	s.SetUser("carol", "", "")
	if again := s.CurrentUser(); again != carol {
		t.Fatalf("SetUser(carol) = %+v, Options{Username: carol} = %+v", again, carol)
	}
	idRe := regexp.MustCompile(`^[1-9][0-9]{18}$`)
	if !idRe.MatchString(dave.ID) || dave.ID == carol.ID || dave.Name != DefaultName || dave.Username != "dave" {
		t.Fatalf("dave = %+v, carol = %+v", dave, carol)
	}
	s.SetUser("", "", "")
	if u := s.CurrentUser(); u.Username != DefaultUsername || u.Name != DefaultName || !idRe.MatchString(u.ID) {
		t.Fatalf("SetUser with nothing = %+v, want the defaults", u)
	}
}

// IssueTokens mints for the user logged in now.
func TestIssueTokensForCurrentUser(t *testing.T) {
	s := start(t, Options{Username: "ada", Name: "Ada L", UserID: "42"})
	adaAT, adaRT := s.IssueTokens(publicID, defaultScope)
	s.SetUser("bob", "Bob B", "43")
	bobAT, _ := s.IssueTokens(publicID, defaultScope)
	wantBody(t, usersMe(t, s, adaAT), 200, adaMe)
	wantBody(t, usersMe(t, s, bobAT), 200, bobMe)
	tj := decodeToken(t, post(t, s.TokenURL(), refreshForm(publicID, adaRT), "", ""))
	wantBody(t, usersMe(t, s, tj.AccessToken), 200, adaMe)
}
