package oauth

import "testing"

func TestScopes(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Scopes {
		if seen[s] {
			t.Errorf("%s is listed twice", s)
		}
		seen[s] = true
	}
	for _, s := range append([]string{"timeline.read", "broadcast.read", "broadcast.write", "tweet.moderate.write", "media.write"}, DefaultScopes...) {
		if !KnownScope(s) {
			t.Errorf("%s is not in Scopes", s)
		}
	}
	if len(Scopes) != 25 || KnownScope("offline_access") || KnownScope("Tweet.read") {
		t.Errorf("Scopes = %v", Scopes)
	}
}

func TestClosestScope(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"tweet.read", "tweet.read", true},
		{"tweets.write", "tweet.write", true},
		{"Tweet.Read", "tweet.read", true},
		{"offline_access", "offline.access", true},
		{"tweet.raed", "tweet.read", true},
		{"users.reed", "users.read", true},
		{"timeline.rd", "timeline.read", true},
		{"broadcast.wrte", "broadcast.write", true},
		{"like:write", "like.write", true},
		{"follow.reads", "follows.read", true},
		{"openid", "", false},
		{"profile", "", false},
		{"read", "", false},
		{"tweet.reply", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := ClosestScope(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ClosestScope(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"abc", "ab", 1}, {"ab", "abc", 1},
		{"kitten", "sitting", 3}, {"ca", "abc", 3}, {"tweets.write", "tweet.write", 1},
	} {
		if got := editDistance(c.a, c.b, 10); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
		if got := editDistance(c.a, c.b, 1); got != min(c.d, 1) {
			t.Errorf("editDistance(%q, %q, limit 1) = %d, want %d", c.a, c.b, got, min(c.d, 1))
		}
	}
}

func BenchmarkClosestScope(b *testing.B) {
	for b.Loop() {
		ClosestScope("tweets.write")
	}
}
