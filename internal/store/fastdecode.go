package store

import (
	"errors"
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

// object reads {"key": value, …}, calling member for each key with the
// parser at its value. A key seen twice gives up.
func (p *parser) object(member func(key string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return nil
	}
	var seen []string
	for {
		key, err := p.str()
		if err != nil {
			return err
		}
		for _, k := range seen {
			if k == key {
				return errNotFast
			}
		}
		seen = append(seen, key)
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
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
		case '}':
			return nil
		default:
			return errNotFast
		}
	}
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

func (p *parser) entry(e *Entry) error {
	return p.object(func(key string) error {
		var err error
		switch key {
		case "client_id":
			e.ClientID, err = p.str()
		case "access_token":
			e.AccessToken, err = p.str()
		case "refresh_token":
			e.RefreshToken, err = p.str()
		case "token_type":
			e.TokenType, err = p.str()
		case "expiry":
			e.Expiry, err = p.time()
		case "scope":
			e.Scope, err = p.str()
		case "token_url":
			e.TokenURL, err = p.str()
		case "confidential":
			e.Confidential, err = p.boolean()
		case "username":
			e.Username, err = p.str()
		case "updated_at":
			e.UpdatedAt, err = p.time()
		case "config":
			c := &ConfigKeys{}
			e.Config = c
			err = p.object(func(key string) error {
				var err error
				switch key {
				case "path":
					c.Path, err = p.str()
				case "token_key":
					c.TokenKey, err = p.str()
				case "refresh_token_key":
					c.RefreshTokenKey, err = p.str()
				case "token_sha256":
					c.TokenSHA256, err = p.str()
				case "refresh_token_sha256":
					c.RefreshTokenSHA256, err = p.str()
				default:
					err = errNotFast
				}
				return err
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
	if err := p.expect('['); err != nil {
		return err
	}
	e.Earlier = []EarlierKey{}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		var k EarlierKey
		err := p.object(func(key string) error {
			var err error
			switch key {
			case "path":
				k.Path, err = p.str()
			case "key":
				k.Key, err = p.str()
			case "kind":
				k.Kind, err = p.str()
			case "sha256":
				k.SHA256, err = p.str()
			default:
				err = errNotFast
			}
			return err
		})
		if err != nil {
			return err
		}
		e.Earlier = append(e.Earlier, k)
		p.space()
		if p.i >= len(p.data) {
			return errNotFast
		}
		c := p.data[p.i]
		p.i++
		switch c {
		case ',':
		case ']':
			return nil
		default:
			return errNotFast
		}
	}
}
