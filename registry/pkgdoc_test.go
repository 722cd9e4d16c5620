package registry

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDoc checks that exactly one file of the package carries the
// package comment, as tailscale's pkgdoc_test.go does.
func TestPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var withDoc []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			withDoc = append(withDoc, name)
			if !strings.HasPrefix(f.Doc.Text(), "Package registry ") {
				t.Errorf("%s: package comment does not start with \"Package registry \"", name)
			}
		}
	}
	if len(withDoc) != 1 {
		t.Errorf("package comment in %d files %v, want exactly 1", len(withDoc), withDoc)
	}
}
