package report

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const line1 = `{"schema":"storefence.report/v1","id":"r1","agent":"a","stores":["s"],"collected_at":"2026-11-22T10:00:00Z"}`
const line2 = `{"schema":"storefence.report/v1","id":"r2","agent":"b","stores":["s"],"collected_at":"2026-11-22T10:00:00Z"}`

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(data string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(data))
	w.Close()
	return b.Bytes()
}

func TestReadPaths(t *testing.T) {
	dir := t.TempDir()
	pretty, _ := os.ReadFile("testdata/full.json")
	write(t, dir, "a/one.json", pretty)
	write(t, dir, "a/many.jsonl", []byte(line1+"\n"+line2+"\n"))
	write(t, dir, "b/zipped.jsonl.gz", gz(line1+"\n"))
	write(t, dir, "b/notes.txt", []byte("not a report"))
	var ids []string
	err := ReadPaths([]string{dir}, func(r *Report) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ids, ","), "r1,r2,0b6f3c1e-4d2a-4f7e-9c1a-2b3c4d5e6f70,r1"; got != want {
		t.Errorf("read ids %s, want %s", got, want)
	}
}

func TestReadPathsErrors(t *testing.T) {
	bad := strings.Replace(line2, `"agent":"b"`, `"agent":"b c"`, 1)
	tests := []struct {
		name, file, data string
		wantLine         int
		wantErr          string
	}{
		{"invalid report on line 3", "x.jsonl", line1 + "\n" + line1 + "\n" + bad + "\n", 3, "agent:"},
		{"syntax error on line 2", "x.jsonl", line1 + "\n{\"schema\": \n", 2, "unexpected EOF"},
		{"syntax error on line 3", "x.jsonl", line1 + "\n" + line2 + "\n" + `{"schema": ]` + "\n", 3, "invalid character"},
		{"unknown field on line 2", "x.jsonl", line1 + "\n" + strings.Replace(line2, `"id"`, `"colour":1,"id"`, 1) + "\n", 2, `unknown field "colour"`},
		{"blank lines do not shift the count", "x.jsonl", "\n\n" + bad + "\n", 3, "agent:"},
		{"empty file", "x.json", "", 1, "no report in file"},
		{"not gzip after all", "x.json.gz", "\x1f\x8bnot gzip", 1, "gzip:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, t.TempDir(), tt.file, []byte(tt.data))
			err := ReadPaths([]string{p}, func(*Report) error { return nil })
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("ReadPaths = %v, want a *FileError", err)
			}
			if fe.Path != p || fe.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadPaths = %v (line %d), want %s:%d: …%s…", err, fe.Line, p, tt.wantLine, tt.wantErr)
			}
		})
	}
}

func TestReadPathsMissing(t *testing.T) {
	if err := ReadPaths([]string{filepath.Join(t.TempDir(), "nope")}, func(*Report) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadPaths of a missing path = %v, want ErrNotExist", err)
	}
}

func FuzzReadFile(f *testing.F) {
	f.Add([]byte(line1 + "\n" + line2))
	f.Add(gz(line1))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := ReadFile(p, func(r *Report) error {
			if err := r.Validate(); err != nil {
				t.Fatalf("ReadFile passed an invalid report: %v", err)
			}
			return nil
		})
		var fe *FileError
		if err != nil && (!errors.As(err, &fe) || fe.Line < 1) {
			t.Fatalf("error %v is not a located *FileError", err)
		}
	})
}
