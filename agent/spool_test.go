package agent

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/report"
)

func entryIDs(t *testing.T, s *Spool) []string {
	t.Helper()
	es, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestSpoolOrderAndRoundTrip(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{})
	// Put out of order: the spool orders by collection time, then by id
	// (UUIDv7, time-ordered within one millisecond).
	a, b, c := testReport(t0), testReport(t0.Add(time.Minute)), testReport(t0.Add(2*time.Minute))
	same1, same2 := testReport(t0.Add(time.Hour)), testReport(t0.Add(time.Hour))
	for _, r := range []*report.Report{c, a, same2, b, same1} {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{a.ID, b.ID, c.ID, same1.ID, same2.ID}
	if diff := cmp.Diff(want, entryIDs(t, s)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	es, _ := s.Entries()
	got, err := s.Read(es[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("round trip (-put +read):\n%s", diff)
	}
	if st, _ := s.Stats(); st.Queued != 5 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 5 queued", st)
	}
	if err := s.Remove(es[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(es[0]); err != nil {
		t.Errorf("removing a file already gone: %v", err)
	}
	if _, err := s.Read(es[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a removed entry: %v, want fs.ErrNotExist", err)
	}
}

func TestSpoolRefusesUnsafeIDs(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{})
	for _, id := range []string{"../../etc/passwd", "a/b", ".hidden", ""} {
		r := testReport(t0)
		r.ID = id
		if err := s.Put(r); err == nil {
			t.Errorf("Put with id %q succeeded", id)
		}
	}
	if ids := entryIDs(t, s); len(ids) != 0 {
		t.Errorf("entries %v, want none", ids)
	}
}

// TestSpoolLeftoverTempFile: a write interrupted before its rename leaves a
// temporary file that is never read as a report, and is removed at the
// next start once it is clearly abandoned.
func TestSpoolLeftoverTempFile(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	s := openSpool(t, dir, SpoolOptions{Now: func() time.Time { return now }})
	r := testReport(t0)
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	name, _ := entryName(testReport(t0.Add(time.Minute)))
	old := filepath.Join(dir, tmpPrefix+name+".123")
	fresh := filepath.Join(dir, tmpPrefix+name+".456")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte(`{"schema":"storefence.rep`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Chtimes(old, now.Add(-time.Hour), now.Add(-time.Hour))
	if diff := cmp.Diff([]string{r.ID}, entryIDs(t, s)); diff != "" {
		t.Errorf("a temporary file was listed (-want +got):\n%s", diff)
	}
	s = openSpool(t, dir, SpoolOptions{Now: func() time.Time { return now }})
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the abandoned temporary file is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary file young enough to be another process's write was removed: %v", err)
	}
	if diff := cmp.Diff([]string{r.ID}, entryIDs(t, s)); diff != "" {
		t.Errorf("entries after reopening (-want +got):\n%s", diff)
	}
}

func TestSpoolBoundBySize(t *testing.T) {
	dir := t.TempDir()
	size := func(r *report.Report) int64 { b, _ := json.Marshal(r); return int64(len(b) + 1) }
	var rs []*report.Report
	for i := range 5 {
		rs = append(rs, testReport(t0.Add(time.Duration(i)*time.Minute)))
	}
	opt := SpoolOptions{MaxBytes: 3*size(rs[0]) + 10}
	s := openSpool(t, dir, opt)
	for _, r := range rs {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{rs[2].ID, rs[3].ID, rs[4].ID}, entryIDs(t, s)); diff != "" {
		t.Errorf("after overflow (-want +got):\n%s", diff)
	}
	if st, _ := s.Stats(); st != (report.SpoolStats{Queued: 3, Dropped: 2}) {
		t.Errorf("stats %+v, want 3 queued, 2 dropped", st)
	}
	// The counter survives a restart and keeps counting.
	s = openSpool(t, dir, opt)
	if st, _ := s.Stats(); st.Dropped != 2 {
		t.Errorf("after a restart: dropped %d, want 2", st.Dropped)
	}
	s.Put(testReport(t0.Add(time.Hour)))
	if st, _ := s.Stats(); st != (report.SpoolStats{Queued: 3, Dropped: 3}) {
		t.Errorf("stats %+v, want 3 queued, 3 dropped", st)
	}
	// A smaller bound at the next start applies at once.
	opt.MaxBytes = size(rs[0]) + 10
	s = openSpool(t, dir, opt)
	if st, _ := s.Stats(); st != (report.SpoolStats{Queued: 1, Dropped: 5}) {
		t.Errorf("after shrinking the bound: %+v, want 1 queued, 5 dropped", st)
	}
}

func TestSpoolBoundByAge(t *testing.T) {
	dir := t.TempDir()
	now := t0
	opt := SpoolOptions{MaxAge: 30 * 24 * time.Hour, Now: func() time.Time { return now }}
	s := openSpool(t, dir, opt)
	old, young := testReport(now.Add(-31*24*time.Hour)), testReport(now.Add(-29*24*time.Hour))
	s.Put(young)
	s.Put(old) // older than the bound the moment it comes in
	if diff := cmp.Diff([]string{young.ID}, entryIDs(t, s)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Two days later, at the next start, the young one is old too.
	now = now.Add(2 * 24 * time.Hour)
	s = openSpool(t, dir, opt)
	if st, _ := s.Stats(); st != (report.SpoolStats{Queued: 0, Dropped: 2}) {
		t.Errorf("stats %+v, want 0 queued, 2 dropped", st)
	}
}

func TestSpoolDropCounterUnreadable(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, droppedFile), []byte("many\n"), 0o600)
	sink := newLogSink()
	s := openSpool(t, dir, SpoolOptions{Log: sink.logger()})
	if st, _ := s.Stats(); st.Dropped != 0 {
		t.Errorf("dropped %d, want 0 from an unreadable counter", st.Dropped)
	}
	if !strings.Contains(sink.String(), "drop counter is unreadable") {
		t.Errorf("no warning about the counter: %s", sink)
	}
}

func TestSpoolRejectedIsBounded(t *testing.T) {
	dir := t.TempDir()
	now := t0
	s := openSpool(t, dir, SpoolOptions{RejectedMax: 2, MaxAge: 30 * 24 * time.Hour, Now: func() time.Time { return now }})
	for i := range 4 {
		s.Put(testReport(t0.Add(time.Duration(i) * time.Minute)))
	}
	es, _ := s.Entries()
	for _, e := range es {
		if err := s.Reject(e); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Rejected()
	want := []string{es[2].Name, es[3].Name}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejected/ keeps the newest 2 (-want +got):\n%s", diff)
	}
	if ids := entryIDs(t, s); len(ids) != 0 {
		t.Errorf("rejected reports still queued: %v", ids)
	}
	// A month later the next rejection clears the old ones by age.
	now = now.Add(31 * 24 * time.Hour)
	r := testReport(now)
	s.Put(r)
	es, _ = s.Entries()
	s.Reject(es[0])
	if got, _ := s.Rejected(); len(got) != 1 || !strings.Contains(got[0], r.ID) {
		t.Errorf("rejected/ = %v, want only %s", got, r.ID)
	}
	// With RejectedMax 0 nothing is kept.
	s = openSpool(t, t.TempDir(), SpoolOptions{})
	s.Put(r)
	es, _ = s.Entries()
	s.Reject(es[0])
	if got, _ := s.Rejected(); len(got) != 0 || len(entryIDs(t, s)) != 0 {
		t.Errorf("RejectedMax 0 kept %v", got)
	}
}

func TestDecodeSpooledCorrupt(t *testing.T) {
	r := testReport(t0)
	name, _ := entryName(r)
	good, _ := json.Marshal(r)
	other := testReport(t0)
	otherData, _ := json.Marshal(other)
	tests := []struct {
		name, file string
		data       []byte
	}{
		{"truncated", name, good[:len(good)/2]},
		{"empty", name, nil},
		{"not JSON", name, []byte("\x00\x01garbage")},
		{"trailing data", name, append(append([]byte{}, good...), []byte("{}")...)},
		{"invalid report", name, []byte(`{"schema":"storefence.report/v1","id":"` + r.ID + `","agent":"bad agent","collected_at":"2026-11-22T10:00:00Z"}`)},
		{"another report", name, otherData},
		{"bad name", "notes.json", good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeSpooled(tt.file, tt.data); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeSpooled = %v, want ErrCorrupt", err)
			}
		})
	}
	if _, err := decodeSpooled(name, append(good, '\n')); err != nil {
		t.Errorf("a good file: %v", err)
	}
}

func FuzzDecodeSpooled(f *testing.F) {
	r := testReport(t0)
	r.Spool = &report.SpoolStats{Queued: 3, Dropped: 1}
	name, _ := entryName(r)
	good, _ := json.Marshal(r)
	f.Add(name, good)
	f.Add(name, good[:40])
	f.Add("20261122T100000.000Z_x.json", []byte(`{"schema":"storefence.report/v1","id":"x","agent":"a","collected_at":"2026-11-22T10:00:00Z"}`))
	f.Add("junk", []byte("{"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		got, err := decodeSpooled(name, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// What decodes is a valid report that the spool would write back
		// under the same name.
		if err := got.Validate(); err != nil {
			t.Fatalf("decoded an invalid report: %v", err)
		}
		if n, err := entryName(got); err != nil || n != name {
			t.Fatalf("decoded %q from %q (%v)", n, name, err)
		}
	})
}
