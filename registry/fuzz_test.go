package registry

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// can be keyed: validation and keying agree.
func FuzzDecode(f *testing.F) {
	good, err := os.ReadFile("testdata/stores.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, s := range []string{
		"",
		"stores:\n  - id: a\n    registration:\n      phones: [\"0086 138 0013 8000\"]\n",
		"default_region: GB\nstores:\n  - id: a\n    registration:\n      phones: [07911 123456]\n      cards: [4111111111111111]\n",
		"stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    signals: [\"*\"]\n    reason: r\n    expires: 2027-06-30\n",
		"stores: [{id: a, status: closed, registration: {emails: [\"x+y@googlemail.com\"], tax_ids: [\"hmac:" + strings.Repeat("ab", 32) + "\"]}}]\n",
		"stores:\n  - &s {id: a}\n  - *s\n",
	} {
		f.Add([]byte(s))
	}
	k := testKeyer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode("f.yaml", data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Validate after Decode: %v", err)
		}
		vals, err := r.Keys(k)
		if err != nil {
			t.Fatalf("Keys of a valid registry: %v", err)
		}
		for _, v := range vals {
			if !strings.HasPrefix(v.Digest, DigestPrefix) || len(v.Digest) != len(DigestPrefix)+64 {
				t.Fatalf("bad digest %q", v.Digest)
			}
		}
	})
}

// fuzzNormalizer checks that normalise never panics, is idempotent, and that
// the hint of what it returns never shows the whole value.
func fuzzNormalizer(f *testing.F, field string, seeds []string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := Normalize(field, raw, "CN")
		if err != nil {
			return
		}
		again, err := Normalize(field, n, "CN")
		if err != nil {
			t.Fatalf("Normalize(%q) = %q, then: %v", raw, n, err)
		}
		if again != n {
			t.Fatalf("not idempotent: %q → %q → %q", raw, n, again)
		}
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q is not UTF-8", raw, n)
		}
		if h := hint(field, n); strings.Contains(h, n) && !allMask(field, n) {
			t.Fatalf("hint %q shows the whole value %q", h, n)
		}
	})
}

// allMask reports whether n is an e-mail address whose local part is made
// of the hint's mask character, "*": "***@x.y" then contains "**@x.y"
// without revealing anything.
func allMask(field, n string) bool {
	local, _, _ := strings.Cut(n, "@")
	return field == FieldEmail && strings.Trim(local, "*") == ""
}

func FuzzLegalName(f *testing.F) {
	fuzzNormalizer(f, FieldLegalName, []string{
		"Shenzhen Foo Trading Co., Ltd.", "ＳＨＥＮＺＨＥＮ ＣＯ．，ＬＴＤ．", "Foo L.L.C.", "Foo Co Co Ltd",
		"O'Brien & Sons", "深圳市福贸易（集团）有限公司", "Straße GmbH", "e'\u0301 Ltd", "ǅ ﬁ ß İ",
	})
}

func FuzzAddress(f *testing.F) {
	fuzzNormalizer(f, FieldAddress, []string{
		"Room 1201, 8 Keji Rd, Nanshan, Shenzhen 518057, China", "No.8 St. John St.",
		"深圳市南山区科技路８号１２０１室", "广东省 深圳市 南山区", "Shenzhen 深圳 518057", "ＲＯＯＭ　１２０１",
	})
}

func FuzzEmail(f *testing.F) {
	fuzzNormalizer(f, FieldEmail, []string{
		"ops@foo-trading.com", "J.Smith+shop@GoogleMail.com", "ＯＰＳ＠ｆｏｏ．ｃｏｍ", "a@b。c.", "x@bücher.de",
	})
}

func FuzzBankAccount(f *testing.F) {
	fuzzNormalizer(f, FieldBankAccount, []string{
		"6222 0210 0123 4567 890", "GB82 WEST 1234 5698 7654 32", "de89 3704 0044 0532 0130 00", "１２３４５",
	})
}

func FuzzCard(f *testing.F) {
	fuzzNormalizer(f, FieldCard, []string{"4111 1111 1111 1111", "3782 822463 10005", "４１１１-１１１１-１１１１-１１１１"})
}

func FuzzTaxID(f *testing.F) {
	fuzzNormalizer(f, FieldTaxID, []string{"91440300MA5FXXXX1X", "de 123 456 789", "12-3456789"})
}

// FuzzPhone fuzzes the region too.
func FuzzPhone(f *testing.F) {
	for _, s := range [][2]string{
		{"+86 138 0013 8000", ""}, {"0086 138 0013 8000", "US"}, {"138 0013 8000", "CN"},
		{"+44 (0)7911 123456", "GB"}, {"07911 123456", "GB"}, {"１３８ ００１３ ８０００", "cn"},
		{"+86 138 0013 8000 ext. 123", ""}, {"tel:+1-650-555-1212", ""}, {"0082 10 1234 5678", "KR"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := NormalizePhone(raw, region)
		if err != nil {
			return
		}
		again, err := NormalizePhone(n, region)
		if err != nil {
			t.Fatalf("NormalizePhone(%q, %q) = %q, then: %v", raw, region, n, err)
		}
		if again != n {
			t.Fatalf("not idempotent: %q → %q → %q", raw, n, again)
		}
		// The E.164 form needs no region.
		if other, err := NormalizePhone(n, ""); err != nil || other != n {
			t.Fatalf("NormalizePhone(%q, \"\") = %q, %v", n, other, err)
		}
		if h := hint(FieldPhone, n); strings.Contains(h, n) {
			t.Fatalf("hint %q shows the whole value %q", h, n)
		}
	})
}
