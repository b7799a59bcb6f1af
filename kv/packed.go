package kv

import (
	"fmt"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// # Values packed by the writer
//
// A large write to PostgreSQL (a sync's member chunks: 44 MB at 100,000 members) spent
// most of its time in the server compressing the values (lz4) and writing them to TOAST:
// one server process on one core while the client waited. The writer now compresses the
// values it sends by COPY itself, as S2 blocks (klauspost/compress: the fastest of the
// well-kept Go codecs at a ratio near lz4's, ~3.5× on a member chunk), into the kv table's
// packed column, stored as it comes (STORAGE EXTERNAL); value is NULL in such a row, so
// that a jitrt that does not know packed values fails to read it rather than reading ''.
// Measured on PostgreSQL 15, 2 cores, the chunks of a 100,000-member sync: COPY and commit
// 0.12–0.15 s packed against 0.25–0.36 s compressed by the server (zstd's fastest level:
// 0.18–0.21 s). The values of the other writes (arrays) stay text, compressed by the
// server as before.

// packMin is the size from which a value sent by COPY is packed: below it the block's
// header and the row's second column cost more than they save.
const packMin = 512

// pack is value as an S2 block.
func pack(value string) []byte {
	return s2.Encode(nil, unsafe.Slice(unsafe.StringData(value), len(value)))
}

// unpack is the value of a row: packed, unpacked, when the row holds it so, else value.
// A block that does not decode is refused, the key named.
func unpack(key, value string, packed []byte) (string, error) {
	if packed == nil {
		return value, nil
	}
	n, err := s2.DecodedLen(packed)
	if err == nil {
		buf := make([]byte, n)
		var out []byte
		if out, err = s2.Decode(buf, packed); err == nil {
			if len(out) == 0 {
				return "", nil
			}
			return unsafe.String(&out[0], len(out)), nil
		}
	}
	return "", fmt.Errorf("the packed value of %q is damaged: %w", key, err)
}
