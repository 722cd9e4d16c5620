//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/storefence/storefence/registry"
)

func runHash(_ context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "hash")
	field := fs.String("field", "", "registration field: "+strings.Join(registry.Fields(), ", "))
	region := fs.String("region", "", "ISO region of a national phone number, e.g. CN")
	secretFlag := secretFileFlag(fs)
	if code := parseFlagsAnyOrder(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return fail(e, "hash", usageError{"give exactly one VALUE (quote it if it has spaces)"})
	}
	if !contains(registry.Fields(), *field) {
		return fail(e, "hash", usageError{fmt.Sprintf("--field %q: want one of %s", *field, strings.Join(registry.Fields(), ", "))})
	}
	k, err := loadKeyer(*secretFlag, "hash needs the digest key")
	if err != nil {
		return fail(e, "hash", err)
	}
	v, err := k.Key(*field, fs.Arg(0), strings.ToUpper(*region))
	if err != nil {
		return fail(e, "hash", usageError{err.Error()})
	}
	fmt.Fprintln(e.stdout, v.Digest)
	return 0
}
