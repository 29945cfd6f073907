package oauth

import (
	"slices"
	"strings"
)

// Scopes are X's OAuth 2.0 scopes: those of X's OAuth 2.0 guide, then
// those only X's API metadata lists (timeline.read, broadcast.read,
// broadcast.write). Asking for another one is allowed, but deserves a
// warning: X may refuse the login.
var Scopes = []string{
	"tweet.read", "tweet.write", "tweet.moderate.write", "users.email", "users.read",
	"follows.read", "follows.write", "offline.access", "space.read", "mute.read", "mute.write",
	"like.read", "like.write", "list.read", "list.write", "block.read", "block.write",
	"bookmark.read", "bookmark.write", "dm.read", "dm.write", "media.write",
	"timeline.read", "broadcast.read", "broadcast.write",
}

// KnownScope reports whether s is one of Scopes.
func KnownScope(s string) bool { return slices.Contains(Scopes, s) }

// maxScopeEdits is how far a scope may be from a known one and still be
// taken for a typo of it: tweets.write, Tweet.Read, offline_access and
// tweet.raed are; a scope of another server is, most likely, not.
const maxScopeEdits = 2

// ClosestScope returns the scope of Scopes nearest to s, for a "did you
// mean" warning, and whether it is near enough to be what was meant: at most
// two edits apart (an insertion, deletion, substitution or swap of
// neighbours), case ignored. For a scope of Scopes it returns s itself and
// true. Of equally near scopes, the first in Scopes wins.
func ClosestScope(s string) (string, bool) {
	lower := strings.ToLower(s)
	best, bestD := "", maxScopeEdits+1
	for _, k := range Scopes {
		if d := editDistance(lower, k, bestD); d < bestD {
			best, bestD = k, d
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein plus swaps of neighbours), in bytes; it returns limit when
// the distance is at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	// Three rows: the one before the previous is needed for a swap.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}
