package registry

import (
	"errors"
	"strings"

	"github.com/storefence/storefence/policy"
)

// HasRawValues reports whether any registration value is given raw rather
// than as a digest, so that keying it needs the secret.
func (r *Registry) HasRawValues() bool {
	for i := range r.Stores {
		for _, v := range r.Stores[i].Registration.values() {
			if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v.raw)), DigestPrefix) {
				return true
			}
		}
	}
	return false
}

// PolicyInput is the registry as the policy engine takes it: stores with
// their status, exemptions, and every registration value keyed with k. k may
// be nil when every value is already a digest.
func (r *Registry) PolicyInput(k *Keyer) (*policy.Input, error) {
	if k == nil {
		if r.HasRawValues() {
			return nil, errors.New("key registry: raw registration values need the digest key")
		}
		k = &Keyer{key: make([]byte, MinSecretLen)} // never used: every value is a digest
	}
	vals, err := r.Keys(k)
	if err != nil {
		return nil, err
	}
	in := &policy.Input{
		Stores:       make([]policy.Store, len(r.Stores)),
		Exemptions:   make([]policy.Exemption, len(r.Exemptions)),
		Registration: make([]policy.RegValue, len(vals)),
	}
	for i, s := range r.Stores {
		status := s.Status
		if status == "" {
			status = StatusActive
		}
		in.Stores[i] = policy.Store{ID: s.ID, Status: status}
	}
	for i, e := range r.Exemptions {
		in.Exemptions[i] = policy.Exemption{Stores: e.Stores, Signals: e.Signals, Reason: e.Reason, Expires: e.Expires.End()}
	}
	for i, v := range vals {
		in.Registration[i] = policy.RegValue{Store: v.Store, Field: v.Field, Digest: v.Digest, Hint: v.Hint}
	}
	return in, nil
}
