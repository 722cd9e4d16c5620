package notify

import (
	"errors"
	"slices"
	"strings"
)

// Scrub returns err with each non-empty credential in secrets (the
// webhook URL, a token, a signing secret) replaced by "<redacted>" in its
// reason, for the receiver that echoes a request back in its answer. err
// is returned as it is when it is not an *Error or names none of them.
func Scrub(err error, secrets ...string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) }) // a URL before the token in it
	reason := e.Reason
	for _, s := range secrets {
		if s != "" {
			reason = strings.ReplaceAll(reason, s, "<redacted>")
		}
	}
	if reason == e.Reason {
		return err
	}
	c := *e
	c.Reason = reason
	return &c
}
