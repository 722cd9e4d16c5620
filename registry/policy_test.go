package registry

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/policy"
)

func TestPolicyInput(t *testing.T) {
	digest := "hmac:" + "ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34"
	r, err := Decode("stores.yaml", []byte(`
stores:
  - id: a
    registration: {phones: ["`+digest+`"]}
  - id: b
    status: closed
    registration: {phones: ["`+digest+`"]}
exemptions:
  - {stores: [a, b], signals: ["*"], reason: approved, expires: 2027-06-30}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r.HasRawValues() {
		t.Error("HasRawValues with digests only")
	}
	in, err := r.PolicyInput(nil)
	if err != nil {
		t.Fatalf("PolicyInput without a key, digests only: %v", err)
	}
	want := &policy.Input{
		Stores:     []policy.Store{{ID: "a", Status: "active"}, {ID: "b", Status: "closed"}},
		Exemptions: []policy.Exemption{{Stores: []string{"a", "b"}, Signals: []string{"*"}, Reason: "approved", Expires: time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)}},
		Registration: []policy.RegValue{
			{Store: "a", Field: "phone", Digest: digest, Hint: "hmac:ab12cd34…"},
			{Store: "b", Field: "phone", Digest: digest, Hint: "hmac:ab12cd34…"},
		},
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("PolicyInput mismatch (-want +got):\n%s", diff)
	}

	raw, err := Decode("stores.yaml", []byte("stores:\n  - id: a\n    country: CN\n    registration: {phones: [\"138 0013 8000\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !raw.HasRawValues() {
		t.Error("HasRawValues false with a raw phone")
	}
	if _, err := raw.PolicyInput(nil); err == nil {
		t.Error("PolicyInput keyed raw values without a key")
	}
	in, err = raw.PolicyInput(testKeyer(t))
	if err != nil || len(in.Registration) != 1 || in.Registration[0].Hint != "+86 138****8000" {
		t.Errorf("PolicyInput with a key = %+v, %v", in, err)
	}
}

func TestFieldsAreThePolicyVocabulary(t *testing.T) {
	for _, f := range Fields() {
		if !policy.KnownSignal(Signal(f)) {
			t.Errorf("field %s has no policy signal", f)
		}
	}
}
