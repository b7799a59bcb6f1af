package kv

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"unsafe"
)

// # The state file
//
// A state file is in BuntDB's own append-only format, a series of RESP arrays
//
//	*3\r\n$3\r\nset\r\n$<len>\r\n<key>\r\n$<len>\r\n<value>\r\n     (set)
//	*2\r\n$3\r\ndel\r\n$<len>\r\n<key>\r\n                           (delete)
//
// so BuntDB itself can read it, but kv writes it, one transaction at a time: a header
// record, then the transaction's commands, in the order they were made:
//
//	set kv:tx "kvtx1 <seq> <commands> <bytes> <crc of the commands> <crc of the header>"
//	set kv:tx "kvtx3 <seq> <commands> <bytes> <crc of the commands> <crc of the commands without their values> <crc of the header>"
//
// (kvtx3 for a transaction of lazyMin bytes or more, so that a large file can be opened
// reading its index, not its commands, and checking each value only as it is first read:
// see lazy.go. kvtx2, written by jitrt before the index, is read as it was: the same
// header, a body without the index, whose commands are walked when opened.)
//
// The header counts and checksums (CRC-32C) what follows it, and checksums itself; seq
// numbers the transactions of a file from 1. Reading a file, every transaction is checked:
//
//   - a transaction that stops short at the end of the file is a write that a crash cut
//     short; it was never reported as done, and it is dropped (the file is truncated to
//     the last whole transaction, and the drop is logged);
//   - anything else that does not check out — a bad checksum, a damaged header, bytes that
//     are not a command, a transaction missing from the sequence — is damage, and the file
//     is refused (ErrCorrupt, naming the offset) and left as it is.
//
// A file written by an earlier jitrt (plain BuntDB, with no headers) is read as BuntDB
// reads it and rewritten in this format on open, the old file kept as a backup.

// txKey is the key of a transaction header; it never reaches the store's contents.
const txKey = "kv:tx"

// txMagic starts a header's value; txMagic3 a header that also checksums the body
// without its values (a transaction of lazyMin bytes or more), whose body ends with its
// index (headsKey); txMagic2 the same without the index (read, no longer written).
const (
	txMagic  = "kvtx1"
	txMagic2 = "kvtx2"
	txMagic3 = "kvtx3"
)

// headerPrefix is how every file in this format starts (and every header).
var headerPrefix = []byte("*3\r\n$3\r\nset\r\n$5\r\nkv:tx\r\n")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// headerLen and headerLen2 are the sizes of the two kinds of header (their fields have
// fixed widths).
var (
	headerLen  = len(encodeHeader(0, 0, 0, 0, 0))
	headerLen2 = headerLen + len(" 00000000") // one more checksum field
)

// appendSet appends a set command.
func appendSet(buf []byte, key, value string) []byte {
	buf = appendSetHead(buf, key, len(value))
	buf = append(buf, value...)
	return append(buf, '\r', '\n')
}

// appendSetHead appends a set command up to its value: what skeleton checksums of it.
func appendSetHead(buf []byte, key string, valueLen int) []byte {
	buf = append(buf, "*3\r\n$3\r\nset\r\n"...)
	buf = appendBulk(buf, key)
	buf = append(buf, '$')
	buf = strconv.AppendInt(buf, int64(valueLen), 10)
	return append(buf, '\r', '\n')
}

// appendDel appends a delete command.
func appendDel(buf []byte, key string) []byte {
	buf = append(buf, "*2\r\n$3\r\ndel\r\n"...)
	return appendBulk(buf, key)
}

func appendBulk(buf []byte, s string) []byte {
	buf = append(buf, '$')
	buf = strconv.AppendInt(buf, int64(len(s)), 10)
	buf = append(buf, '\r', '\n')
	buf = append(buf, s...)
	return append(buf, '\r', '\n')
}

// encodeHeader encodes the header record of a transaction of n commands whose body is
// size bytes: kvtx1 for a body under lazyMin bytes, kvtx3 for a larger one (which ends
// with its sums and its index), whose header also checksums the body without its values
// (skel, read only then) so that a mapped file can be opened without reading them.
func encodeHeader(seq uint64, n int, size int64, bodyCRC, skel uint32) []byte {
	var fields string
	if size >= lazyMin {
		fields = fmt.Sprintf("%s %016x %08x %016x %08x %08x", txMagic3, seq, n, size, bodyCRC, skel)
	} else {
		fields = fmt.Sprintf("%s %016x %08x %016x %08x", txMagic, seq, n, size, bodyCRC)
	}
	value := fmt.Sprintf("%s %08x", fields, crc32.Checksum([]byte(fields), castagnoli))
	return appendSet(nil, txKey, value)
}

// txHeader is a decoded header.
type txHeader struct {
	seq     uint64
	n       int
	size    int64
	bodyCRC uint32
	v2      bool   // kvtx2 or kvtx3: skelCRC holds, the body ends with its sums
	indexed bool   // kvtx3: and then its index (headsKey)
	skelCRC uint32 // of the body without its values (see skeleton)
}

func parseHeader(value []byte) (txHeader, error) {
	var h txHeader
	f := bytes.Fields(value)
	malformed := errors.New("the transaction header is malformed")
	switch {
	case len(f) == 6 && string(f[0]) == txMagic:
	case len(f) == 7 && (string(f[0]) == txMagic2 || string(f[0]) == txMagic3) && len(f[5]) == 8:
		h.v2, h.indexed = true, string(f[0]) == txMagic3
	default:
		return h, malformed
	}
	last := f[len(f)-1]
	if len(f[1]) != 16 || len(f[2]) != 8 || len(f[3]) != 16 || len(f[4]) != 8 || len(last) != 8 {
		return h, malformed
	}
	fieldsLen := len(value) - 9
	if got, want := crc32.Checksum(value[:fieldsLen], castagnoli), hexUint(last); got != uint32(want) {
		return h, errors.New("the transaction header fails its checksum")
	}
	h.seq, h.n, h.size, h.bodyCRC = hexUint(f[1]), int(hexUint(f[2])), int64(hexUint(f[3])), uint32(hexUint(f[4]))
	// Written exactly as header writes it (hex digits in lower case, one space apart).
	fields := fmt.Sprintf("%s %016x %08x %016x %08x", txMagic, h.seq, h.n, h.size, h.bodyCRC)
	if h.v2 {
		h.skelCRC = uint32(hexUint(f[5]))
		fields = fmt.Sprintf("%s %016x %08x %016x %08x %08x", f[0], h.seq, h.n, h.size, h.bodyCRC, h.skelCRC)
	}
	if string(value) != fmt.Sprintf("%s %08x", fields, crc32.Checksum([]byte(fields), castagnoli)) {
		return h, malformed
	}
	return h, nil
}

// readHeader reads the header record at pos: the header and where its body starts.
func readHeader(data []byte, pos int) (txHeader, int, error) {
	hc, err := parseCommand(data, pos)
	if err != nil {
		return txHeader{}, pos, err
	}
	if !bytes.HasPrefix(data[pos:], headerPrefix) || (hc.end-pos != headerLen && hc.end-pos != headerLen2) {
		return txHeader{}, pos, errors.New("not a transaction header")
	}
	h, err := parseHeader(hc.value)
	return h, hc.end, err
}

// sumsKey is the key of the last command of a kvtx2 transaction: its value holds the
// CRC-32C of each set's value before it, in order, four bytes each (little-endian), so that
// a mapped file checks a value, not its whole transaction, when the value is first read.
// It never reaches the store's contents.
const sumsKey = "kv:sums"

// headsKey is the key of the last command of a kvtx3 transaction, after its sums: the
// transaction's index. Its value is every command before the sums without its value (a
// set up to its value, a delete whole), in order, then the length of those bytes as 16
// hex digits, so that the index is found from the body's end. It is what skeleton
// checksums, so the header's checksum without the values checks it; opening a mapped
// file reads the index, contiguous, instead of walking the commands, whose heads lie one
// after each value across the whole file (a page touched per large value: on the 2-core
// virtual machine CI uses, 13 µs each, the first time a process touches it). It never
// reaches the store's contents.
const headsKey = "kv:heads"

// headsTrailer is the size of the index's own length at the end of its value.
const headsTrailer = 16

// appendHeads appends the index command of a kvtx3 body (heads: every command before the
// sums without its value).
func appendHeads(buf, heads []byte) []byte {
	buf = appendSetHead(buf, headsKey, len(heads)+headsTrailer)
	buf = append(buf, heads...)
	buf = fmt.Appendf(buf, "%016x", len(heads))
	return append(buf, '\r', '\n')
}

// bodyShape is what skeleton found in a transaction's body.
type bodyShape struct {
	skel   uint32      // checksum of its commands without their values (the sums' value in)
	n      int         // commands, the sums' and the index's too
	values [][2]int    // [start, end) of each set's value (the sums' not), in order
	lazy   []lazyValue // instead of values, with an index read (indexed): also where each command starts
	sums   []byte      // the sums' value; nil if there is none
	index  bool        // the body ends with an index (kvtx3)
	cmds   []parsed    // its commands but the sums and the index, if asked for (what a store loads)
}

// parsed is a command read from a file: a set of key to value, or a delete of key.
type parsed struct {
	key, value []byte
	del        bool
}

// skeleton walks the commands of data[from:to] and checksums them without the values of
// their sets (a set's value is the bytes between its length's line end and its own), the
// sums command (sumsKey) whole: what opening a mapped file checks of a kvtx2 transaction,
// leaving the values for their first read. An index (headsKey) after the sums is checked
// against the commands and left out. For bytes that are not a command, a header, sums
// anywhere but last among the commands (or last but the index), it says where and why.
//
// n is how many commands the body's header says it holds (0: not known), from which room
// is made for them once (at most one per 8 bytes, whatever a damaged header says); keep
// asks for the commands themselves (bodyShape.cmds), so that they are not parsed again.
func skeleton(data []byte, from, to, n int, keep bool) (sh bodyShape, bad int, err error) {
	if n = min(n, (to-from)/8); n > 0 {
		sh.values = make([][2]int, 0, n)
		if keep {
			sh.cmds = make([]parsed, 0, n)
		}
	}
	var heads uint32 // the checksum before the sums: of what an index holds
	for p := from; p < to; sh.n++ {
		cmd, err := parseCommand(data[:to], p)
		if err != nil {
			return sh, p, errors.New("something that is not a command")
		}
		switch {
		case string(cmd.key) == txKey:
			return sh, p, errors.New("a header")
		case sh.sums != nil && !sh.index && string(cmd.key) == headsKey:
			index, ok := headsOf(cmd.value)
			if cmd.del || !ok || crc32.Checksum(index, castagnoli) != heads {
				return sh, p, errors.New("an index that does not match its commands")
			}
			sh.index = true
			p = cmd.end
			continue
		case sh.sums != nil:
			return sh, p, errors.New("a command after its checksums")
		case string(cmd.key) == headsKey:
			return sh, p, errors.New("an index before the checksums")
		case string(cmd.key) == sumsKey:
			if cmd.del || len(cmd.value)%4 != 0 {
				return sh, p, errors.New("malformed checksums")
			}
			sh.sums = cmd.value
			heads = sh.skel
			sh.skel = crc32.Update(sh.skel, castagnoli, data[p:cmd.end])
			p = cmd.end
			continue
		}
		if keep {
			sh.cmds = append(sh.cmds, parsed{key: cmd.key, value: cmd.value, del: cmd.del})
		}
		upto := cmd.end
		if !cmd.del {
			upto = cmd.end - 2 - len(cmd.value)
			sh.values = append(sh.values, [2]int{upto, upto + len(cmd.value)})
		}
		sh.skel = crc32.Update(sh.skel, castagnoli, data[p:upto])
		p = cmd.end
	}
	return sh, 0, nil
}

// skelOf is the checksum without values (what skeleton computes walking the body) of a
// kvtx3 body whose commands without their values are heads and whose sums command is
// sums: the index, then the sums whole.
func skelOf(heads, sums []byte) uint32 {
	return crc32.Update(crc32.Checksum(heads, castagnoli), castagnoli, sums)
}

// headsOf is the index's commands without its length, if the length is the index's.
func headsOf(value []byte) ([]byte, bool) {
	if len(value) < headsTrailer {
		return nil, false
	}
	n, err := strconv.ParseUint(string(value[len(value)-headsTrailer:]), 16, 64)
	if err != nil || n != uint64(len(value)-headsTrailer) {
		return nil, false
	}
	return value[:n], true
}

// indexed is skeleton for a kvtx3 body, read from its index rather than its commands:
// the index found from the body's end, the commands' places worked out from their heads
// and lengths in it, the sums read where the last command ends. Only the index, the sums
// and the body's last bytes are touched; the bytes of each command in the body are
// compared with its index when its value is first read (mapping.checkValue), the whole
// body's checksum by a compaction (mapping.checkAll). The values are sh.lazy (their
// checksums left to fill in from sh.sums), not sh.values: made once, the mapping's.
func indexed(data []byte, from, to, n int, keep bool) (sh bodyShape, bad int, err error) {
	// ...$<len>\r\n<heads><16 hex digits>\r\n at the end
	if to-from < headsTrailer+2 || data[to-2] != '\r' || data[to-1] != '\n' {
		return sh, to, errors.New("no index at its end")
	}
	size, err := strconv.ParseUint(string(data[to-2-headsTrailer:to-2]), 16, 64)
	if err != nil || size > uint64(to-from) {
		return sh, to - 2 - headsTrailer, errors.New("an index of a malformed length")
	}
	head := appendSetHead(nil, headsKey, int(size)+headsTrailer)
	at := to - 2 - headsTrailer - int(size) - len(head) // where the index's command starts
	if at < from || !bytes.Equal(data[at:at+len(head)], head) {
		return sh, max(at, from), errors.New("no index where its length says")
	}
	index := data[at+len(head) : at+len(head)+int(size)]
	if n = min(n, len(index)/16); n > 0 {
		sh.lazy = make([]lazyValue, 0, n)
		if keep {
			sh.cmds = make([]parsed, 0, n)
		}
	}
	pos := from // where the command of the index's entry at p is in the body
	for p := 0; p < len(index); sh.n++ {
		e, err := parseHead(index, p)
		if err != nil {
			return sh, at + len(head) + p, fmt.Errorf("an index holding %v", err)
		}
		switch string(e.key) {
		case txKey, sumsKey, headsKey:
			return sh, at + len(head) + p, errors.New("an index holding a header, checksums or an index")
		}
		next := pos + e.end - p
		if !e.del {
			sh.lazy = append(sh.lazy, lazyValue{start: next, end: next + e.size, head: pos, index: at + len(head) + p})
			next += e.size + 2
		}
		if next > at {
			return sh, at + len(head) + p, errors.New("an index of more commands than its transaction holds")
		}
		if keep {
			c := parsed{key: e.key, del: e.del}
			if !e.del {
				c.value = data[next-2-e.size : next-2]
			}
			sh.cmds = append(sh.cmds, c)
		}
		p, pos = e.end, next
	}
	sums := appendSetHead(nil, sumsKey, 4*len(sh.lazy))
	end := pos + len(sums) + 4*len(sh.lazy) + 2
	if end != at || !bytes.Equal(data[pos:pos+len(sums)], sums) || data[end-2] != '\r' || data[end-1] != '\n' {
		return sh, pos, errors.New("no checksums where its index says")
	}
	sh.sums = data[pos+len(sums) : end-2]
	sh.skel = skelOf(index, data[pos:end])
	sh.index = true
	sh.n += 2
	return sh, 0, nil
}

// indexEntry is a command of an index: a set without its value, or a delete.
type indexEntry struct {
	key  []byte
	del  bool
	size int // a set's value's length
	end  int // where the next entry starts
}

// parseHead reads the index entry at p: *3 $3 set $<n> <key> $<size>, or *2 $3 del $<n> <key>.
func parseHead(index []byte, p int) (indexEntry, error) {
	var e indexEntry
	parts, p, err := parseCount(index, p, '*')
	if err != nil {
		return e, err
	}
	if parts != 2 && parts != 3 {
		return e, fmt.Errorf("a command of %d parts", parts)
	}
	var bulk [2][]byte
	for i := range bulk {
		size, q, err := parseCount(index, p, '$')
		if err != nil {
			return e, err
		}
		if len(index)-q < size+2 || index[q+size] != '\r' || index[q+size+1] != '\n' {
			return e, errors.New("a part that does not end where its length says")
		}
		bulk[i], p = index[q:q+size], q+size+2
	}
	switch {
	case parts == 3 && string(bulk[0]) == "set":
		e.size, p, err = parseCount(index, p, '$')
		if err != nil {
			return e, err
		}
	case parts == 2 && string(bulk[0]) == "del":
		e.del = true
	default:
		return e, fmt.Errorf("an unknown command %q of %d parts", truncate(bulk[0]), parts)
	}
	e.key, e.end = bulk[1], p
	return e, nil
}

// appendSums appends the sums command of a kvtx2 body (sums: four bytes per set's value).
func appendSums(buf, sums []byte) []byte {
	return appendSet(buf, sumsKey, unsafe.String(unsafe.SliceData(sums), len(sums)))
}

// sumOf is what a body's sums hold for a value.
func sumOf(sums []byte, value []byte) []byte {
	return binary.LittleEndian.AppendUint32(sums, crc32.Checksum(value, castagnoli))
}

func hexUint(b []byte) uint64 {
	var buf [8]byte
	if len(b)%2 == 1 || len(b) > 16 {
		return 0
	}
	n, err := hex.Decode(buf[8-len(b)/2:], b)
	if err != nil || n != len(b)/2 {
		return 0
	}
	var v uint64
	for _, c := range buf {
		v = v<<8 | uint64(c)
	}
	return v
}

// command is one parsed command; key and value point into the file's bytes.
type command struct {
	del        bool
	key, value []byte
	end        int // offset just past the command
}

// errShort is returned by parseCommand for a command that runs past the end of the data.
var errShort = errors.New("short command")

// parseCommand parses the command at data[pos:]: errShort if the data ends inside it (and
// what there is could be its start), another error if the bytes are not a command.
func parseCommand(data []byte, pos int) (command, error) {
	var c command
	n, pos, err := parseCount(data, pos, '*')
	if err != nil {
		return c, err
	}
	if n < 2 || n > 5 {
		return c, fmt.Errorf("a command of %d parts", n)
	}
	var parts [5][]byte
	for i := 0; i < n; i++ {
		var size int
		size, pos, err = parseCount(data, pos, '$')
		if err != nil {
			return c, err
		}
		if len(data)-pos < size+2 {
			return c, errShort
		}
		if data[pos+size] != '\r' || data[pos+size+1] != '\n' {
			return c, errors.New("a part does not end where its length says")
		}
		parts[i] = data[pos : pos+size]
		pos += size + 2
	}
	switch {
	case n == 3 && equalFold3(parts[0], "set"):
		c.key, c.value = parts[1], parts[2]
	case n == 2 && equalFold3(parts[0], "del"):
		c.del, c.key = true, parts[1]
	default:
		return c, fmt.Errorf("an unknown command %q of %d parts", truncate(parts[0]), n)
	}
	c.end = pos
	return c, nil
}

func equalFold3(b []byte, s string) bool {
	return len(b) == 3 && bytes.EqualFold(b, []byte(s))
}

func truncate(b []byte) string {
	if len(b) > 16 {
		return string(b[:16]) + "…"
	}
	return string(b)
}

// parseCount reads "<mark><digits>\r\n" at pos.
func parseCount(data []byte, pos int, mark byte) (int, int, error) {
	if pos >= len(data) {
		return 0, pos, errShort
	}
	if data[pos] != mark {
		return 0, pos, fmt.Errorf("expected %q, found %q", mark, data[pos])
	}
	n := 0
	i := pos + 1
	for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		if i-pos > 10 {
			return 0, pos, errors.New("a length too large")
		}
		n = n*10 + int(data[i]-'0')
	}
	switch {
	case i == len(data):
		return 0, pos, errShort
	case i == pos+1:
		return 0, pos, fmt.Errorf("expected a length after %q", mark)
	case data[i] != '\r':
		return 0, pos, fmt.Errorf("a length followed by %q", data[i])
	case i+1 == len(data):
		return 0, pos, errShort
	case data[i+1] != '\n':
		return 0, pos, errors.New("a length not followed by a line end")
	}
	return n, i + 2, nil
}

// CorruptError says where a state file is damaged. The file is left untouched.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is damaged at byte %d: %s; it was left untouched", e.Path, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// contents is a verified state file: the byte ranges of its commands, in order.
type contents struct {
	bodies  [][2]int    // [start, end) of each transaction's commands
	seq     uint64      // of the last whole transaction
	good    int64       // offset just past the last whole transaction
	torn    int64       // bytes after good that are an unfinished write (dropped)
	legacy  bool        // a plain BuntDB file (no headers)
	journal bool        // a legacy file holding a kv:journal left by a killed writer
	lazy    []lazyValue // values checked when first read, in order
	unread  []lazyBody  // bodies whose commands were not read (their index was), in order
	cmds    []parsed    // the commands of the whole transactions, in order (not of a legacy file)
}

// verify checks a state file's bytes; see the file format above.
//
// With lazy (a mapped file), the values of a kvtx2 transaction are not read: its header,
// its commands' shape, its keys and lengths are checked now, against the checksum without
// the values, and each value when it is first read (contents.lazy). Of a kvtx3
// transaction, its index is read and checked instead of its commands, and each command
// is compared with the index when its value is first read (contents.unread).
func verify(path string, data []byte, lazy bool) (*contents, error) {
	if len(data) > 0 && !bytes.HasPrefix(data, headerPrefix) && !(len(data) < len(headerPrefix) && bytes.HasPrefix(headerPrefix, data)) {
		return verifyLegacy(path, data)
	}
	c := &contents{}
	corrupt := func(off int, format string, args ...any) error {
		return &CorruptError{Path: path, Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
	}
	pos := 0
	for pos < len(data) {
		start := pos
		if zeros(data[start:]) {
			c.torn = int64(len(data) - start) // a tail the file system filled with zeros
			break
		}
		h, bodyStart, err := readHeader(data, pos)
		if errors.Is(err, errShort) && len(data)-start < headerLen2 && bytes.HasPrefix(data[start:], headerPrefix[:min(len(headerPrefix), len(data)-start)]) {
			// Headers have two sizes: only a tail shorter than the longer can be a cut header.
			c.torn = int64(len(data) - start)
			break
		}
		if err != nil {
			if bodyStart == start { // not even a header's shape
				if errors.Is(err, errShort) {
					err = errors.New("not a transaction header")
				}
				return nil, corrupt(start, "%v where a transaction should start", err)
			}
			return nil, corrupt(start, "%v", err)
		}
		if h.seq != c.seq+1 {
			return nil, corrupt(start, "transaction %d follows transaction %d (one is missing)", h.seq, c.seq)
		}
		if int64(len(data)-bodyStart) < h.size {
			c.torn = int64(len(data) - start)
			break
		}
		end := bodyStart + int(h.size)
		later := lazy && h.v2 // its values are checked when first read (lazy.go)
		if !later && crc32.Checksum(data[bodyStart:end], castagnoli) != h.bodyCRC {
			return nil, corrupt(start, "transaction %d fails its checksum", h.seq)
		}
		var sh bodyShape
		var bad int
		if later && h.indexed {
			sh, bad, err = indexed(data, bodyStart, end, h.n, true)
			c.unread = append(c.unread, lazyBody{start: bodyStart, end: end, crc: h.bodyCRC, seq: h.seq})
		} else {
			if later {
				populate(data, bodyStart, end)
			}
			sh, bad, err = skeleton(data, bodyStart, end, h.n, true)
		}
		if err != nil {
			return nil, corrupt(bad, "transaction %d holds %v", h.seq, err)
		}
		if sh.index != h.indexed {
			return nil, corrupt(start, "transaction %d holds an index its header does not say, or none where it says one", h.seq)
		}
		if h.v2 && sh.skel != h.skelCRC {
			return nil, corrupt(start, "transaction %d fails its checksum", h.seq)
		}
		if sh.n != h.n {
			return nil, corrupt(start, "transaction %d holds %d commands, its header says %d", h.seq, sh.n, h.n)
		}
		if h.v2 != (sh.sums != nil) || (h.v2 && len(sh.sums) != 4*(len(sh.values)+len(sh.lazy))) {
			return nil, corrupt(start, "transaction %d holds checksums that do not fit its values", h.seq)
		}
		switch {
		case sh.lazy != nil: // read from its index (later)
			for i := range sh.lazy {
				sh.lazy[i].crc = binary.LittleEndian.Uint32(sh.sums[4*i:])
			}
			if c.lazy == nil {
				c.lazy = sh.lazy // the first (or only) large transaction's, not copied
			} else {
				c.lazy = append(c.lazy, sh.lazy...)
			}
		case later:
			c.lazy = slices.Grow(c.lazy, len(sh.values))
			for i, v := range sh.values {
				c.lazy = append(c.lazy, lazyValue{start: v[0], end: v[1], crc: binary.LittleEndian.Uint32(sh.sums[4*i:]), head: -1})
			}
		case h.v2:
			for i, v := range sh.values {
				if crc32.Checksum(data[v[0]:v[1]], castagnoli) != binary.LittleEndian.Uint32(sh.sums[4*i:]) {
					return nil, corrupt(v[0], "a value of transaction %d fails its checksum", h.seq)
				}
			}
		}
		c.bodies = append(c.bodies, [2]int{bodyStart, bodyStart + int(h.size)})
		if c.cmds == nil {
			c.cmds = sh.cmds // the first (or only: a compacted file's) transaction's, not copied
		} else {
			c.cmds = append(c.cmds, sh.cmds...)
		}
		c.seq = h.seq
		pos = bodyStart + int(h.size)
		c.good = int64(pos)
	}
	return c, nil
}

// verifyLegacy reads a plain BuntDB file as BuntDB does: a command cut short at the end is
// dropped, anything else unreadable is damage.
func verifyLegacy(path string, data []byte) (*contents, error) {
	c := &contents{legacy: true}
	pos := 0
	for pos < len(data) {
		if data[pos] == 0 { // BuntDB skips NUL bytes
			pos++
			continue
		}
		cmd, err := parseCommand(data, pos)
		if errors.Is(err, errShort) {
			c.torn = int64(len(data) - pos)
			break
		}
		if err != nil {
			return nil, &CorruptError{Path: path, Offset: int64(pos), Reason: err.Error()}
		}
		switch {
		case string(cmd.key) == txKey, bytes.HasPrefix(cmd.value, []byte(txMagic+" ")):
			return nil, &CorruptError{Path: path, Offset: int64(pos), Reason: "a transaction header in a file whose first transaction is unreadable"}
		case string(cmd.key) == legacyJournalKey:
			c.journal = !cmd.del
		}
		pos = cmd.end
	}
	c.good = int64(pos)
	if pos > 0 {
		c.bodies = [][2]int{{0, pos}}
	}
	return c, nil
}

func zeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// reader streams the verified commands of a file to BuntDB's loader.
func (c *contents) reader(data []byte) io.Reader {
	rs := make([]io.Reader, len(c.bodies))
	for i, b := range c.bodies {
		rs[i] = bytes.NewReader(data[b[0]:b[1]])
	}
	return io.MultiReader(rs...)
}
