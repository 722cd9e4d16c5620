package notify

import "testing"

func TestScrub(t *testing.T) {
	err := Permanent("k", 400, "bad https://h/tok/abc and tok and abc")
	got := Scrub(err, "", "tok", "https://h/tok/abc")
	if want := "k: http 400: bad <redacted> and <redacted> and abc"; got.Error() != want {
		t.Errorf("Scrub = %q, want %q", got, want)
	}
	if err.Reason != "bad https://h/tok/abc and tok and abc" {
		t.Error("Scrub changed its argument")
	}
	if got := Scrub(err, "nothing"); got != error(err) {
		t.Error("Scrub copied an error it did not change")
	}
}
