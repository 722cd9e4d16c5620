// Package registry reads the store registry (stores.yaml): the stores a
// seller operates, the registration data each one gave a marketplace, and the
// exemptions an operator has approved.
//
// Registration values never leave this package raw. Each one is normalised
// (see Normalize), keyed with a server-side secret (see Keyer) into a digest
// of the form "hmac:<64 hex digits>", and paired with a masked hint such as
// "+86 138****8000" for people. Two stores that share a normalised value share
// its digest; equal text in two different fields never does. Errors of this
// package name the store, the field and the index of a bad value, never the
// value itself, so they are safe to log.
package registry

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// Registry is the store registry file, stores.yaml.
type Registry struct {
	// DefaultRegion is the ISO 3166-1 region used to read national phone
	// numbers of stores without a country. It is an extension of the
	// contract; empty means national numbers need the store's country.
	DefaultRegion string      `yaml:"default_region"`
	Stores        []Store     `yaml:"stores"`
	Exemptions    []Exemption `yaml:"exemptions"`
}

// Store is one seller account and the data it registered with.
type Store struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Country is the ISO 3166-1 region for national phone numbers.
	Country      string       `yaml:"country"`
	Status       string       `yaml:"status"` // StatusActive (the default), StatusSuspended or StatusClosed
	Registration Registration `yaml:"registration"`
}

// Store statuses. A finding that touches a suspended or closed store is
// raised to critical.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusClosed    = "closed"
)

// Registration is what a store registered with. Every value may be given raw
// or as its digest, "hmac:<hex>", as printed by `storefence hash`.
type Registration struct {
	LegalName    string   `yaml:"legal_name"`
	Addresses    []string `yaml:"addresses"`
	Phones       []string `yaml:"phones"`
	Emails       []string `yaml:"emails"`
	BankAccounts []string `yaml:"bank_accounts"`
	Cards        []string `yaml:"cards"`
	TaxIDs       []string `yaml:"tax_ids"`
}

// Exemption approves findings whose stores all lie in Stores, for the listed
// signals ("*" for every signal), until Expires.
type Exemption struct {
	Stores  []string `yaml:"stores"`
	Signals []string `yaml:"signals"`
	Reason  string   `yaml:"reason"`
	Expires Date     `yaml:"expires"` // zero: never expires
}

// MaxValueLen is the longest raw registration value accepted, in bytes.
const MaxValueLen = 512

// AnySignal in an exemption's signals stands for every signal.
const AnySignal = "*"

// Load reads and validates a registry file. Errors are *config.Error values
// (joined when there are several) that name the file, the line and the key.
func Load(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	return Decode(path, data)
}

// Decode decodes and validates a registry read from file; see Load. An
// empty document is an empty registry. Regions are upper-cased ("cn" is CN)
// and a store without a status is active.
func Decode(file string, data []byte) (*Registry, error) {
	var r Registry
	doc, err := config.Decode(file, data, &r)
	if err != nil {
		return nil, redact(err)
	}
	r.DefaultRegion = strings.ToUpper(strings.TrimSpace(r.DefaultRegion))
	for i := range r.Stores {
		s := &r.Stores[i]
		s.Country = strings.ToUpper(strings.TrimSpace(s.Country))
		if s.Status == "" {
			s.Status = StatusActive
		}
	}
	if err := doc.Wrap(r.Validate()); err != nil {
		return nil, err
	}
	return &r, nil
}

// redact hides the scalar values that yaml.v3 quotes between backticks in
// its type errors ("cannot unmarshal !!str `+86 138...` into []string"), and
// unknown keys that cannot be key names: they may be registration values.
func redact(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, redact(e))
		}
		return errors.Join(out...)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	c := *ce
	if i := strings.LastIndexAny(c.Key, ".]"); c.Reason == "unknown key" && strings.ContainsFunc(c.Key[i+1:], notKeyRune) {
		c.Key = c.Key[:i+1] + "(key hidden)" // a value written where a key belongs
	}
	var b strings.Builder
	rest := c.Reason
	for {
		i := strings.IndexByte(rest, '`')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '`')
		if j < 0 {
			break
		}
		b.WriteString(rest[:i] + "(value hidden)")
		rest = rest[i+1+j+1:]
	}
	b.WriteString(rest)
	c.Reason = b.String()
	return &c
}

func notKeyRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
}

// Validate checks the registry against the contract. It returns every
// problem as *config.KeyError values joined with errors.Join; their reasons
// never contain a registration value.
func (r *Registry) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if r.DefaultRegion != "" && !knownRegion(r.DefaultRegion) {
		add(config.Keyf("default_region", "unknown region %q: want an ISO 3166-1 code such as CN or US", r.DefaultRegion))
	}
	first := map[string]int{}
	for i, s := range r.Stores {
		key := "stores[" + strconv.Itoa(i) + "]"
		switch prev, dup := first[s.ID]; {
		case s.ID == "":
			add(config.Keyf(key+".id", "required"))
		case !report.ValidID(s.ID):
			add(config.Keyf(key+".id", "%q must be 1 to 64 letters, digits, '.', '_' or '-'", s.ID))
		case dup:
			add(config.Keyf(key+".id", "duplicate store %q (first at stores[%d])", s.ID, prev))
		default:
			first[s.ID] = i
		}
		if len(s.Name) > MaxValueLen {
			add(config.Keyf(key+".name", "longer than %d bytes", MaxValueLen))
		}
		countryOK := s.Country == "" || knownRegion(s.Country)
		if !countryOK {
			add(config.Keyf(key+".country", "unknown region %q: want an ISO 3166-1 code such as CN or US", s.Country))
		}
		switch s.Status {
		case StatusActive, StatusSuspended, StatusClosed:
		default:
			add(config.Keyf(key+".status", "%q must be %s, %s or %s", s.Status, StatusActive, StatusSuspended, StatusClosed))
		}
		for _, v := range s.Registration.values() {
			if v.field == FieldPhone && !countryOK {
				continue // reported once, at the country
			}
			if _, err := checkValue(v.field, v.raw, r.Region(&s)); err != nil {
				add(config.Keyf(key+".registration."+v.key, "store %q: %s", s.ID, reason(err)))
			}
		}
	}
	signals := policy.Signals()
	for i, e := range r.Exemptions {
		key := "exemptions[" + strconv.Itoa(i) + "]"
		seen := map[string]bool{}
		for j, id := range e.Stores {
			k := key + ".stores[" + strconv.Itoa(j) + "]"
			switch _, known := first[id]; {
			case !known:
				add(config.Keyf(k, "unknown store %q", id))
			case seen[id]:
				add(config.Keyf(k, "store %q listed twice", id))
			}
			seen[id] = true
		}
		if len(seen) < 2 {
			add(config.Keyf(key+".stores", "an exemption needs at least two stores"))
		}
		if len(e.Signals) == 0 {
			add(config.Keyf(key+".signals", "required: list the signals, or %q for all", AnySignal))
		}
		for j, sig := range e.Signals {
			if sig != AnySignal && !slices.Contains(signals, sig) {
				add(config.Keyf(key+".signals["+strconv.Itoa(j)+"]", "unknown signal %q (known: %s or %q)", sig, strings.Join(signals, ", "), AnySignal))
			}
		}
		if strings.TrimSpace(e.Reason) == "" {
			add(config.Keyf(key+".reason", "required: say why these stores may share"))
		}
		if e.Expires.invalid != "" {
			add(config.Keyf(key+".expires", "%s", e.Expires.invalid))
		}
	}
	return errors.Join(errs...)
}

// reason is an error's text without the operation prefix of a *ValueError.
func reason(err error) string {
	var ve *ValueError
	if errors.As(err, &ve) {
		return "invalid " + ve.Field + ": " + ve.Reason
	}
	return err.Error()
}

func knownRegion(region string) bool {
	return region != "001" && phonenumbers.GetSupportedRegions()[region]
}

// Region returns the region used to read s's national phone numbers: its
// country, else the registry's default region.
func (r *Registry) Region(s *Store) string {
	if s.Country != "" {
		return s.Country
	}
	return r.DefaultRegion
}

// Store returns the store with the given id.
func (r *Registry) Store(id string) (*Store, bool) {
	for i := range r.Stores {
		if r.Stores[i].ID == id {
			return &r.Stores[i], true
		}
	}
	return nil, false
}

// StoreValue is one keyed registration value of one store.
type StoreValue struct {
	Store string
	Value
}

// Keys returns every registration value of every store, keyed with k: the
// input of the policy engine's reg.* signals. Stores keep their file order,
// fields the order of Fields, values their list order; a value that a store
// lists twice (in any spelling that normalises alike) appears once. Errors
// are like Validate's, wrapped; a registry from Load has none.
func (r *Registry) Keys(k *Keyer) ([]StoreValue, error) {
	var out []StoreValue
	d := k.digester()
	for i := range r.Stores {
		s := &r.Stores[i]
		region := r.Region(s)
		seen := map[string]bool{}
		for _, v := range s.Registration.values() {
			val, err := d.key(v.field, v.raw, region)
			if err != nil {
				key := "stores[" + strconv.Itoa(i) + "].registration." + v.key
				return nil, fmt.Errorf("key registry: %w", config.Keyf(key, "store %q: %s", s.ID, reason(err)))
			}
			if seen[val.Digest] {
				continue
			}
			seen[val.Digest] = true
			out = append(out, StoreValue{Store: s.ID, Value: val})
		}
	}
	return out, nil
}

// regValue is one raw registration value and where it stands.
type regValue struct {
	field string
	key   string // under registration: "legal_name", "phones[2]"
	raw   string
}

// values lists g's values in the order of Fields. An empty legal name is
// absent; an empty list entry is listed, so that validation rejects it.
func (g *Registration) values() []regValue {
	var out []regValue
	if g.LegalName != "" {
		out = append(out, regValue{FieldLegalName, "legal_name", g.LegalName})
	}
	for _, l := range []struct {
		field, key string
		vals       []string
	}{
		{FieldAddress, "addresses", g.Addresses},
		{FieldPhone, "phones", g.Phones},
		{FieldEmail, "emails", g.Emails},
		{FieldBankAccount, "bank_accounts", g.BankAccounts},
		{FieldCard, "cards", g.Cards},
		{FieldTaxID, "tax_ids", g.TaxIDs},
	} {
		for i, raw := range l.vals {
			out = append(out, regValue{l.field, l.key + "[" + strconv.Itoa(i) + "]", raw})
		}
	}
	return out
}

// Active reports whether e still holds at now.
func (e *Exemption) Active(now time.Time) bool { return !e.Expires.Expired(now) }
