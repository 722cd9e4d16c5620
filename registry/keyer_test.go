package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testSecret is a fixed 32-byte key; the digests below were computed from it
// with Python's hmac module, independently of this package.
const testSecret = "0123456789abcdef0123456789abcdef"

func testKeyer(tb testing.TB) *Keyer {
	tb.Helper()
	k, err := NewKeyer([]byte(testSecret + "\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestDigestVectors(t *testing.T) {
	k := testKeyer(t)
	tests := []struct{ field, norm, want string }{
		{FieldPhone, "+8613800138000", "hmac:a773604e4ffe1b58f0db16b11f50b193051e07a6e24e0177225e8fc262ade409"},
		{FieldEmail, "ops@foo-trading.com", "hmac:2c2044d459d1680c167a0726f7c08ba7cacfde3023645f4f7b0b23223f798343"},
		{FieldCard, "4111111111111111", "hmac:b3a9df7ec5b8dc32a04d9d64f2350aa3ba3fa9a0e9b681b79a51daeff9872611"},
		{FieldTaxID, "4111111111111111", "hmac:40be7aa7935eac3e93255e8248624f5d8ac675e9f21c97ab85ee3924480e6fb1"},
		{FieldLegalName, "shenzhen foo trading ltd", "hmac:59319570e800d84f0737e11f6c4e3090baecf97e11619c2d75b9775600486612"},
	}
	for _, tt := range tests {
		if got := k.Digest(tt.field, tt.norm); got != tt.want {
			t.Errorf("Digest(%s, %q) = %s, want %s", tt.field, tt.norm, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	k := testKeyer(t)
	got, err := k.Key(FieldPhone, "１３８ ００１３ ８０００", "CN")
	if err != nil {
		t.Fatal(err)
	}
	want := Value{
		Field:  FieldPhone,
		Digest: "hmac:a773604e4ffe1b58f0db16b11f50b193051e07a6e24e0177225e8fc262ade409",
		Hint:   "+86 138****8000",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Key mismatch (-want +got):\n%s", diff)
	}

	// A digest given in the registry matches the raw value it came from.
	for _, in := range []string{got.Digest, "  " + strings.ToUpper(got.Digest[5:]) + " "} {
		if !strings.HasPrefix(in, "hmac:") {
			in = "hmac:" + strings.TrimSpace(in)
		}
		d, err := k.Key(FieldPhone, in, "")
		if err != nil {
			t.Fatalf("Key(%q): %v", in, err)
		}
		if d.Digest != got.Digest {
			t.Errorf("Key(%q).Digest = %s, want %s", in, d.Digest, got.Digest)
		}
		if d.Hint != "hmac:a773604e…" {
			t.Errorf("Key(%q).Hint = %q", in, d.Hint)
		}
	}

	// The same text in two fields never matches.
	card, err := k.Key(FieldCard, "4111 1111 1111 1111", "")
	if err != nil {
		t.Fatal(err)
	}
	tax, err := k.Key(FieldTaxID, "4111 1111 1111 1111", "")
	if err != nil {
		t.Fatal(err)
	}
	bank, err := k.Key(FieldBankAccount, "4111 1111 1111 1111", "")
	if err != nil {
		t.Fatal(err)
	}
	if card.Digest == tax.Digest || card.Digest == bank.Digest || tax.Digest == bank.Digest {
		t.Errorf("equal digests across fields: card %s, tax %s, bank %s", card.Digest, tax.Digest, bank.Digest)
	}

	// Another key gives another digest.
	k2, err := NewKeyer([]byte(strings.Repeat("x", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if k2.Digest(FieldCard, "4111111111111111") == card.Digest {
		t.Error("two keys give one digest")
	}
}

func TestKeyErrors(t *testing.T) {
	k := testKeyer(t)
	tests := []struct{ field, raw string }{
		{"iban", "GB82 WEST 1234 5698 7654 32"},
		{FieldCard, "4111 1111 1111 1112"},
		{FieldPhone, "138 0013 8000"},
		{FieldEmail, "   "},
		{FieldEmail, "hmac:abc"},
		{FieldEmail, "hmac:" + strings.Repeat("g", 64)},
		{FieldAddress, strings.Repeat("a", MaxValueLen+1)},
	}
	for _, tt := range tests {
		_, err := k.Key(tt.field, tt.raw, "")
		if err == nil {
			t.Errorf("Key(%s, %q): want an error", tt.field, tt.raw)
			continue
		}
		if raw := strings.TrimSpace(tt.raw); raw != "" && strings.Contains(err.Error(), raw) {
			t.Errorf("Key(%s): error %q contains the raw value", tt.field, err)
		}
	}
}

func TestNewKeyer(t *testing.T) {
	tests := []struct {
		secret string
		ok     bool
	}{
		{testSecret, true},
		{testSecret + "\n", true},
		{testSecret + "\r\n", true},
		{testSecret[:31] + "\n", false},
		{testSecret[:31] + "\n\n", true}, // only one newline is trimmed: 32 bytes remain
		{"", false},
	}
	for _, tt := range tests {
		_, err := NewKeyer([]byte(tt.secret))
		if (err == nil) != tt.ok {
			t.Errorf("NewKeyer(%d bytes) error = %v, want ok=%v", len(tt.secret), err, tt.ok)
		}
	}
	// Trimming the newline must not change the key.
	a, _ := NewKeyer([]byte(testSecret))
	b, _ := NewKeyer([]byte(testSecret + "\r\n"))
	if a.Digest(FieldEmail, "x@y.z") != b.Digest(FieldEmail, "x@y.z") {
		t.Error("a trailing newline changed the key")
	}
	// The key is never printed.
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a)} {
		if strings.Contains(s, "0123456789") {
			t.Errorf("Keyer printed its key: %s", s)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSecret(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeyer(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Digest(FieldPhone, "+8613800138000"), testKeyer(t).Digest(FieldPhone, "+8613800138000"); got != want {
		t.Errorf("digest with loaded secret = %s, want %s", got, want)
	}
	if _, err := LoadSecret(filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "load secret: ") {
		t.Errorf("LoadSecret(missing) error = %v", err)
	}
}

func TestZeroKeyerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("the zero Keyer digested")
		}
	}()
	var k Keyer
	k.Digest(FieldEmail, "x@y.z")
}
