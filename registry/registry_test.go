package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/config"
)

func mustDate(t *testing.T, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadGood(t *testing.T) {
	r, err := Load("testdata/stores.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Registry{
		DefaultRegion: "US",
		Stores: []Store{
			{
				ID: "shop-a", Name: "Shop A (US)", Country: "CN", Status: StatusActive,
				Registration: Registration{
					LegalName:    "Shenzhen Foo Trading Co., Ltd.",
					Addresses:    []string{"Room 1201, 8 Keji Rd, Nanshan, Shenzhen 518057, China"},
					Phones:       []string{"+86 138 0013 8000"},
					Emails:       []string{"ops@foo-trading.com"},
					BankAccounts: []string{"6222 0210 0123 4567 890"},
					Cards:        []string{"4111 1111 1111 1111"},
					TaxIDs:       []string{"91440300MA5FXXXX1X"},
				},
			},
			{
				ID: "shop-b", Name: "Shop B (DE)", Country: "CN", Status: StatusSuspended,
				Registration: Registration{
					LegalName:    "SHENZHEN FOO TRADING LIMITED",
					Addresses:    []string{"RM. 1201 8 KEJI ROAD NANSHAN SHENZHEN 518057 CHINA"},
					Phones:       []string{"１３８ ００１３ ８０００", "0086 138-0013-8000"},
					Emails:       []string{"OPS@Foo-Trading.com"},
					BankAccounts: []string{"6222-0210-0123-4567-890"},
					Cards:        []string{"4111111111111111"},
					TaxIDs:       []string{"hmac:" + strings.Repeat("0", 64)},
				},
			},
			{
				ID: "shop-c", Status: StatusClosed,
				Registration: Registration{
					Phones: []string{"(650) 555-1212"},
					Emails: []string{"j.smith+shop@googlemail.com"},
				},
			},
		},
		Exemptions: []Exemption{
			{Stores: []string{"shop-a", "shop-b"}, Signals: []string{"reg.legal_name"}, Reason: "approved second account, case 1234", Expires: mustDate(t, "2027-06-30")},
			{Stores: []string{"shop-b", "shop-c"}, Signals: []string{"*"}, Reason: "same owner, documented", Expires: mustDate(t, "2027-01-15T12:00:00+08:00")},
			{Stores: []string{"shop-a", "shop-c"}, Signals: []string{"public_ip", "reg.phone"}, Reason: "shared office line until the move"},
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
	if s, ok := r.Store("shop-c"); !ok || r.Region(s) != "US" {
		t.Errorf("Store(shop-c) = %v, %v; want region US", s, ok)
	}
	if _, ok := r.Store("shop-x"); ok {
		t.Error("Store(shop-x) found")
	}
}

func TestKeys(t *testing.T) {
	r, err := Load("testdata/stores.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k := testKeyer(t)
	got, err := r.Keys(k)
	if err != nil {
		t.Fatal(err)
	}
	v := func(store, field, norm, hint string) StoreValue {
		return StoreValue{Store: store, Value: Value{Field: field, Digest: k.Digest(field, norm), Hint: hint}}
	}
	zero := "hmac:" + strings.Repeat("0", 64)
	want := []StoreValue{
		v("shop-a", FieldLegalName, "shenzhen foo trading ltd", "s*** ltd"),
		v("shop-a", FieldAddress, "room 1201 8 keji road nanshan shenzhen 518057 china", "*** china"),
		v("shop-a", FieldPhone, "+8613800138000", "+86 138****8000"),
		v("shop-a", FieldEmail, "ops@foo-trading.com", "o***@foo-trading.com"),
		v("shop-a", FieldBankAccount, "6222021001234567890", "**** 4567 890"),
		v("shop-a", FieldCard, "4111111111111111", "**** 1111"),
		v("shop-a", FieldTaxID, "91440300MA5FXXXX1X", "**** XX1X"),
		v("shop-b", FieldLegalName, "shenzhen foo trading ltd", "s*** ltd"),
		v("shop-b", FieldAddress, "room 1201 8 keji road nanshan shenzhen 518057 china", "*** china"),
		v("shop-b", FieldPhone, "+8613800138000", "+86 138****8000"), // listed twice, kept once
		v("shop-b", FieldEmail, "ops@foo-trading.com", "o***@foo-trading.com"),
		v("shop-b", FieldBankAccount, "6222021001234567890", "**** 4567 890"),
		v("shop-b", FieldCard, "4111111111111111", "**** 1111"),
		{Store: "shop-b", Value: Value{Field: FieldTaxID, Digest: zero, Hint: "hmac:00000000…"}},
		v("shop-c", FieldPhone, "+16505551212", "+1 650****1212"),
		v("shop-c", FieldEmail, "jsmith@gmail.com", "j***@gmail.com"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", diff)
	}

	// A hand-built registry with a bad value fails with its key, not its value.
	bad := &Registry{Stores: []Store{{ID: "x", Registration: Registration{Cards: []string{"4111 1111 1111 1112"}}}}}
	_, err = bad.Keys(k)
	var ke *config.KeyError
	if !errors.As(err, &ke) || ke.Key != "stores[0].registration.cards[0]" || strings.Contains(err.Error(), "1112") {
		t.Errorf("Keys of a bad registry: error %v", err)
	}
}

func TestDate(t *testing.T) {
	tests := []struct {
		in, end, str string
	}{
		{"2027-06-30", "2027-07-01T00:00:00Z", "2027-06-30"},
		{"2027-01-15T12:00:00+08:00", "2027-01-15T04:00:00Z", "2027-01-15T12:00:00+08:00"},
		{"2027-01-15T12:00:00.5Z", "2027-01-15T12:00:00.5Z", "2027-01-15T12:00:00.5Z"},
	}
	for _, tt := range tests {
		d, err := ParseDate(tt.in)
		if err != nil {
			t.Fatalf("ParseDate(%q): %v", tt.in, err)
		}
		if got := d.End().UTC().Format(time.RFC3339Nano); got != tt.end {
			t.Errorf("ParseDate(%q).End() = %s, want %s", tt.in, got, tt.end)
		}
		if d.String() != tt.str {
			t.Errorf("ParseDate(%q).String() = %s", tt.in, d.String())
		}
		if y, _ := d.MarshalYAML(); y != tt.str {
			t.Errorf("MarshalYAML = %v", y)
		}
	}
	for _, in := range []string{"2027-6-30", "30/06/2027", "2027-06-30 10:00", "2027-02-30", "tomorrow", ""} {
		if _, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q): want an error", in)
		}
	}
	var zero Date
	if !zero.IsZero() || zero.Expired(time.Now()) || zero.String() != "" {
		t.Error("the zero Date must never expire")
	}
}

func TestLoadBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "line: key" that the error must contain after the file name
		raw  string // a registration value that the error must not contain
	}{
		{
			name: "unknown top-level key",
			yaml: "store:\n  - id: a\n",
			want: "1: store: unknown key",
		},
		{
			name: "unknown registration key",
			yaml: "stores:\n  - id: a\n    registration:\n      phone: [\"+86 138 0013 8000\"]\n",
			want: "4: stores[0].registration.phone: unknown key",
			raw:  "0013 8000",
		},
		{
			name: "value written as a key",
			yaml: "stores:\n  - id: a\n    registration:\n      +86 138 0013 8000: x\n",
			want: "4: stores[0].registration.(key hidden): unknown key",
			raw:  "0013 8000",
		},
		{
			name: "duplicate key",
			yaml: "stores:\n  - id: a\n    id: b\n",
			want: "3: mapping key \"id\" already defined",
		},
		{
			name: "list given as a scalar",
			yaml: "stores:\n  - id: a\n    registration:\n      phones: \"+86 138 0013 8000\"\n",
			want: "4: cannot unmarshal !!str (value hidden) into []string",
			raw:  "+86 138",
		},
		{
			name: "card given as a number",
			yaml: "stores:\n  - id: a\n    registration:\n      cards: 4111111111111111\n",
			want: "4: cannot unmarshal !!int (value hidden)",
			raw:  "4111111",
		},
		{
			name: "duplicate store id",
			yaml: "stores:\n  - id: a\n  - id: b\n  - id: a\n",
			want: "4: stores[2].id: duplicate store \"a\" (first at stores[0])",
		},
		{
			name: "bad store id",
			yaml: "stores:\n  - id: shop a!\n",
			want: "2: stores[0].id: \"shop a!\" must be",
		},
		{
			name: "missing store id",
			yaml: "stores:\n  - name: x\n",
			want: "2: stores[0].id: required",
		},
		{
			name: "bad status",
			yaml: "stores:\n  - id: a\n    status: banned\n",
			want: "3: stores[0].status: \"banned\" must be active, suspended or closed",
		},
		{
			name: "unknown country",
			yaml: "stores:\n  - id: a\n    country: XX\n    registration:\n      phones: [\"138 0013 8000\"]\n",
			want: "3: stores[0].country: unknown region \"XX\"",
			raw:  "0013",
		},
		{
			name: "unknown default region",
			yaml: "default_region: China\nstores:\n  - id: a\n",
			want: "1: default_region: unknown region \"CHINA\"",
		},
		{
			name: "phone invalid for the store's country",
			yaml: "stores:\n  - id: a\n    country: US\n    registration:\n      phones:\n        - \"+86 138 0013 8000\"\n        - \"138 0013 8000\"\n",
			want: "7: stores[0].registration.phones[1]: store \"a\": invalid phone: not a valid number for region US",
			raw:  "0013",
		},
		{
			name: "national phone without a region",
			yaml: "stores:\n  - id: a\n    registration:\n      phones: [\"138 0013 8000\"]\n",
			want: "4: stores[0].registration.phones[0]: store \"a\": invalid phone: a national number needs a region",
			raw:  "0013",
		},
		{
			name: "card failing Luhn",
			yaml: "stores:\n  - id: a\n  - id: b\n    registration:\n      legal_name: B Ltd\n      cards:\n        - 4111 1111 1111 1111\n        - 4111 1111 1111 1112\n",
			want: "8: stores[1].registration.cards[1]: store \"b\": invalid card: fails the Luhn check",
			raw:  "1112",
		},
		{
			name: "bad IBAN",
			yaml: "stores:\n  - id: a\n    registration:\n      bank_accounts: [GB82 TEST 1234 5698 7654 32]\n",
			want: "4: stores[0].registration.bank_accounts[0]: store \"a\": invalid bank_account: IBAN check digits do not match",
			raw:  "TEST",
		},
		{
			name: "bad e-mail",
			yaml: "stores:\n  - id: a\n    registration:\n      emails: [ops-at-foo-trading.com]\n",
			want: "4: stores[0].registration.emails[0]: store \"a\": invalid email: no @",
			raw:  "ops-at",
		},
		{
			name: "empty value",
			yaml: "stores:\n  - id: a\n    registration:\n      emails: [\"\"]\n",
			want: "4: stores[0].registration.emails[0]: store \"a\": invalid email: empty",
		},
		{
			name: "bad legal name",
			yaml: "stores:\n  - id: a\n    registration:\n      legal_name: \"..\"\n",
			want: "4: stores[0].registration.legal_name: store \"a\": invalid legal_name: no letters or digits",
		},
		{
			name: "malformed digest",
			yaml: "stores:\n  - id: a\n    registration:\n      tax_ids: [\"hmac:12345\"]\n",
			want: "4: stores[0].registration.tax_ids[0]: store \"a\": invalid tax_id: a digest is \"hmac:\" and 64 hex digits",
			raw:  "12345",
		},
		{
			name: "value too long",
			yaml: "stores:\n  - id: a\n    registration:\n      addresses: [\"" + strings.Repeat("Keji Road ", 60) + "\"]\n",
			want: "4: stores[0].registration.addresses[0]: store \"a\": invalid address: longer than 512 bytes",
			raw:  "Keji Road",
		},
		{
			name: "exemption with an unknown store",
			yaml: "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, c]\n    signals: [\"*\"]\n    reason: r\n",
			want: "5: exemptions[0].stores[1]: unknown store \"c\"",
		},
		{
			name: "exemption with one store",
			yaml: "stores:\n  - id: a\nexemptions:\n  - stores: [a]\n    signals: [\"*\"]\n    reason: r\n",
			want: "4: exemptions[0].stores: an exemption needs at least two stores",
		},
		{
			name: "exemption with one store twice",
			yaml: "stores:\n  - id: a\nexemptions:\n  - stores:\n      - a\n      - a\n    signals: [\"*\"]\n    reason: r\n",
			want: "6: exemptions[0].stores[1]: store \"a\" listed twice",
		},
		{
			name: "exemption with an unknown signal",
			yaml: "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    signals:\n      - reg.phone\n      - reg.iban\n    reason: r\n",
			want: "8: exemptions[0].signals[1]: unknown signal \"reg.iban\"",
		},
		{
			name: "exemption without signals",
			yaml: "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    reason: r\n",
			want: "5: exemptions[0].signals: required",
		},
		{
			name: "exemption without a reason",
			yaml: "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    signals: [\"*\"]\n    reason: \"  \"\n",
			want: "7: exemptions[0].reason: required",
		},
		{
			name: "bad date",
			yaml: "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    signals: [\"*\"]\n    reason: r\n    expires: 2027-13-45\n",
			want: "8: exemptions[0].expires: parse date \"2027-13-45\": want YYYY-MM-DD or an RFC 3339 time",
		},
		{
			name: "date as a list",
			yaml: "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    signals: [\"*\"]\n    reason: r\n    expires: [2027-06-30]\n",
			want: "8: exemptions[0].expires: want YYYY-MM-DD or an RFC 3339 time, not a list or mapping",
		},
		{
			name: "not yaml",
			yaml: "stores: [\n",
			want: "1: did not find expected node content",
		},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "stores.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := Load(path)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", r)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T %v is not a *config.Error", err, err)
			}
			if want := path + ":" + tt.want; !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
			if tt.raw != "" && strings.Contains(err.Error(), tt.raw) {
				t.Errorf("error %q contains the raw value %q", err, tt.raw)
			}
		})
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	const y = "stores:\n  - id: a\n    status: x\n  - id: a\n    registration:\n      cards: [\"1234\"]\n"
	_, err := Decode("stores.yaml", []byte(y))
	for _, want := range []string{
		"stores.yaml:3: stores[0].status:",
		"stores.yaml:4: stores[1].id: duplicate store",
		"stores.yaml:6: stores[1].registration.cards[0]: store \"a\": invalid card: has 4 letters or digits, want 12 to 19",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want it to contain %q", err, want)
		}
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "stores: []\n"} {
		r, err := Decode("stores.yaml", []byte(in))
		if err != nil || len(r.Stores) != 0 {
			t.Errorf("Decode(%q) = %v, %v; want an empty registry", in, r, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "load registry: ") {
		t.Errorf("Load(missing) error = %v", err)
	}
}

// BenchmarkKeys keys a registry of 100,000 stores with seven values each.
func BenchmarkKeys(b *testing.B) {
	const n = 100_000
	r := &Registry{DefaultRegion: "CN"}
	for i := range n {
		r.Stores = append(r.Stores, Store{
			ID: fmt.Sprintf("shop-%d", i),
			Registration: Registration{
				LegalName:    fmt.Sprintf("Shenzhen Foo %d Trading Co., Ltd.", i),
				Addresses:    []string{fmt.Sprintf("Room %d, 8 Keji Rd, Nanshan, Shenzhen 518057, China", i)},
				Phones:       []string{fmt.Sprintf("+86 138 %04d %04d", i/10000, i%10000)},
				Emails:       []string{fmt.Sprintf("ops.%d+shop@gmail.com", i)},
				BankAccounts: []string{fmt.Sprintf("6222 0210 %011d", i)},
				Cards:        []string{"4111 1111 1111 1111"},
				TaxIDs:       []string{fmt.Sprintf("914403%012d", i)},
			},
		})
	}
	k := testKeyer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v, err := r.Keys(k)
		if err != nil {
			b.Fatal(err)
		}
		if len(v) != 7*n {
			b.Fatalf("got %d values, want %d", len(v), 7*n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/store")
}

func TestNullExpiryNeverExpires(t *testing.T) {
	for _, v := range []string{"", " null", " ~"} {
		y := "stores:\n  - id: a\n  - id: b\nexemptions:\n  - stores: [a, b]\n    signals: [\"*\"]\n    reason: r\n    expires:" + v + "\n"
		r, err := Decode("stores.yaml", []byte(y))
		if err != nil {
			t.Fatalf("expires:%s: %v", v, err)
		}
		if e := r.Exemptions[0]; !e.Expires.IsZero() || !e.Active(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("expires:%s: %+v expires", v, e)
		}
	}
}
