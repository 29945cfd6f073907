package store

import (
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// fastDecode reads a store file in the exact shape Save writes, without
// encoding/json. It exists for `twauth token`, which starts a process to
// read this file and print one line: encoding/json's first use in a fresh
// process (its reflection caches, its code paged in) costs more than the
// rest of that command's own work. Anything outside the plain shape — an
// escape in a string, an unknown or repeated key, null, a key in another
// case, a number other than a plain non-negative integer — makes it give up
// (errNotFast), and Decode hands the bytes to encoding/json, which then
// also words any error. So when fastDecode succeeds, its File is the one
// encoding/json would build (FuzzDecode checks exactly that).
func fastDecode(data []byte) (*File, error) {
	p := &parser{data: data}
	var f File
	err := p.object(func(key string) error {
		switch key {
		case "version":
			n, err := p.uint()
			f.Version = n
			return err
		case "clients":
			f.Clients = map[string]*Entry{}
			return p.object(func(id string) error {
				e := &Entry{}
				f.Clients[id] = e
				return p.entry(e)
			})
		}
		return errNotFast
	})
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.data) {
		return nil, errNotFast
	}
	return &f, nil
}

var errNotFast = errors.New("not in the plain shape")

type parser struct {
	data []byte
	i    int
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// expect skips white space and consumes c.
func (p *parser) expect(c byte) error {
	p.space()
	if p.i >= len(p.data) || p.data[p.i] != c {
		return errNotFast
	}
	p.i++
	return nil
}

// seq reads open, then items separated by commas, then close.
func (p *parser) seq(open, close byte, item func() error) error {
	if err := p.expect(open); err != nil {
		return err
	}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == close {
		p.i++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		p.space()
		if p.i >= len(p.data) {
			return errNotFast
		}
		c := p.data[p.i]
		p.i++
		switch c {
		case ',':
		case close:
			return nil
		default:
			return errNotFast
		}
	}
}

// object reads {"key": value, …}, calling member for each key with the
// parser at its value. A key seen twice gives up.
func (p *parser) object(member func(key string) error) error {
	var seen []string
	return p.seq('{', '}', func() error {
		key, err := p.str()
		if err != nil {
			return err
		}
		if slices.Contains(seen, key) {
			return errNotFast
		}
		seen = append(seen, key)
		if err := p.expect(':'); err != nil {
			return err
		}
		return member(key)
	})
}

// str reads a string with no escapes, no control characters and valid
// UTF-8: the only kind Save writes for twauth's values.
func (p *parser) str() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	start := p.i
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			s := p.data[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				return "", errNotFast
			}
			return string(s), nil
		case c == '\\' || c < 0x20:
			return "", errNotFast
		}
		p.i++
	}
	return "", errNotFast
}

func (p *parser) uint() (int, error) {
	p.space()
	start := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	digits := string(p.data[start:p.i])
	if digits == "" || (digits[0] == '0' && len(digits) > 1) || len(digits) > 9 {
		return 0, errNotFast
	}
	if p.i < len(p.data) {
		switch p.data[p.i] {
		case '.', 'e', 'E':
			return 0, errNotFast
		}
	}
	return strconv.Atoi(digits)
}

func (p *parser) boolean() (bool, error) {
	p.space()
	for _, lit := range []string{"true", "false"} {
		if len(p.data)-p.i >= len(lit) && string(p.data[p.i:p.i+len(lit)]) == lit {
			p.i += len(lit)
			return lit == "true", nil
		}
	}
	return false, errNotFast
}

// time reads a timestamp exactly as time.Time's UnmarshalJSON does.
func (p *parser) time() (time.Time, error) {
	s, err := p.str()
	if err != nil {
		return time.Time{}, err
	}
	var t time.Time
	if err := t.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		return time.Time{}, errNotFast
	}
	return t, nil
}

// strings reads an object whose members are all strings into the fields
// named; any other member gives up.
func (p *parser) strings(fields map[string]*string) error {
	return p.object(func(key string) error {
		dst, ok := fields[key]
		if !ok {
			return errNotFast
		}
		v, err := p.str()
		*dst = v
		return err
	})
}

func (p *parser) entry(e *Entry) error {
	strs := map[string]*string{
		"client_id": &e.ClientID, "access_token": &e.AccessToken, "refresh_token": &e.RefreshToken,
		"token_type": &e.TokenType, "scope": &e.Scope, "token_url": &e.TokenURL, "username": &e.Username,
	}
	return p.object(func(key string) error {
		if dst, ok := strs[key]; ok {
			v, err := p.str()
			*dst = v
			return err
		}
		var err error
		switch key {
		case "expiry":
			e.Expiry, err = p.time()
		case "updated_at":
			e.UpdatedAt, err = p.time()
		case "confidential":
			e.Confidential, err = p.boolean()
		case "config":
			c := &ConfigKeys{}
			e.Config = c
			err = p.strings(map[string]*string{
				"path": &c.Path, "token_key": &c.TokenKey, "refresh_token_key": &c.RefreshTokenKey,
				"token_sha256": &c.TokenSHA256, "refresh_token_sha256": &c.RefreshTokenSHA256,
			})
		case "earlier":
			err = p.earlier(e)
		default:
			err = errNotFast
		}
		return err
	})
}

func (p *parser) earlier(e *Entry) error {
	e.Earlier = []EarlierKey{}
	return p.seq('[', ']', func() error {
		var k EarlierKey
		err := p.strings(map[string]*string{"path": &k.Path, "key": &k.Key, "kind": &k.Kind, "sha256": &k.SHA256})
		e.Earlier = append(e.Earlier, k)
		return err
	})
}
