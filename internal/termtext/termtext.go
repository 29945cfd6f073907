// Package termtext makes text that twauth did not write itself (a server's
// error_description, a username, a granted scope, a pasted redirect) safe to
// print on a terminal: nothing in it can move the cursor, change colours,
// set the window title, or reorder what is shown around it.
package termtext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Safe returns s with every character a terminal would act on, or would not
// show, written out as a visible escape:
//
//   - C0 controls and DEL (ESC among them) as \x1b, except \t, \n and \r,
//     which are written as those two characters;
//   - C1 controls (U+0080 to U+009F, CSI U+009B among them) as \u009b;
//   - bytes that are not UTF-8 (a lone 0x9b is CSI to an 8-bit terminal) as
//     \x9b;
//   - the bidirectional overrides, embeddings and isolates (U+202A to U+202E,
//     U+2066 to U+2069), the direction marks and every other invisible format
//     character (Unicode category Cf: zero-width spaces and joiners, the
//     byte-order mark, tag characters), and the line and paragraph
//     separators U+2028 and U+2029, as \u202e or \U000e0041.
//
// Everything else, including a backslash, is kept as it is, so ordinary text
// reads the same and the result is always valid UTF-8 on one line. Text of
// printable ASCII is returned as is, without allocating.
func Safe(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			writeByteEscape(&b, c)
		case r < 0x80:
			writeControl(&b, c)
		case visible(r):
			b.WriteString(s[i : i+n])
		default:
			writeRuneEscape(&b, r)
		}
		i += n
	}
	return b.String()
}

// visible reports whether a terminal shows r as itself, without acting on
// it or changing how the text around it is laid out.
func visible(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return false
	case r == '\u2028' || r == '\u2029':
		return false
	case unicode.Is(unicode.Cf, r):
		return false
	}
	return true
}

func writeControl(b *strings.Builder, c byte) {
	switch c {
	case '\t':
		b.WriteString(`\t`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	default:
		writeByteEscape(b, c)
	}
}

func writeByteEscape(b *strings.Builder, c byte) { writeHex(b, `\x`, uint32(c), 2) }

func writeRuneEscape(b *strings.Builder, r rune) {
	if r > 0xffff {
		writeHex(b, `\U`, uint32(r), 8)
	} else {
		writeHex(b, `\u`, uint32(r), 4)
	}
}

// writeHex writes prefix and then v as n lower-case hex digits.
func writeHex(b *strings.Builder, prefix string, v uint32, n int) {
	const digits = "0123456789abcdef"
	b.WriteString(prefix)
	for shift := 4 * (n - 1); shift >= 0; shift -= 4 {
		b.WriteByte(digits[v>>shift&0xf])
	}
}

// Clip returns Safe(s) of at most the first n characters of s, followed by
// "…(cut)" when s was longer: a server's reason is kept whole up to a bound
// no one reads past. Leading and trailing white space is dropped.
func Clip(s string, n int) string {
	s = strings.TrimSpace(s)
	count := 0
	for i := range s {
		if count == n {
			return Safe(strings.TrimRightFunc(s[:i], unicode.IsSpace)) + Cut
		}
		count++
	}
	return Safe(s)
}

// Cut marks text that Clip shortened.
const Cut = "…(cut)"
