package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	good := fstest.MapFS{
		"m/0002_more.sql": file("B"),
		"m/0001_init.sql": file("A"),
		"m/README":        file("not a migration"),
	}
	ms, err := Load(good, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].SQL != "A" || ms[1].Name != "0002_more.sql" {
		t.Errorf("Load = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"m/0001_a.sql": file(""), "m/0003_c.sql": file("")},
		"twice":    {"m/0001_a.sql": file(""), "m/001_b.sql": file("")},
		"bad name": {"m/init.sql": file("")},
		"zero":     {"m/0000_a.sql": file("")},
		"none":     {"m/README": file("")},
		"no dir":   {},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("Load(%s) = nil error", name)
		}
	}
}
