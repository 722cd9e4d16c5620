package sessions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/storefence/storefence/report"
)

// Values of ut_type (glibc <bits/utmp.h>).
const (
	utEmpty       = 0
	utRunLvl      = 1
	utBootTime    = 2
	utUserProcess = 7
	utDeadProcess = 8
	utAccounting  = 9 // the highest type glibc defines

	// shutdownUser is the ut_user of the RUN_LVL record written at shutdown.
	shutdownUser = "shutdown"
)

// wtmpReadBuffer is the read size of readWtmp, 42 records of 384 bytes:
// wtmp is streamed, never loaded whole.
const wtmpReadBuffer = 16 << 10

// Offsets in glibc's struct utmp. Up to ut_session they are the same on
// every Linux architecture:
//
//	short   ut_type;        //   0, then 2 bytes of padding
//	pid_t   ut_pid;         //   4
//	char    ut_line[32];    //   8
//	char    ut_id[4];       //  40
//	char    ut_user[32];    //  44
//	char    ut_host[256];   //  76
//	struct exit_status {short e_termination, e_exit;} ut_exit; // 332
//
// Then, when __WORDSIZE_TIME64_COMPAT32 is 1 (x86-64, ppc64, s390x, mips64,
// riscv64) and on every 32-bit architecture:
//
//	int32_t ut_session;     // 336
//	struct {int32_t tv_sec, tv_usec;} ut_tv;  // 340, 344 (tv_sec is unsigned since glibc 2.40)
//	int32_t ut_addr_v6[4];  // 348
//	char    __glibc_reserved[20];             // 364; sizeof 384
//
// and when it is 0 (aarch64, loongarch64), with 64-bit longs:
//
//	long    ut_session;     // 336
//	struct timeval ut_tv;   // 344, 352
//	int32_t ut_addr_v6[4];  // 360
//	char    __glibc_reserved[20];             // 376; padded to sizeof 400
const (
	offType    = 0
	offLine    = 8
	lenLine    = 32
	offUser    = 44
	lenUser    = 32
	offHost    = 76
	lenHost    = 256
	offSession = 336
	lenAddr    = 16
)

// utmpLayout is glibc's struct utmp on one architecture.
type utmpLayout struct {
	size  int // sizeof(struct utmp): 384 or 400
	wide  bool
	order binary.ByteOrder
}

// utmpLayoutFor returns the struct utmp layout of a Linux GOARCH, false for
// an architecture it does not know.
func utmpLayoutFor(goarch string) (utmpLayout, bool) {
	switch goarch {
	case "amd64", "386", "arm", "riscv64", "ppc64le", "mipsle", "mips64le":
		return utmpLayout{size: 384, order: binary.LittleEndian}, true
	case "ppc64", "s390x", "mips", "mips64":
		return utmpLayout{size: 384, order: binary.BigEndian}, true
	case "arm64", "loong64":
		return utmpLayout{size: 400, wide: true, order: binary.LittleEndian}, true
	}
	return utmpLayout{}, false
}

// utmpRecord is one decoded struct utmp. Its byte slices point into the
// record buffer and have the trailing NULs removed.
type utmpRecord struct {
	typ  int16
	line []byte
	user []byte
	host []byte
	addr [lenAddr]byte // ut_addr_v6 as stored: network byte order
	time time.Time
}

// errBadRecord is returned by parseRecord for a record that is not one.
var errBadRecord = errors.New("not a utmp record")

// parseRecord decodes one struct utmp from b, which holds at least l.size
// bytes. It returns errBadRecord for bytes that cannot be a record: a type
// glibc does not define, or microseconds out of range.
func (l utmpLayout) parseRecord(b []byte) (utmpRecord, error) {
	if len(b) < l.size {
		return utmpRecord{}, errBadRecord
	}
	rec := utmpRecord{typ: int16(l.order.Uint16(b[offType:]))}
	if rec.typ < utEmpty || rec.typ > utAccounting {
		return utmpRecord{}, errBadRecord
	}
	var sec, usec int64
	var addr int
	if l.wide {
		sec = int64(l.order.Uint64(b[offSession+8:]))
		usec = int64(l.order.Uint64(b[offSession+16:]))
		addr = offSession + 24
	} else {
		sec = int64(l.order.Uint32(b[offSession+4:])) // unsigned: glibc 2.40
		usec = int64(int32(l.order.Uint32(b[offSession+8:])))
		addr = offSession + 12
	}
	if usec < 0 || usec >= 1e6 {
		return utmpRecord{}, errBadRecord
	}
	rec.line = cstring(b[offLine : offLine+lenLine])
	rec.user = cstring(b[offUser : offUser+lenUser])
	rec.host = cstring(b[offHost : offHost+lenHost])
	copy(rec.addr[:], b[addr:addr+lenAddr])
	rec.time = time.Unix(sec, usec*1000).UTC()
	return rec, nil
}

// cstring returns b up to its first NUL.
func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// origin returns where the record's login came from: its address when set
// (session_origin matches addresses, and with sshd's UseDNS the host is a
// name), else its host, "" for a local login. Like util-linux last, it reads
// ut_addr_v6 as IPv4 when only its first word is set.
func (r *utmpRecord) origin() string {
	host := origin(string(r.host))
	switch {
	case r.addr == [lenAddr]byte{}:
		return host
	case [12]byte(r.addr[4:]) == [12]byte{}:
		return netip.AddrFrom4([4]byte(r.addr[:4])).String()
	}
	return netip.AddrFrom16(r.addr).Unmap().String()
}

// wtmpStats counts what readWtmp saw, for the log.
type wtmpStats struct {
	records   int  // whole records read
	invalid   int  // of which not valid records (garbage)
	truncated bool // the file ended inside a record
}

// readWtmp streams the wtmp records of r and returns the remote logins that
// started, or were still open, at or after cutoff: at most limit, most recent
// first. A login ends at the next DEAD_PROCESS or USER_PROCESS record of its
// line, or at the next reboot (BOOT_TIME) or shutdown (RUN_LVL "shutdown")
// record, as util-linux last reads them; one never ended is still open.
//
// Records that are not valid are skipped and counted. A partial record at
// the end (a login being written while we read, or a crash mid-write) is
// ignored and reported in wtmpStats, not as an error. A read error returns
// what was read before it together with the error.
func readWtmp(ctx context.Context, r io.Reader, l utmpLayout, cutoff time.Time, limit int) ([]report.Session, wtmpStats, error) {
	var st wtmpStats
	if limit <= 0 {
		return nil, st, nil
	}
	type pending struct {
		line string // ut_line as recorded: the key of open
		s    report.Session
	}
	var (
		br       = bufio.NewReaderSize(r, wtmpReadBuffer)
		buf      = make([]byte, l.size)
		open     = make(map[string]pending)
		lineless []report.Session // logins without a line end only at reboot
		kept     []report.Session
		readErr  error
	)
	end := func(s report.Session, t time.Time) {
		s.Ended = &t
		if s.Started.Before(cutoff) && t.Before(cutoff) {
			return
		}
		kept = append(kept, s)
		if len(kept) >= 2*limit { // keep memory bounded on a busy server
			slices.SortFunc(kept, compareSessions)
			clear(kept[limit:])
			kept = kept[:limit]
		}
	}
	endAll := func(t time.Time) {
		for _, p := range open {
			end(p.s, t)
		}
		clear(open)
		for _, s := range lineless {
			end(s, t)
		}
		lineless = lineless[:0]
	}

	for {
		if st.records%1024 == 0 {
			if err := ctx.Err(); err != nil {
				readErr = err
				break
			}
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				st.truncated = true
			} else if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("read wtmp: %w", err)
			}
			break
		}
		st.records++
		rec, err := l.parseRecord(buf)
		if err != nil {
			st.invalid++
			continue
		}
		switch rec.typ {
		case utUserProcess:
			if p, ok := open[string(rec.line)]; ok { // the line was reused
				delete(open, p.line)
				end(p.s, rec.time)
			}
			o := rec.origin()
			if o == "" {
				continue // local login
			}
			line := string(rec.line)
			s := report.Session{
				User:     clean(string(rec.user)),
				Terminal: clean(line),
				Origin:   o,
				Started:  rec.time,
				Source:   sourceWtmp,
			}
			if line == "" {
				lineless = append(lineless, s)
				continue
			}
			open[line] = pending{line: line, s: s}
		case utDeadProcess:
			if p, ok := open[string(rec.line)]; ok {
				delete(open, p.line)
				end(p.s, rec.time)
			}
		case utBootTime:
			endAll(rec.time)
		case utRunLvl:
			if string(rec.user) == shutdownUser {
				endAll(rec.time)
			}
		}
	}

	if readErr == nil { // still open: kept whenever they started
		for _, p := range open {
			kept = append(kept, p.s)
		}
		kept = append(kept, lineless...)
	}
	slices.SortFunc(kept, compareSessions)
	if len(kept) > limit {
		kept = slices.Clip(kept[:limit])
	}
	return kept, st, readErr
}
