package registry

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// hint returns the masked hint of a normalised value of field. Hints are
// made from the normalised value, never from the raw spelling, so that every
// store sharing a digest shows the same hint. Each hint leaves
// enough out that the value cannot be read back:
//
//	legal_name    first letter, "***", the company form: "s*** ltd" (only "***" for names of one or two letters)
//	address       "*** " and the last word when it has no digit and the address has three words or more:
//	              "*** china"; a long unspaced (Chinese) address shows its first two characters: "广东***";
//	              otherwise "***"
//	phone         country code, first 3 and last 4 national digits: "+86 138****8000"
//	              (9 digits or fewer: first 2 and last 2; 6 or fewer: last 2 only)
//	email         first character of the local part, "***", the domain: "o***@foo-trading.com"
//	              (only "***@" and the domain for a local part of one character, or not starting with a letter or digit)
//	bank_account  the number in groups of four from the left, as printed on cards and IBANs, and
//	              the trailing groups within 7 characters: "**** 4567 890"; 8 to 13 characters: the
//	              last 4; fewer: "****"
//	card          the last 4 digits: "**** 1111" (PCI DSS allows no more than BIN and last 4)
//	tax_id        the last 4: "**** XX1X"; fewer than 8 characters: "****"
//	a digest      "hmac:" and its first 8 hex digits: "hmac:0123abcd…"
func hint(field, normalized string) string {
	switch field {
	case FieldLegalName:
		return legalNameHint(normalized)
	case FieldAddress:
		return addressHint(normalized)
	case FieldPhone:
		n, err := phonenumbers.Parse(strings.SplitN(normalized, ";", 2)[0], "")
		if err != nil {
			return "***"
		}
		return phoneHint(n)
	case FieldEmail:
		return emailHint(normalized)
	case FieldBankAccount:
		return bankHint(normalized)
	case FieldCard:
		return lastHint(normalized, 12)
	case FieldTaxID:
		return lastHint(normalized, 8)
	}
	return "***"
}

func legalNameHint(s string) string {
	w := strings.Fields(s)
	n, suffix := companySuffix(w)
	name := []rune(strings.Join(w[:len(w)-n], " "))
	h := "***"
	if len(name) > 2 {
		h = string(name[0]) + "***"
	}
	if suffix != "" {
		h += " " + suffix
	}
	return h
}

func addressHint(s string) string {
	w := strings.Fields(s)
	if len(w) == 0 {
		return "***"
	}
	switch last := w[len(w)-1]; {
	case len(w) >= 3 && !strings.ContainsFunc(last, unicode.IsDigit) && len([]rune(last)) <= 24:
		return "*** " + last
	case len(w) == 1 && len([]rune(s)) >= 8:
		return string([]rune(s)[:2]) + "***"
	}
	return "***"
}

func phoneHint(n *phonenumbers.PhoneNumber) string {
	nsn := phonenumbers.GetNationalSignificantNumber(n)
	var masked string
	switch l := len(nsn); {
	case l >= 10:
		masked = nsn[:3] + "****" + nsn[l-4:]
	case l >= 7:
		masked = nsn[:2] + "****" + nsn[l-2:]
	case l >= 5:
		masked = "****" + nsn[l-2:]
	default:
		masked = "****"
	}
	return "+" + strconv.Itoa(int(n.GetCountryCode())) + " " + masked
}

func emailHint(s string) string {
	at := strings.LastIndexByte(s, '@')
	local, domain := []rune(s[:at]), s[at+1:]
	if len(local) < 2 || !(unicode.IsLetter(local[0]) || unicode.IsDigit(local[0])) {
		return "***@" + domain
	}
	return string(local[0]) + "***@" + domain
}

// bankHint groups s in fours from the left and shows the trailing groups
// that fit in 7 characters: at least the last 4, since the last group has
// 1 to 4 characters and the one before it 4.
func bankHint(s string) string {
	switch {
	case len(s) >= 14:
		last := len(s) % 4
		if last == 0 {
			last = 4
		}
		tail := s[len(s)-last:]
		if last < 4 {
			tail = s[len(s)-last-4:len(s)-last] + " " + tail
		}
		return "**** " + tail
	default:
		return lastHint(s, 8)
	}
}

// lastHint shows the last 4 characters of s when it has at least minLen.
func lastHint(s string, minLen int) string {
	if len(s) < minLen {
		return "****"
	}
	return "**** " + s[len(s)-4:]
}
