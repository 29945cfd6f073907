package balconfig

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"
)

// parseKeyPath splits a dotted key path as TOML writes keys:
// `myorg.app.auth.token`, `a."b.c".d`, `'x y'.z`, with optional blanks
// around the dots. Quoted parts follow TOML's escapes.
func parseKeyPath(s string) ([]string, error) {
	bad := func(format string, args ...any) error {
		return &Error{Reason: fmt.Sprintf("invalid key path %q: %s; write it as TOML writes a dotted key, "+
			`quoting a part that holds other characters than A-Za-z0-9_-, e.g. myorg.app."my.key"`, s, fmt.Sprintf(format, args...))}
	}
	blanks := func(i int) int {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		return i
	}
	var parts []string
	i := blanks(0)
	if i == len(s) {
		return nil, bad("it is empty")
	}
	for {
		switch {
		case i == len(s) || s[i] == '.':
			return nil, bad("a part is empty (at character %d)", i+1)
		case s[i] == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, bad("a quoted part is not closed")
			}
			part := s[i+1 : i+1+j]
			if strings.ContainsAny(part, "\r\n") {
				return nil, bad("a part holds a line break")
			}
			parts = append(parts, part)
			i += j + 2
		case s[i] == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, bad("a quoted part is not closed")
			}
			part, err := decodeBasic(s[i : j+1])
			if err != nil {
				return nil, bad("%s", err)
			}
			parts = append(parts, part)
			i = j + 1
		default:
			j := i
			for j < len(s) && isBareKey(s[j:j+1]) {
				j++
			}
			if j == i {
				return nil, bad("unexpected %q at character %d", s[i:i+1], i+1)
			}
			parts = append(parts, s[i:j])
			i = j
		}
		i = blanks(i)
		if i == len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, bad("unexpected %q at character %d", s[i:i+1], i+1)
		}
		i = blanks(i + 1)
	}
}

// decodeBasic decodes a TOML basic string, quotes included, with TOML's
// escapes (which the unstable parser knows).
func decodeBasic(quoted string) (string, error) {
	var p unstable.Parser
	p.Reset([]byte(quoted + " = 0"))
	if !p.NextExpression() {
		if perr, ok := p.Error().(*unstable.ParserError); ok {
			return "", errors.New(perr.Message)
		}
		return "", errors.New("invalid quoted part")
	}
	it := p.Expression().Key()
	it.Next()
	if !utf8.Valid(it.Node().Data) {
		return "", errors.New("a quoted part is not valid UTF-8")
	}
	return string(it.Node().Data), nil
}

// isBareKey reports whether k can be written without quotes.
func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// quoteKey encodes each part of a key: bare when it can be, else a basic string.
func quoteKey(parts []string) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if isBareKey(p) {
			out[i] = p
		} else {
			out[i] = quote(p)
		}
	}
	return out
}

// keyString writes a dotted key.
func keyString(parts []string) string {
	return strings.Join(quoteKey(parts), ".")
}

// quote encodes s as a TOML basic string on one line: `"`, `\` and control
// characters are escaped, everything else (non-ASCII UTF-8 included) is kept
// as is. s must be valid UTF-8.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// validUTF8 reports whether a value can be written to a TOML file.
func validUTF8(s string) bool { return utf8.ValidString(s) }
