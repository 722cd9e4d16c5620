package storefence_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs checks that every package has exactly one package comment,
// so that `go doc` says what each package is for (after tailscale's
// pkgdoc_test.go).
func TestPackageDocs(t *testing.T) {
	docs := map[string][]string{} // dir → files with a package comment
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		dirs[dir] = true
		if f.Doc != nil && !strings.HasPrefix(f.Doc.Text(), "Code generated") {
			docs[dir] = append(docs[dir], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		switch n := len(docs[dir]); {
		case n == 0:
			t.Errorf("package %s has no package comment", dir)
		case n > 1:
			t.Errorf("package %s has package comments in %d files: %v", dir, n, docs[dir])
		}
	}
}
