package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/report"
)

// Spool is the agent's delivery queue on disk: one file per report, named
// <collected_at>_<id>.json (collected_at in UTC to the millisecond, then the
// time-ordered UUIDv7 id) so that lexical order is collection order. Files
// are written atomically: a temporary file, fsync, rename, fsync of the
// directory. The spool is bounded by size and age; past either bound the
// oldest reports are dropped, and a counter kept in the file "dropped"
// remembers how many across restarts. Reports the server refused for good
// are moved to the subdirectory rejected/, which is bounded too.
//
// A Spool is safe for concurrent use by the goroutines of one process. Two
// processes on one spool (a daemon and an `agent --once`) do not corrupt it:
// a file that vanishes under one of them is skipped, and the server stores a
// report sent twice once.
type Spool struct {
	dir, rejectedDir string
	opt              SpoolOptions

	mu      sync.Mutex
	dropped int64 // persisted in dir/dropped
}

// SpoolOptions bound a spool.
type SpoolOptions struct {
	MaxBytes    int64         // total size of queued reports; 0: unbounded
	MaxAge      time.Duration // age of a queued report by its collected_at; 0: unbounded
	RejectedMax int           // rejected reports kept, newest first; 0 keeps none
	Now         func() time.Time
	Log         zerolog.Logger
}

// SpoolEntry is one queued report.
type SpoolEntry struct {
	Name        string // file name in the spool directory
	ID          string // report id
	CollectedAt time.Time
	Size        int64
}

// ErrCorrupt marks a spooled file that is not a valid report: truncated,
// not JSON, invalid, or not the report its name says.
var ErrCorrupt = errors.New("spool: corrupt report file")

const (
	droppedFile = "dropped"
	tmpPrefix   = ".tmp-"
	nameTime    = "20060102T150405.000Z"
)

// entryRE matches a spool file name: the time, then the id (the shape of
// agent ids, longer: a UUID fits, a path separator does not).
var entryRE = regexp.MustCompile(`^(\d{8}T\d{6}\.\d{3}Z)_([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.json$`)

// OpenSpool opens (creating it when needed) the spool in dir, removes the
// temporary files an interrupted write left, reads the drop counter and
// applies the bounds.
func OpenSpool(dir string, opt SpoolOptions) (*Spool, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Spool{dir: dir, rejectedDir: filepath.Join(dir, "rejected"), opt: opt}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), tmpPrefix) {
			continue
		}
		// A write interrupted before its rename: the report was never
		// queued. A recent one may be another process's write under way.
		info, err := de.Info()
		if err != nil || opt.Now().Sub(info.ModTime()) < time.Minute {
			continue
		}
		if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("spool: removing a partial write: %w", err)
		}
		opt.Log.Warn().Str("file", de.Name()).Msg("spool: removed the partial write of an interrupted run")
	}
	s.dropped = s.readDropped()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enforce(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Put queues r, then drops the oldest reports while the spool is over its
// bounds (r itself when it alone is over them).
func (s *Spool) Put(r *report.Report) error {
	name, err := entryName(r)
	if err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	data = append(data, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeFileAtomic(s.dir, name, data); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return s.enforce()
}

// Entries lists the queued reports, oldest first.
func (s *Spool) Entries() ([]SpoolEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries()
}

func (s *Spool) entries() ([]SpoolEntry, error) {
	des, err := os.ReadDir(s.dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	out := make([]SpoolEntry, 0, len(des))
	for _, de := range des {
		e, ok := parseEntryName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		e.Size = info.Size()
		out = append(out, e)
	}
	return out, nil
}

// Stats is what the spool holds and has dropped, for a report's spool field.
func (s *Spool) Stats() (report.SpoolStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.entries()
	return report.SpoolStats{Queued: int64(len(es)), Dropped: s.dropped}, err
}

// Read reads and checks a queued report. A file that has gone (sent or
// dropped meanwhile) gives an error that is fs.ErrNotExist; a file that is
// not the valid report its name announces gives ErrCorrupt.
func (s *Spool) Read(e SpoolEntry) (*report.Report, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, e.Name))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return decodeSpooled(e.Name, data)
}

// decodeSpooled decodes the spool file called name.
func decodeSpooled(name string, data []byte) (*report.Report, error) {
	e, ok := parseEntryName(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a spool file name", ErrCorrupt, name)
	}
	r, err := report.Decode(bytes.TrimSuffix(data, []byte("\n")))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if r.ID != e.ID || !r.CollectedAt.UTC().Truncate(time.Millisecond).Equal(e.CollectedAt) {
		return nil, fmt.Errorf("%w: %s holds report %q collected at %s", ErrCorrupt, name, r.ID, r.CollectedAt.UTC().Format(nameTime))
	}
	return r, nil
}

// Remove deletes a report that was delivered. A file already gone is fine.
func (s *Spool) Remove(e SpoolEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(filepath.Join(s.dir, e.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Reject moves a report the server refused for good, or a corrupt file, to
// rejected/ for inspection, and keeps only the newest RejectedMax there.
// Moving a file back into the spool directory queues it again.
func (s *Spool) Reject(e SpoolEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := filepath.Join(s.dir, e.Name)
	if s.opt.RejectedMax <= 0 {
		if err := os.Remove(src); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(s.rejectedDir, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(src, filepath.Join(s.rejectedDir, e.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return s.boundRejected()
}

// Rejected lists the file names in rejected/, oldest first.
func (s *Spool) Rejected() ([]string, error) {
	des, err := os.ReadDir(s.rejectedDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []string
	for _, de := range des {
		if de.Type().IsRegular() {
			out = append(out, de.Name())
		}
	}
	return out, nil
}

// boundRejected keeps the newest RejectedMax files of rejected/ that are
// within MaxAge. Corrupt files may have any name: they go by name order
// too, which puts names that are not times first.
func (s *Spool) boundRejected() error {
	names, err := s.Rejected()
	if err != nil {
		return err
	}
	cutoff := s.cutoff()
	for i, n := range names {
		e, ok := parseEntryName(n)
		tooOld := ok && !cutoff.IsZero() && e.CollectedAt.Before(cutoff)
		if i < len(names)-s.opt.RejectedMax || tooOld {
			if err := os.Remove(filepath.Join(s.rejectedDir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("spool: %w", err)
			}
		}
	}
	return nil
}

func (s *Spool) cutoff() time.Time {
	if s.opt.MaxAge <= 0 {
		return time.Time{}
	}
	return s.opt.Now().Add(-s.opt.MaxAge)
}

// enforce drops the reports older than MaxAge, then the oldest while the
// spool is larger than MaxBytes, and counts them. s.mu is held.
func (s *Spool) enforce() error {
	es, err := s.entries()
	if err != nil {
		return err
	}
	var total int64
	for _, e := range es {
		total += e.Size
	}
	cutoff := s.cutoff()
	var aged, full int64
	for _, e := range es {
		old := !cutoff.IsZero() && e.CollectedAt.Before(cutoff)
		over := s.opt.MaxBytes > 0 && total > s.opt.MaxBytes
		if !old && !over {
			break // entries are oldest first: the rest are younger and fit
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: dropping %s: %w", e.Name, err)
		}
		total -= e.Size
		if old {
			aged++
		} else {
			full++
		}
	}
	if aged+full == 0 {
		return nil
	}
	s.dropped += aged + full
	s.opt.Log.Warn().Int64("too_old", aged).Int64("over_size", full).Int64("dropped_total", s.dropped).
		Int64("max_bytes", s.opt.MaxBytes).Dur("max_age", s.opt.MaxAge).
		Msg("spool: dropped the oldest undelivered reports")
	data := strconv.AppendInt(nil, s.dropped, 10)
	if err := writeFileAtomic(s.dir, droppedFile, append(data, '\n')); err != nil {
		return fmt.Errorf("spool: drop counter: %w", err)
	}
	return nil
}

// readDropped reads the drop counter; a missing or unreadable one is 0.
func (s *Spool) readDropped() int64 {
	data, err := os.ReadFile(filepath.Join(s.dir, droppedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	n, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || perr != nil || n < 0 {
		s.opt.Log.Warn().Msg("spool: the drop counter is unreadable; counting from 0")
		return 0
	}
	return n
}

// entryName is the spool file name of r.
func entryName(r *report.Report) (string, error) {
	name := r.CollectedAt.UTC().Format(nameTime) + "_" + r.ID + ".json"
	if r.CollectedAt.IsZero() || !entryRE.MatchString(name) {
		return "", fmt.Errorf("spool: report id %q or collection time unfit for a file name", r.ID)
	}
	return name, nil
}

func parseEntryName(name string) (SpoolEntry, bool) {
	m := entryRE.FindStringSubmatch(name)
	if m == nil {
		return SpoolEntry{}, false
	}
	t, err := time.Parse(nameTime, m[1])
	if err != nil {
		return SpoolEntry{}, false
	}
	return SpoolEntry{Name: name, ID: m[2], CollectedAt: t}, true
}

// writeFileAtomic writes data to dir/name so that a crash leaves either the
// old file, or the new one whole: a temporary file in dir (which OpenSpool
// removes), fsync, rename, then fsync of the directory for the rename.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+name+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}
