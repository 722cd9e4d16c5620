package registry

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Date is when an exemption expires, written either as a calendar day,
// YYYY-MM-DD, or as an RFC 3339 instant.
//
// A day is inclusive: "expires: 2027-06-30" keeps the exemption through the
// whole of 30 June 2027 in UTC, and it lapses at 2027-07-01T00:00:00Z. A
// whole-day expiry is what an operator who types a date means; UTC keeps the
// answer the same on every machine. An instant lapses exactly at that
// instant. The zero Date never expires.
type Date struct {
	end     time.Time // the first instant at which the exemption no longer holds
	day     bool      // written as YYYY-MM-DD
	invalid string    // set by UnmarshalYAML for a bad date, reported by Validate
}

// ParseDate parses YYYY-MM-DD or an RFC 3339 time.
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return Date{end: t.AddDate(0, 0, 1), day: true}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Date{end: t}, nil
	}
	return Date{}, fmt.Errorf("parse date %q: want YYYY-MM-DD or an RFC 3339 time such as 2027-06-30T18:00:00Z", s)
}

// End returns the first instant at which the exemption no longer holds; the
// zero time when d is zero.
func (d Date) End() time.Time { return d.end }

// IsZero reports whether d is absent (never expires).
func (d Date) IsZero() bool { return d.end.IsZero() }

// Expired reports whether d has passed at now. A zero Date never expires.
func (d Date) Expired(now time.Time) bool { return !d.end.IsZero() && !now.Before(d.end) }

// Equal reports whether d and e are the same expiry written the same way.
func (d Date) Equal(e Date) bool {
	return d.end.Equal(e.end) && d.day == e.day && d.invalid == e.invalid
}

// String returns d as it would be written in the file: YYYY-MM-DD for a
// day, RFC 3339 otherwise, and "" for the zero Date.
func (d Date) String() string {
	switch {
	case d.end.IsZero():
		return ""
	case d.day:
		return d.end.AddDate(0, 0, -1).Format(time.DateOnly)
	default:
		return d.end.Format(time.RFC3339Nano)
	}
}

// UnmarshalYAML decodes a date. A bad date is kept for Validate, which
// reports it with its key and line, rather than failing the decode.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		*d = Date{invalid: "want YYYY-MM-DD or an RFC 3339 time, not a list or mapping"}
		return nil
	}
	p, err := ParseDate(n.Value)
	if err != nil {
		*d = Date{invalid: err.Error()}
		return nil
	}
	*d = p
	return nil
}

// MarshalYAML encodes d as String does.
func (d Date) MarshalYAML() (any, error) {
	if d.end.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}
