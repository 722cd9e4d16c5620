package registry

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"strings"
)

// MinSecretLen is the shortest digest key accepted, in bytes.
const MinSecretLen = 32

// DigestPrefix starts every digest: "hmac:" and 64 lowercase hex digits.
const DigestPrefix = "hmac:"

// Keyer computes the keyed digests of registration values. It is safe for
// concurrent use. Its key is never printed. Make one with NewKeyer: the zero
// Keyer has no key, and using it panics rather than digest with an empty key.
type Keyer struct {
	key []byte
}

// NewKeyer returns a Keyer for secret, the contents of the secret file: one
// trailing newline ("\n" or "\r\n") is removed, and at least MinSecretLen
// bytes must remain. The Keyer keeps its own copy.
func NewKeyer(secret []byte) (*Keyer, error) {
	s := secret
	if bytes.HasSuffix(s, []byte("\r\n")) {
		s = s[:len(s)-2]
	} else if bytes.HasSuffix(s, []byte("\n")) {
		s = s[:len(s)-1]
	}
	if len(s) < MinSecretLen {
		return nil, fmt.Errorf("new keyer: secret has %d bytes, want at least %d (e.g. head -c 32 /dev/urandom | base64)", len(s), MinSecretLen)
	}
	return &Keyer{key: bytes.Clone(s)}, nil
}

// LoadSecret reads the digest key from a file, such as server.yaml's
// secret_file or --secret-file; pass it to NewKeyer.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load secret: %w", err)
	}
	return b, nil
}

// String hides the key.
func (k *Keyer) String() string { return "registry.Keyer{<secret>}" }

// GoString hides the key from %#v.
func (k *Keyer) GoString() string { return k.String() }

// Digest returns the keyed digest of a normalised value of field:
//
//	"hmac:" + hex(HMAC-SHA256(key, "storefence/" + field + "/v1" + "\x00" + normalized))
//
// The label makes equal text in two fields digest differently. field should
// be one of Fields and normalized come from Normalize; Key does both steps.
func (k *Keyer) Digest(field, normalized string) string {
	return k.digester().digest(field, normalized)
}

// Value is one keyed registration value.
type Value struct {
	Field  string // a field name such as "phone"
	Digest string // "hmac:" and 64 lowercase hex digits
	Hint   string // masked form for people, such as "+86 138****8000"
}

// Key normalises raw, a value of field, and returns its digest and masked
// hint. region reads national phone numbers (see NormalizePhone). A raw
// value that is already a digest, "hmac:" and 64 hex digits as printed by
// `storefence hash`, is taken as it is, lowercased: it matches the raw value
// it was computed from. Errors never contain raw.
func (k *Keyer) Key(field, raw, region string) (Value, error) {
	return k.digester().key(field, raw, region)
}

// digester is a Keyer with one reusable HMAC state, for one goroutine.
type digester struct {
	mac hash.Hash
	buf []byte
}

func (k *Keyer) digester() *digester {
	if len(k.key) < MinSecretLen {
		panic("registry: Keyer used without NewKeyer")
	}
	return &digester{mac: hmac.New(sha256.New, k.key)}
}

func (d *digester) digest(field, normalized string) string {
	d.mac.Reset()
	d.buf = append(d.buf[:0], "storefence/"...)
	d.buf = append(d.buf, field...)
	d.buf = append(d.buf, "/v1\x00"...)
	d.buf = append(d.buf, normalized...)
	d.mac.Write(d.buf)
	var sum [sha256.Size]byte
	out := make([]byte, len(DigestPrefix)+hex.EncodedLen(sha256.Size))
	copy(out, DigestPrefix)
	hex.Encode(out[len(DigestPrefix):], d.mac.Sum(sum[:0]))
	return string(out)
}

func (d *digester) key(field, raw, region string) (Value, error) {
	if !knownField(field) {
		return Value{}, fmt.Errorf("key: unknown field %q (known: %s)", field, strings.Join(Fields(), ", "))
	}
	c, err := checkValue(field, raw, region)
	if err != nil {
		return Value{}, err
	}
	if c.digest != "" {
		return Value{Field: field, Digest: c.digest, Hint: c.hint}, nil
	}
	return Value{Field: field, Digest: d.digest(field, c.norm), Hint: c.hint}, nil
}

// checked is a registration value that passed checkValue.
type checked struct {
	norm   string // normalised form; empty when given as a digest
	digest string // the digest when given as one
	hint   string
}

// checkValue validates raw as a value of field without keying it: it is
// either a well-formed digest or a value that normalises.
func checkValue(field, raw, region string) (checked, error) {
	if len(raw) > MaxValueLen {
		return checked{}, invalid(field, "longer than %d bytes", MaxValueLen)
	}
	if strings.TrimSpace(raw) == "" {
		return checked{}, invalid(field, "empty")
	}
	if d, ok, err := parseDigest(field, raw); ok {
		if err != nil {
			return checked{}, err
		}
		return checked{digest: d, hint: d[:len(DigestPrefix)+8] + "…"}, nil
	}
	if field == FieldPhone {
		n, err := parsePhone(raw, region)
		if err != nil {
			return checked{}, err
		}
		return checked{norm: e164(n), hint: phoneHint(n)}, nil
	}
	s, err := Normalize(field, raw, region)
	if err != nil {
		return checked{}, err
	}
	return checked{norm: s, hint: hint(field, s)}, nil
}

// parseDigest reports whether raw is given as a digest ("hmac:…") and, if
// so, returns it with lowercase hex, or an error when it is malformed.
func parseDigest(field, raw string) (string, bool, error) {
	s := strings.TrimSpace(raw)
	if !strings.HasPrefix(s, DigestPrefix) {
		return "", false, nil
	}
	h := strings.ToLower(s[len(DigestPrefix):])
	if len(h) != hex.EncodedLen(sha256.Size) {
		return "", true, invalid(field, "a digest is %q and 64 hex digits", DigestPrefix)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", true, invalid(field, "a digest is %q and 64 hex digits", DigestPrefix)
	}
	return DigestPrefix + h, true, nil
}
