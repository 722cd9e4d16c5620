package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// tokenPrefix marks storefence agent tokens, so that a leaked one is
// recognisable (secret scanners key on such prefixes).
const tokenPrefix = "sft_"

// NewToken returns a new agent token (32 random bytes) and its public id.
func NewToken() (token, id string, err error) {
	var secret [32]byte
	var idb [6]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(secret[:]), hex.EncodeToString(idb[:]), nil
}

// HashToken is what the database keeps of a token: its SHA-256. Tokens carry
// 256 random bits, so an unsalted hash cannot be reversed by guessing.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != "" && len(tok) <= 256
}

// adminToken holds the hash of the admin token; it compares in constant time.
type adminToken struct{ hash []byte }

// loadAdminToken reads the admin token file; an empty path disables the
// read APIs.
func loadAdminToken(path string) (*adminToken, error) {
	if path == "" {
		return &adminToken{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return nil, errors.New("admin token: shorter than 16 characters")
	}
	return &adminToken{hash: HashToken(tok)}, nil
}

func (a *adminToken) ok(token string) bool {
	return len(a.hash) > 0 && subtle.ConstantTimeCompare(a.hash, HashToken(token)) == 1
}
