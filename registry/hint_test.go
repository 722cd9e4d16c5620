package registry

import (
	"strings"
	"testing"
)

func TestHints(t *testing.T) {
	k := testKeyer(t)
	tests := []struct {
		field, raw, region, want string
	}{
		// The SPEC's examples.
		{FieldPhone, "+86 138 0013 8000", "", "+86 138****8000"},
		{FieldEmail, "ops@foo-trading.com", "", "o***@foo-trading.com"},
		{FieldBankAccount, "6222 0210 0123 4567 890", "", "**** 4567 890"},
		{FieldCard, "4111 1111 1111 1111", "", "**** 1111"},
		// The hint follows the normalised value, not the spelling.
		{FieldBankAccount, "6222021001234567890", "", "**** 4567 890"},
		{FieldPhone, "１３８ ００１３ ８０００", "CN", "+86 138****8000"},
		{FieldEmail, "O.P.S+x@GoogleMail.com", "", "o***@gmail.com"},
		// Others.
		{FieldPhone, "(650) 555-1212", "US", "+1 650****1212"},
		{FieldPhone, "+44 (0)7911 123456", "", "+44 791****3456"},
		{FieldPhone, "+86 138 0013 8000 ext. 12", "", "+86 138****8000"},
		{FieldPhone, "+49 30 1234567", "", "+49 30****67"},
		{FieldEmail, "a@foo-trading.com", "", "***@foo-trading.com"},
		{FieldBankAccount, "GB82 WEST 1234 5698 7654 32", "", "**** 7654 32"},
		{FieldBankAccount, "DE89 3704 0044 0532 0130 00", "", "**** 0130 00"},
		{FieldBankAccount, "0001 2345 6789", "", "**** 6789"},
		{FieldBankAccount, "1234567", "", "****"},
		{FieldCard, "3782 822463 10005", "", "**** 0005"},
		{FieldTaxID, "91440300MA5FXXXX1X", "", "**** XX1X"},
		{FieldTaxID, "1234567", "", "****"},
		{FieldLegalName, "Shenzhen Foo Trading Co., Ltd.", "", "s*** ltd"},
		{FieldLegalName, "Foo, Inc.", "", "f*** inc"},
		{FieldLegalName, "AB Ltd", "", "*** ltd"},
		{FieldLegalName, "深圳市福贸易有限公司", "", "深***"},
		{FieldAddress, "Room 1201, 8 Keji Rd, Nanshan, Shenzhen 518057, China", "", "*** china"},
		{FieldAddress, "Keji Rd 8", "", "***"},
		{FieldAddress, "广东省深圳市南山区科技路8号", "", "广东***"},
		{FieldAddress, "科技路8号", "", "***"},
	}
	for _, tt := range tests {
		v, err := k.Key(tt.field, tt.raw, tt.region)
		if err != nil {
			t.Errorf("Key(%s, %q): %v", tt.field, tt.raw, err)
			continue
		}
		if v.Hint != tt.want {
			t.Errorf("hint of %s %q = %q, want %q", tt.field, tt.raw, v.Hint, tt.want)
		}
		n, _ := Normalize(tt.field, tt.raw, tt.region)
		if strings.Contains(v.Hint, n) {
			t.Errorf("hint %q reveals the whole value", v.Hint)
		}
		// hint on the normalised value alone gives the same answer.
		if h := hint(tt.field, n); h != v.Hint {
			t.Errorf("hint(%s, %q) = %q, want %q", tt.field, n, h, v.Hint)
		}
	}
}
