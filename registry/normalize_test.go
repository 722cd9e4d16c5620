package registry

import (
	"errors"
	"strings"
	"testing"
)

// normCase is one normalisation vector. want is the normalised form, or ""
// when the value must be rejected.
type normCase struct {
	name, in, region, want string
}

func runNormCases(t *testing.T, field string, tests []normCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(field, tt.in, tt.region)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Normalize(%s, %q, %q) = %q, want an error", field, tt.in, tt.region, got)
				}
				var ve *ValueError
				if !errors.As(err, &ve) || ve.Field != field {
					t.Errorf("error %v is not a *ValueError of field %s", err, field)
				}
				if strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Errorf("error %q contains the raw value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%s, %q, %q): %v", field, tt.in, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%s, %q, %q) = %q, want %q", field, tt.in, tt.region, got, tt.want)
			}
			again, err := Normalize(field, got, tt.region)
			if err != nil || again != got {
				t.Errorf("not idempotent: Normalize(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	runNormCases(t, FieldPhone, []normCase{
		{"international", "+86 138 0013 8000", "", "+8613800138000"},
		{"international ignores region", "+86 138 0013 8000", "US", "+8613800138000"},
		{"00 in region whose prefix is 00", "0086 138 0013 8000", "CN", "+8613800138000"},
		{"00 in US, whose prefix is 011", "0086 138 0013 8000", "US", "+8613800138000"},
		{"00 without region", "0086 138 0013 8000", "", "+8613800138000"},
		{"00 with separators", "(00)86-138-0013-8000", "GB", "+8613800138000"},
		{"00 in KR", "0082 10 1234 5678", "KR", "+821012345678"},
		{"011 in US", "011 86 138 0013 8000", "US", "+8613800138000"},
		{"national CN", "138 0013 8000", "CN", "+8613800138000"},
		{"national CN lower-case region", "13800138000", "cn", "+8613800138000"},
		{"national US", "(650) 555-1212", "US", "+16505551212"},
		{"national US with trunk 1", "1-650-555-1212", "US", "+16505551212"},
		{"national GB trunk 0", "07911 123456", "GB", "+447911123456"},
		{"GB (0) after country code", "+44 (0)7911 123456", "", "+447911123456"},
		{"GB (0) with another region", "+44 (0)7911 123456", "CN", "+447911123456"},
		{"full-width digits", "１３８ ００１３ ８０００", "CN", "+8613800138000"},
		{"full-width plus", "＋８６ １３８－００１３－８０００", "", "+8613800138000"},
		{"dots", "+1.650.555.1212", "", "+16505551212"},
		{"tel URI", "tel:+1-650-555-1212", "", "+16505551212"},
		{"extension kept", "+86 138 0013 8000 ext. 123", "", "+8613800138000;ext=123"},
		{"e164 with extension", "+8613800138000;ext=123", "", "+8613800138000;ext=123"},
		{"national without region", "138 0013 8000", "", ""},
		{"national number read in the wrong region", "138 0013 8000", "US", ""},
		{"wrong country for 00", "0001 234", "US", ""},
		{"too short", "+86 138", "", ""},
		{"not a number", "call me", "CN", ""},
		{"empty", "  ", "CN", ""},
		{"unknown region", "138 0013 8000", "XX", ""},
		{"non-geographic 001 is no region", "138 0013 8000", "001", ""},
		{"invalid range", "+1 555 555 5555", "", ""},
	})
}

func TestNormalizeEmail(t *testing.T) {
	runNormCases(t, FieldEmail, []normCase{
		{"plain", "ops@foo-trading.com", "", "ops@foo-trading.com"},
		{"case and space", "  OPS@Foo-Trading.COM ", "", "ops@foo-trading.com"},
		{"full-width", "ＯＰＳ＠ｆｏｏ－ｔｒａｄｉｎｇ．ｃｏｍ", "", "ops@foo-trading.com"},
		{"ideographic full stop in domain", "ops@foo-trading。com", "", "ops@foo-trading.com"},
		{"trailing dot of domain", "ops@foo-trading.com.", "", "ops@foo-trading.com"},
		{"gmail dots", "J.Smith@gmail.com", "", "jsmith@gmail.com"},
		{"gmail tag", "jsmith+amazon@gmail.com", "", "jsmith@gmail.com"},
		{"googlemail", "j.smith+shop-a@GoogleMail.com", "", "jsmith@gmail.com"},
		{"other provider keeps dots", "j.smith@foo-trading.com", "", "j.smith@foo-trading.com"},
		{"other provider keeps tag", "j.smith+shop@outlook.com", "", "j.smith+shop@outlook.com"},
		{"gmail subdomain is not gmail", "j.smith@mail.gmail.com", "", "j.smith@mail.gmail.com"},
		{"unicode domain", "ops@bücher.de", "", "ops@bücher.de"},
		{"no at", "ops.foo-trading.com", "", ""},
		{"empty local", "@foo-trading.com", "", ""},
		{"no dot in domain", "ops@localhost", "", ""},
		{"space inside", "o ps@foo-trading.com", "", ""},
		{"display name form", "Ops <ops@foo-trading.com>", "", ""},
		{"gmail only tag", "+shop@gmail.com", "", ""},
		{"gmail only dots", "...@gmail.com", "", ""},
		{"bad label", "ops@foo..com", "", ""},
	})
}

func TestNormalizeAddress(t *testing.T) {
	runNormCases(t, FieldAddress, []normCase{
		{"spec example", "Room 1201, 8 Keji Rd, Nanshan, Shenzhen 518057, China", "", "room 1201 8 keji road nanshan shenzhen 518057 china"},
		{"abbreviations and case", "RM. 1201  8 KEJI RD. NANSHAN, SHENZHEN 518057 CHINA", "", "room 1201 8 keji road nanshan shenzhen 518057 china"},
		{"street avenue suite", "1600 Pennsylvania Ave. NW, Ste 5", "", "1600 pennsylvania avenue nw suite 5"},
		{"st is street", "12 St. John St.", "", "12 street john street"},
		{"saint stays saint", "12 Saint John Street", "", "12 saint john street"},
		{"floor building apartment", "Flr 3, Bldg B, Apt 4", "", "floor 3 building b apartment 4"},
		{"no is number", "No.8 Keji Rd", "", "number 8 keji road"},
		{"district boulevard", "Nanshan Dist., 88 Shennan Blvd", "", "nanshan district 88 shennan boulevard"},
		{"abbreviation only as a whole word", "8 Rdx Street, Stanford", "", "8 rdx street stanford"},
		{"hyphen and hash", "Unit #12-03, Tower-2", "", "unit 12 03 tower 2"},
		{"ampersand", "Foo & Bar Building", "", "foo and bar building"},
		{"apostrophe", "St. Mary's Rd", "", "street marys road"},
		{"full-width Chinese", "深圳市南山区科技路８号１２０１室", "", "深圳市南山区科技路8号1201室"},
		{"Chinese punctuation", "广东省，深圳市（南山区）科技路8号", "", "广东省深圳市南山区科技路8号"},
		{"Chinese spaces", "广东省 深圳市 南山区 科技路 8 号 12 楼", "", "广东省深圳市南山区科技路8号12楼"},
		{"mixed scripts", "Shenzhen 深圳 518057", "", "shenzhen深圳518057"},
		{"full-width Latin", "ＲＯＯＭ　１２０１", "", "room 1201"},
		{"only punctuation", " ,.;- ", "", ""},
	})
}

func TestNormalizeLegalName(t *testing.T) {
	runNormCases(t, FieldLegalName, []normCase{
		{"spec example", "Shenzhen Foo Trading Co., Ltd.", "", "shenzhen foo trading ltd"},
		{"co ltd no punctuation", "SHENZHEN FOO TRADING CO LTD", "", "shenzhen foo trading ltd"},
		{"co.,ltd. glued", "Shenzhen Foo Trading Co.,Ltd.", "", "shenzhen foo trading ltd"},
		{"company limited", "Shenzhen Foo Trading Company Limited", "", "shenzhen foo trading ltd"},
		{"limited", "Shenzhen Foo Trading Limited", "", "shenzhen foo trading ltd"},
		{"full-width", "ＳＨＥＮＺＨＥＮ ＦＯＯ ＴＲＡＤＩＮＧ ＣＯ．，ＬＴＤ．", "", "shenzhen foo trading ltd"},
		{"inc", "Foo, Inc.", "", "foo inc"},
		{"incorporated", "Foo Incorporated", "", "foo inc"},
		{"inc is not ltd", "Foo Ltd", "", "foo ltd"},
		{"llc dotted", "Foo L.L.C.", "", "foo llc"},
		{"llc long", "Foo Limited Liability Company", "", "foo llc"},
		{"corporation", "Foo Corporation", "", "foo corp"},
		{"gmbh", "Foo GmbH", "", "foo gmbh"},
		{"pte", "Foo Pte. Ltd.", "", "foo pte ltd"},
		{"pvt", "Foo Private Limited", "", "foo pte ltd"},
		{"company alone", "Foo Trading Company", "", "foo trading co"},
		{"suffix only at the end", "Limited Editions Trading", "", "limited editions trading"},
		{"repeated co", "Foo Co Co Ltd", "", "foo ltd"},
		{"name that is a suffix", "Limited", "", "limited"},
		{"apostrophe", "O'Brien & Sons Ltd", "", "obrien and sons ltd"},
		{"chinese", "深圳市福贸易有限公司", "", "深圳市福贸易有限公司"},
		{"chinese full-width brackets", "深圳市福贸易（集团）有限公司", "", "深圳市福贸易集团有限公司"},
		{"german sharp s folds", "Straße GmbH", "", "strasse gmbh"},
		{"empty", "", "", ""},
	})
}

func TestNormalizeIDs(t *testing.T) {
	t.Run("bank_account", func(t *testing.T) {
		runNormCases(t, FieldBankAccount, []normCase{
			{"cn card-style account", "6222 0210 0123 4567 890", "", "6222021001234567890"},
			{"dashes", "6222-0210-0123-4567-890", "", "6222021001234567890"},
			{"full-width", "６２２２ ０２１０ ０１２３ ４５６７ ８９０", "", "6222021001234567890"},
			{"iban with spaces", "GB82 WEST 1234 5698 7654 32", "", "GB82WEST12345698765432"},
			{"iban lower case", "de89 3704 0044 0532 0130 00", "", "DE89370400440532013000"},
			{"iban bad check digits", "GB82 TEST 1234 5698 7654 32", "", ""},
			{"us account", "000123456789", "", "000123456789"},
			{"too short", "12", "", ""},
			{"non-ascii letter", "6222 é 0210", "", ""},
			{"too long", strings.Repeat("1", 35), "", ""},
		})
	})
	t.Run("card", func(t *testing.T) {
		runNormCases(t, FieldCard, []normCase{
			{"visa test", "4111 1111 1111 1111", "", "4111111111111111"},
			{"dashes", "4111-1111-1111-1111", "", "4111111111111111"},
			{"full-width", "４１１１ １１１１ １１１１ １１１１", "", "4111111111111111"},
			{"amex", "3782 822463 10005", "", "378282246310005"},
			{"luhn fails", "4111 1111 1111 1112", "", ""},
			{"letters", "4111 1111 1111 111X", "", ""},
			{"too short", "4111 1111", "", ""},
		})
	})
	t.Run("tax_id", func(t *testing.T) {
		runNormCases(t, FieldTaxID, []normCase{
			{"cn uscc", "91440300MA5FXXXX1X", "", "91440300MA5FXXXX1X"},
			{"lower case and dash", "91440300-ma5f-xxxx-1x", "", "91440300MA5FXXXX1X"},
			{"eu vat", "DE 123 456 789", "", "DE123456789"},
			{"us ein", "12-3456789", "", "123456789"},
			{"cjk", "税号91440300", "", ""},
			{"too short", "1-2", "", ""},
		})
	})
}

func TestNormalizeUnknownField(t *testing.T) {
	if _, err := Normalize("iban", "x", ""); err == nil {
		t.Error("Normalize of an unknown field: want an error")
	}
}

func TestFieldsAndSignals(t *testing.T) {
	if got := len(Fields()); got != 7 {
		t.Errorf("len(Fields()) = %d, want 7", got)
	}
	for _, f := range Fields() {
		if !knownField(f) {
			t.Errorf("field %q not known", f)
		}
	}
}
