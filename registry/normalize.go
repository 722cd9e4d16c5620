package registry

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/storefence/storefence/policy"
)

// Field names: the F of `storefence hash --field F`. The policy signal of a
// field is "reg." + its name; see Signal.
const (
	FieldLegalName   = "legal_name"
	FieldAddress     = "address"
	FieldPhone       = "phone"
	FieldEmail       = "email"
	FieldBankAccount = "bank_account"
	FieldCard        = "card"
	FieldTaxID       = "tax_id"
)

// Fields returns the registration field names in a fixed order.
// The list is the policy's: it owns the signal vocabulary.
func Fields() []string { return slices.Clone(policy.RegistrationFields) }

// Signal returns the policy signal of a registration field, "reg." + field.
func Signal(field string) string { return policy.RegPrefix + field }

func knownField(field string) bool {
	switch field {
	case FieldLegalName, FieldAddress, FieldPhone, FieldEmail, FieldBankAccount, FieldCard, FieldTaxID:
		return true
	}
	return false
}

// ValueError is an invalid registration value. It never holds the value, so
// it is safe to log.
type ValueError struct {
	Field  string // a field name such as "phone"
	Reason string
}

func (e *ValueError) Error() string { return "normalize " + e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &ValueError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Normalize returns the canonical form of a raw value of field, the form
// that is keyed and matched. region is the ISO 3166-1 region for national
// phone numbers; other fields ignore it. Every normaliser is pure and
// idempotent: normalising a normalised value returns it unchanged, and
// never panics. A bad value gives a *ValueError, which never quotes it.
func Normalize(field, raw, region string) (string, error) {
	switch field {
	case FieldLegalName:
		return NormalizeLegalName(raw)
	case FieldAddress:
		return NormalizeAddress(raw)
	case FieldPhone:
		return NormalizePhone(raw, region)
	case FieldEmail:
		return NormalizeEmail(raw)
	case FieldBankAccount:
		return NormalizeBankAccount(raw)
	case FieldCard:
		return NormalizeCard(raw)
	case FieldTaxID:
		return NormalizeTaxID(raw)
	}
	return "", fmt.Errorf("normalize: unknown field %q (known: %s)", field, strings.Join(Fields(), ", "))
}

// fold returns s in Unicode NFKC with case folding applied, repeated until
// stable (folding can leave text that NFKC changes again). Invalid UTF-8 is
// dropped. NFKC turns full-width letters, digits and punctuation into their
// ASCII forms ("１３８" → "138", "，" → ",") and ligatures into letters.
func fold(s string) string {
	s = strings.ToValidUTF8(s, "")
	for range 4 {
		t := norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
		if t == s {
			break
		}
		s = t
	}
	return s
}

// words splits folded text into words of letters, digits and combining
// marks. Everything else separates words, except that apostrophes and
// invisible format characters vanish ("O'Brien" = "OBrien") and "&" is the
// word "and". Words that meet at a Han, Hiragana or Katakana character are
// joined, because Chinese and Japanese put no spaces between words: "深圳市
// 南山区" = "深圳市南山区", "8 号" = "8号".
func words(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			cur.WriteRune(r)
		case r == '\'' || r == '\u2019' || r == '\u02bc' || r == '`' || unicode.Is(unicode.Cf, r):
		case r == '&':
			flush()
			out = append(out, "and")
		default:
			flush()
		}
	}
	flush()
	joined := out[:0]
	for _, w := range out {
		if n := len(joined); n > 0 && (cjk(lastRune(joined[n-1])) || cjk(firstRune(w))) {
			joined[n-1] += w
			continue
		}
		joined = append(joined, w)
	}
	return joined
}

func cjk(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

func lastRune(s string) rune {
	r := []rune(s)
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1]
}

// text is the common base of free-text fields: fold, split into words,
// rewrite the words, join them with single spaces; repeated until stable so
// that the result is a fixed point.
func text(raw string, rewrite func([]string) []string) string {
	s := raw
	for range 4 {
		t := strings.Join(rewrite(words(fold(s))), " ")
		if t == s {
			break
		}
		s = t
	}
	return s
}

// NormalizeLegalName returns the canonical form of a company or person name:
// the free-text base (NFKC, case folding, punctuation and spacing removed),
// then one trailing company-form suffix unified, as whole words only:
//
//	co ltd, co limited, company ltd, company limited, limited → ltd
//	company → co; incorporated → inc; corporation → corp
//	l l c, limited liability company → llc; l l p, limited liability partnership → llp
//	public limited company → plc; private limited, pvt ltd, pte limited → pte ltd
//	pty limited, proprietary limited → pty ltd; gesellschaft mit beschränkter haftung → gmbh
//	aktiengesellschaft → ag; s a → sa; s a r l → sarl; b v → bv; n v → nv; k k, kabushiki kaisha → kk
//
// so "Shenzhen Foo Trading Co., Ltd." and "SHENZHEN FOO TRADING LIMITED" are
// both "shenzhen foo trading ltd". Distinct forms stay distinct ("inc" is
// not "ltd"), and a name is never reduced to its suffix alone.
func NormalizeLegalName(raw string) (string, error) {
	s := text(raw, unifySuffix)
	if s == "" {
		return "", invalid(FieldLegalName, "no letters or digits")
	}
	return s, nil
}

// unifySuffix rewrites the trailing company form of w until it is canonical.
func unifySuffix(w []string) []string {
	for range len(w) + 1 {
		n, canon := companySuffix(w)
		if n == 0 {
			break
		}
		next := append(w[:len(w)-n:len(w)-n], strings.Fields(canon)...)
		if strings.Join(next, " ") == strings.Join(w, " ") {
			break
		}
		w = next
	}
	return w
}

// companySuffix returns the number of trailing words of w that form a
// company suffix, longest first, and its canonical form. At least one word
// of name is left before the suffix.
func companySuffix(w []string) (int, string) {
	for n := min(4, len(w)-1); n >= 1; n-- {
		if c := suffixForm(strings.Join(w[len(w)-n:], " ")); c != "" {
			return n, c
		}
	}
	return 0, ""
}

func suffixForm(s string) string {
	switch s {
	case "ltd", "limited", "co ltd", "co limited", "company ltd", "company limited":
		return "ltd"
	case "co", "company":
		return "co"
	case "inc", "incorporated":
		return "inc"
	case "corp", "corporation":
		return "corp"
	case "llc", "l l c", "limited liability company", "limited liability co":
		return "llc"
	case "llp", "l l p", "limited liability partnership":
		return "llp"
	case "plc", "public limited company", "public ltd co":
		return "plc"
	case "pte ltd", "pte limited", "private limited", "private ltd", "pvt ltd", "pvt limited":
		return "pte ltd"
	case "pty ltd", "pty limited", "proprietary limited":
		return "pty ltd"
	case "gmbh", "gesellschaft mit beschränkter haftung":
		return "gmbh"
	case "ag", "aktiengesellschaft":
		return "ag"
	case "sa", "s a":
		return "sa"
	case "sarl", "s a r l", "s à r l":
		return "sarl"
	case "bv", "b v":
		return "bv"
	case "nv", "n v":
		return "nv"
	case "kk", "k k", "kabushiki kaisha":
		return "kk"
	}
	return ""
}

// NormalizeAddress returns the canonical form of a postal address: the
// free-text base (NFKC, case folding, punctuation and spacing removed), then
// common abbreviations expanded, as whole words only (see expandAbbrev), so
// "Room 1201, 8 Keji Rd." and "RM 1201 8 KEJI ROAD" are both
// "room 1201 8 keji road". Chinese addresses keep their characters, 号, 室
// and 楼 included, after NFKC has made full-width digits and punctuation
// ASCII.
func NormalizeAddress(raw string) (string, error) {
	s := text(raw, func(w []string) []string {
		for i, x := range w {
			w[i] = expandAbbrev(x)
		}
		return w
	})
	if s == "" {
		return "", invalid(FieldAddress, "no letters or digits")
	}
	return s, nil
}

// expandAbbrev returns the long form of a folded address abbreviation, or w.
// "st" is always "street", never "saint": street is by far the more common
// reading in addresses, and since both sides of a comparison are expanded
// alike, "St Louis" still matches "St. Louis"; it only misses "Saint Louis",
// which is never a false alarm. Likewise "fl" is always "floor" (not
// Florida), "ct" "court", "dr" "drive" and "no"/"nr" "number".
func expandAbbrev(w string) string {
	switch w {
	case "rd":
		return "road"
	case "st":
		return "street"
	case "ave", "av":
		return "avenue"
	case "blvd":
		return "boulevard"
	case "rm":
		return "room"
	case "fl", "flr":
		return "floor"
	case "bldg", "bld":
		return "building"
	case "apt":
		return "apartment"
	case "ste":
		return "suite"
	case "no", "nr":
		return "number"
	case "dist":
		return "district"
	case "hwy":
		return "highway"
	case "ln":
		return "lane"
	case "dr":
		return "drive"
	case "ct":
		return "court"
	case "pl":
		return "place"
	case "sq":
		return "square"
	case "ctr", "centre":
		return "center"
	case "twr":
		return "tower"
	case "blk":
		return "block"
	case "pkwy":
		return "parkway"
	case "prov":
		return "province"
	}
	return w
}

// NormalizeEmail returns the canonical form of an e-mail address: NFKC,
// case folded, trimmed. For gmail.com and googlemail.com, which ignore dots
// and "+tags" in the local part, the dots and the tag are dropped and the
// domain is gmail.com: "J.Smith+shop@googlemail.com" is
// "jsmith@gmail.com". Other providers keep both: most honour dots, and
// whether a "+tag" reaches the same mailbox is each provider's choice, so
// dropping them could make distinct addresses match.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(fold(raw))
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", invalid(FieldEmail, "no @")
	}
	local, domain := s[:at], s[at+1:]
	domain = strings.Map(func(r rune) rune {
		if r == '\u3002' { // ideographic full stop, a dot in IDNA
			return '.'
		}
		return r
	}, domain)
	domain = strings.TrimSuffix(domain, ".")
	if local == "" {
		return "", invalid(FieldEmail, "empty local part")
	}
	if len(local) > 64 {
		return "", invalid(FieldEmail, "local part longer than 64 bytes")
	}
	for _, r := range local {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '@' || r == '<' || r == '>' || r == ',' || r == ';' {
			return "", invalid(FieldEmail, "unexpected character in the local part")
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", invalid(FieldEmail, "domain needs a dot")
	}
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "", invalid(FieldEmail, "bad domain label")
		}
		for _, r := range l {
			if !(unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || r == '-') {
				return "", invalid(FieldEmail, "unexpected character in the domain")
			}
		}
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local, _, _ = strings.Cut(local, "+")
		local = strings.ReplaceAll(local, ".", "")
		domain = "gmail.com"
		if local == "" {
			return "", invalid(FieldEmail, "empty gmail local part")
		}
	}
	return local + "@" + domain, nil
}

// NormalizeBankAccount returns a bank account number as bare uppercase
// ASCII letters and digits: spaces, dashes and other separators go, an IBAN
// stays whole ("gb82 west 1234 5698 7654 32" → "GB82WEST12345698765432").
// A value shaped like an IBAN (two letters, two digits, 11 to 30 letters or
// digits) must pass the ISO 13616 mod-97 check.
func NormalizeBankAccount(raw string) (string, error) {
	s, err := alnum(FieldBankAccount, raw, true, 4, 34)
	if err != nil {
		return "", err
	}
	if ibanShaped(s) && !ibanValid(s) {
		return "", invalid(FieldBankAccount, "IBAN check digits do not match")
	}
	return s, nil
}

// NormalizeCard returns a payment card number (PAN) as bare digits. It must
// have 12 to 19 digits and pass the Luhn check.
func NormalizeCard(raw string) (string, error) {
	s, err := alnum(FieldCard, raw, false, 12, 19)
	if err != nil {
		return "", err
	}
	if !luhn(s) {
		return "", invalid(FieldCard, "fails the Luhn check")
	}
	return s, nil
}

// NormalizeTaxID returns a tax or company registration id as bare uppercase
// ASCII letters and digits ("91440300-MA5F" → "91440300MA5F").
func NormalizeTaxID(raw string) (string, error) {
	return alnum(FieldTaxID, raw, true, 4, 32)
}

// alnum keeps the ASCII letters (uppercased) and digits of NFKC(raw) and
// drops everything else as separators. Other letters and digits, which an
// id never has, are errors rather than dropped, so that distinct values are
// never made equal.
func alnum(field, raw string, letters bool, minLen, maxLen int) (string, error) {
	var b strings.Builder
	for _, r := range norm.NFKC.String(strings.ToValidUTF8(raw, "")) {
		switch {
		case '0' <= r && r <= '9':
			b.WriteRune(r)
		case letters && 'A' <= r && r <= 'Z':
			b.WriteRune(r)
		case letters && 'a' <= r && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			if letters {
				return "", invalid(field, "only ASCII letters and digits are allowed")
			}
			return "", invalid(field, "only digits are allowed")
		}
	}
	s := b.String()
	if len(s) < minLen || len(s) > maxLen {
		return "", invalid(field, "has %d letters or digits, want %d to %d", len(s), minLen, maxLen)
	}
	return s, nil
}

func ibanShaped(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
		s[2] >= '0' && s[2] <= '9' && s[3] >= '0' && s[3] <= '9'
}

// ibanValid computes the ISO 13616 check: the first four characters moved
// to the end, letters as 10 to 35, the number mod 97 must be 1.
func ibanValid(s string) bool {
	m := 0
	for _, r := range s[4:] + s[:4] {
		switch {
		case r >= '0' && r <= '9':
			m = (m*10 + int(r-'0')) % 97
		default:
			m = (m*100 + int(r-'A'+10)) % 97
		}
	}
	return m == 1
}

func luhn(s string) bool {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
