package termtext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain ASCII, kept: \\ and ~", "plain ASCII, kept: \\ and ~"},
		{"red \x1b[31mALERT\x1b[0m", `red \x1b[31mALERT\x1b[0m`},
		{"title \x1b]0;pwned\x07", `title \x1b]0;pwned\x07`},
		{"a\tb\nc\rd\x00e\x7f", `a\tb\nc\rd\x00e\x7f`},
		{"csi \u009b31m", `csi \u009b31m`},
		{"nel \u0085 and pad \u0080", `nel \u0085 and pad \u0080`},
		{"raw byte \x9b31m", `raw byte \x9b31m`},
		{"bad utf8 \xff\xfe", `bad utf8 \xff\xfe`},
		{"truncated \xe2\x80", `truncated \xe2\x80`},
		{"user\u202egnp.exe", `user\u202egnp.exe`},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069`},
		{"marks \u200e\u200f\u061c", `marks \u200e\u200f\u061c`},
		{"zero\u200bwidth\u200d\ufeff", `zero\u200bwidth\u200d\ufeff`},
		{"soft\u00adhyphen", `soft\u00adhyphen`},
		{"tag \U000E0041", `tag \U000e0041`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"café naïve 東京 😀 ü", "café naïve 東京 😀 ü"},
		{"nbsp\u00a0kept", "nbsp\u00a0kept"},
		{"literal U+FFFD \ufffd kept", "literal U+FFFD \ufffd kept"},
	}
	for _, c := range cases {
		if got := Safe(c.in); got != c.want {
			t.Errorf("Safe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSafeASCIIDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("tweet.read users.read ", 20)
	if n := testing.AllocsPerRun(100, func() { _ = Safe(s) }); n != 0 {
		t.Fatalf("Safe of printable ASCII allocates %v times", n)
	}
}

func TestClip(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"  short  ", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven cha" + Cut},
		{"word then   spaces", 12, "word then" + Cut},
		{strings.Repeat("é", 5), 3, "ééé" + Cut},
		{"esc\x1b[2J and more", 5, `esc\x1b[` + Cut},
		{"the reason comes last: " + strings.Repeat("x", 50) + " REASON", 1000, "the reason comes last: " + strings.Repeat("x", 50) + " REASON"},
	}
	for _, c := range cases {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// FuzzSafe: whatever the input, the output is valid UTF-8 with no control,
// format or separator character, and text that is already safe comes back
// unchanged.
func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "ok", "\x1b[31m", "\u009b", "\u202e", "\xff", "a\nb", "\U000E0041", "é\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Safe(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Safe(%q) = %q is not UTF-8", s, out)
		}
		clean := true
		for _, r := range s {
			if r == utf8.RuneError || !visible(r) || r < 0x20 || r == 0x7f {
				clean = false
			}
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || !visible(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("Safe(%q) = %q keeps %U", s, out, r)
			}
		}
		if clean && utf8.ValidString(s) && out != s {
			t.Fatalf("Safe(%q) = %q changed safe text", s, out)
		}
	})
}

func BenchmarkSafe(b *testing.B) {
	ascii := "invalid_request (Value passed for the token was invalid.)"
	hostile := "user\u202egnp\x1b[31m\u009b" + strings.Repeat("é", 40)
	b.Run("ascii", func(b *testing.B) {
		for b.Loop() {
			_ = Safe(ascii)
		}
	})
	b.Run("hostile", func(b *testing.B) {
		for b.Loop() {
			_ = Safe(hostile)
		}
	})
}
