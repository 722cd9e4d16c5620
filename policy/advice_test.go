package policy

import "testing"

func TestAdviceForEverySignal(t *testing.T) {
	for _, s := range Signals() {
		if Advice(s) == "" {
			t.Errorf("no advice for signal %s", s)
		}
	}
	if Advice("nonsense") != "" {
		t.Errorf("advice for an unknown signal")
	}
}
