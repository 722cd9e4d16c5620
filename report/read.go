package report

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileError is a bad report in a file, located by line.
type FileError struct {
	Path string
	Line int
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// reportExts are the names ReadPaths picks up inside folders.
var reportExts = []string{".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz"}

// ReadPaths reads every report in paths and calls fn with each, in order.
// A path is a file (one JSON report, JSON Lines, or a gzip of either) or a
// folder, walked recursively for files named *.json, *.jsonl, *.ndjson and
// their .gz forms. The first malformed or invalid report stops the walk with
// a *FileError naming the file and line.
func ReadPaths(paths []string, fn func(*Report) error) error {
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := ReadFile(f, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func expand(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && hasExt(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

func hasExt(name string) bool {
	name = strings.ToLower(name)
	for _, e := range reportExts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// ReadFile reads the reports of one file; see ReadPaths.
func ReadFile(path string, fn func(*Report) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	defer f.Close()
	r, err := maybeGunzip(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return &FileError{Path: path, Line: 1, Err: err}
	}
	// Decoding and validating (the costly part) run in their own goroutine
	// while fn consumes, so that a large file uses two cores.
	type item struct {
		rep  *Report
		line int
		err  error
	}
	items := make(chan item, 256)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(items)
		send := func(it item) bool {
			select {
			case items <- it:
				return true
			case <-done:
				return false
			}
		}
		lc := &lineCounter{r: r}
		dec := json.NewDecoder(lc)
		dec.DisallowUnknownFields()
		for n := 0; ; n++ {
			startOff := dec.InputOffset()
			rep := new(Report)
			err := dec.Decode(rep)
			if errors.Is(err, io.EOF) {
				if n == 0 {
					send(item{line: 1, err: errors.New("no report in file")})
				}
				return
			}
			// The value's bytes are read now, so its first line is known.
			start := lc.lineAt(startOff)
			var se *json.SyntaxError
			switch {
			case errors.As(err, &se):
				send(item{line: lc.lineAt(max(se.Offset-1, startOff)), err: err})
				return
			case err != nil:
				send(item{line: start, err: jsonError(err)})
				return
			}
			if err := rep.Validate(); err != nil {
				send(item{line: start, err: err})
				return
			}
			if !send(item{rep: rep, line: start}) {
				return
			}
		}
	}()
	for it := range items {
		if it.err == nil {
			it.err = fn(it.rep)
		}
		if it.err != nil {
			return &FileError{Path: path, Line: it.line, Err: it.err}
		}
	}
	return nil
}

func maybeGunzip(br *bufio.Reader) (io.Reader, error) {
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// lineCounter remembers where each line starts in what it has read, so that
// a decoder's byte offset can be turned into a line number.
type lineCounter struct {
	r    io.Reader
	read int64
	nl   []int64 // offsets of the newlines read and not yet passed
	base int     // newlines before nl[0]
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			c.nl = append(c.nl, c.read+int64(i))
		}
	}
	c.read += int64(n)
	return n, err
}

// lineAt returns the 1-based line of byte offset off, skipping forward over
// the newlines that directly follow off (the line end before a value).
// Offsets must not decrease from call to call: lines passed are forgotten,
// so that a long file costs no memory.
func (c *lineCounter) lineAt(off int64) int {
	i := sort.Search(len(c.nl), func(i int) bool { return c.nl[i] >= off })
	for i < len(c.nl) && c.nl[i] == off {
		off++
		i++
	}
	c.base += i
	c.nl = c.nl[i:]
	return c.base + 1
}
