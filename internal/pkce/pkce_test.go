package pkce

import (
	"strings"
	"testing"
)

// RFC 7636 Appendix B.
func TestChallengeAppendixB(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const want = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := Challenge(verifier, S256); got != want {
		t.Fatalf("Challenge(S256) = %q, want %q", got, want)
	}
	if got := Challenge(verifier, Plain); got != verifier {
		t.Fatalf("Challenge(plain) = %q, want the verifier", got)
	}
}

func TestNewLengthsAndAlphabet(t *testing.T) {
	for _, n := range []int{0, 43, 44, 100, 128} {
		p, err := New(S256, n)
		if err != nil {
			t.Fatalf("New(%d): %v", n, err)
		}
		want := n
		if n == 0 {
			want = DefaultLength
		}
		if len(p.Verifier) != want {
			t.Errorf("New(%d): verifier has %d characters", n, len(p.Verifier))
		}
		if !ValidVerifier(p.Verifier) {
			t.Errorf("New(%d): verifier %q is not valid", n, p.Verifier)
		}
		if p.Challenge != Challenge(p.Verifier, S256) || p.Method != S256 {
			t.Errorf("New(%d): challenge does not match verifier", n)
		}
	}
	for _, n := range []int{-1, 1, 42, 129} {
		if _, err := New(S256, n); err == nil || !strings.Contains(err.Error(), "43 to 128") {
			t.Errorf("New(%d) error = %v, want a range error", n, err)
		}
	}
	if _, err := New("S512", 43); err == nil {
		t.Error("New with an unknown method succeeded")
	}
}

func TestNewIsRandom(t *testing.T) {
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 2000; i++ {
		p, err := New(Plain, 128)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.Verifier] {
			t.Fatalf("verifier repeated: %q", p.Verifier)
		}
		seen[p.Verifier] = true
		for j := 0; j < len(p.Verifier); j++ {
			counts[p.Verifier[j]]++
		}
	}
	// Every character of the alphabet appears; with 256000 draws each is
	// expected about 3879 times, so a character below 3000 or above 4800
	// means a biased generator (the chance of a false alarm is negligible).
	if len(counts) != len(unreserved) {
		t.Fatalf("%d distinct characters, want %d", len(counts), len(unreserved))
	}
	for c, n := range counts {
		if n < 3000 || n > 4800 {
			t.Errorf("character %q drawn %d times: biased", c, n)
		}
	}
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]Method{"": S256, "S256": S256, "s256": S256, "plain": Plain} {
		got, err := ParseMethod(in)
		if err != nil || got != want {
			t.Errorf("ParseMethod(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"PLAIN", "sha256", "none"} {
		if _, err := ParseMethod(in); err == nil {
			t.Errorf("ParseMethod(%q) succeeded", in)
		}
	}
}

func TestValidVerifier(t *testing.T) {
	ok := strings.Repeat("a", 43)
	for v, want := range map[string]bool{
		ok:                       true,
		strings.Repeat("~", 128): true,
		strings.Repeat("a", 42):  false,
		strings.Repeat("a", 129): false,
		ok[:42] + "+":            false,
		ok[:42] + " ":            false,
		ok[:42] + "/":            false,
	} {
		if got := ValidVerifier(v); got != want {
			t.Errorf("ValidVerifier(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestState(t *testing.T) {
	a, err := State()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := State()
	if len(a) != 43 || a == b || strings.ContainsAny(a, "+/=") {
		t.Fatalf("State() = %q, %q: want two distinct 43-character base64url strings", a, b)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(S256, DefaultLength); err != nil {
			b.Fatal(err)
		}
	}
}
