package registry

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"
)

// NormalizePhone returns a phone number in E.164 ("+8613800138000"), with
// ";ext=N" appended when the number has an extension, so that two
// extensions of one switchboard stay distinct.
//
// The number is read with github.com/nyaruka/phonenumbers after NFKC (which
// makes full-width digits and "＋" ASCII). A number that starts with "+" or
// "00" is international. Any other number is national, read in region
// (ISO 3166-1, such as "CN"; the store's country or the registry's
// default_region) with its trunk prefix: "138 0013 8000" in CN and
// "07911 123456" in GB are both fine, "(0)" after a country code too.
// phonenumbers honours "00" only in regions whose international prefix it
// is, so "0086 138 0013 8000" read in US would be the invalid
// +1 008613800138000; when reading in region does not give a valid number,
// a leading "00" is therefore tried as "+". A number that is not valid by
// the numbering plan is an error, never matched.
func NormalizePhone(raw, region string) (string, error) {
	n, err := parsePhone(raw, region)
	if err != nil {
		return "", err
	}
	return e164(n), nil
}

func e164(n *phonenumbers.PhoneNumber) string {
	s := phonenumbers.Format(n, phonenumbers.E164)
	if ext := n.GetExtension(); ext != "" {
		s += ";ext=" + ext
	}
	return s
}

// parsePhone does NormalizePhone's work and returns the parsed number, from
// which the hint is made.
func parsePhone(raw, region string) (n *phonenumbers.PhoneNumber, err error) {
	// phonenumbers is a large port of libphonenumber; a panic inside it on
	// some odd input must not take the server down with it.
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, invalid(FieldPhone, "cannot be read")
		}
	}()
	s := strings.TrimSpace(norm.NFKC.String(strings.ToValidUTF8(raw, "")))
	if s == "" {
		return nil, invalid(FieldPhone, "empty")
	}
	region = strings.ToUpper(strings.TrimSpace(region))
	if region != "" && !knownRegion(region) {
		return nil, invalid(FieldPhone, "unknown region %q", region)
	}
	// intl is s with a leading "00" read as "+", or "" when s has none.
	var intl string
	if rest := strings.TrimLeft(s, " -.()/"); strings.HasPrefix(rest, "00") {
		intl = "+" + rest[2:]
	}
	var first error
	if region != "" || intl == "" {
		n, err := phonenumbers.Parse(s, region)
		if err == nil && phonenumbers.IsValidNumber(n) {
			return n, nil
		}
		first = phoneError(err, region, !strings.Contains(s, "+"))
	}
	if intl != "" {
		n, err := phonenumbers.Parse(intl, region)
		if err == nil && phonenumbers.IsValidNumber(n) {
			return n, nil
		}
		if first == nil {
			first = phoneError(err, "", false)
		}
	}
	return nil, first
}

// phoneError turns a phonenumbers parse result into a *ValueError; the
// library's errors are fixed strings that never quote the input. national
// tells whether the number was read as a national one in region.
func phoneError(err error, region string, national bool) error {
	switch {
	case err == nil && region != "":
		return invalid(FieldPhone, "not a valid number for region %s", region)
	case err == nil:
		return invalid(FieldPhone, "not a valid number")
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode) && national && region == "":
		return invalid(FieldPhone, "a national number needs a region: set the store's country or default_region")
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return invalid(FieldPhone, "invalid country code")
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return invalid(FieldPhone, "not a phone number")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return invalid(FieldPhone, "too short")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return invalid(FieldPhone, "too long")
	}
	return invalid(FieldPhone, "cannot be read")
}
