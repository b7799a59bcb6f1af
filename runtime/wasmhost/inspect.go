package wasmhost

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// info is what a module imports and exports, read from its sections without compiling it
// (loading an app stays fast; the module compiles at its first call).
type info struct {
	imports []importRef
	exports map[string]funcSig // exported functions
}

type importRef struct{ module, name string }

type funcSig struct{ params, results []byte }

var errNotWasm = errors.New("not a WebAssembly module")

// inspect reads a module's type, import, function and export sections.
func inspect(data []byte) (*info, error) {
	if len(data) < 8 || string(data[:4]) != "\x00asm" || binary.LittleEndian.Uint32(data[4:8]) != 1 {
		return nil, fmt.Errorf("%w (no \\0asm version 1 header)", errNotWasm)
	}
	r := &reader{b: data[8:]}
	var types []funcSig
	var funcImports []uint32 // type index of each imported function
	var funcs []uint32       // type index of each defined function
	type export struct {
		kind byte
		idx  uint32
	}
	exports := map[string]export{}
	out := &info{exports: map[string]funcSig{}}
	for r.more() {
		id := r.byte()
		size := r.u32()
		sec := &reader{b: r.take(size)}
		switch id {
		case 1: // types
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					sec.fail("a type that is not a function type")
				}
				types = append(types, funcSig{params: sec.take(sec.u32()), results: sec.take(sec.u32())})
			}
		case 2: // imports
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				ref := importRef{module: string(sec.take(sec.u32())), name: string(sec.take(sec.u32()))}
				switch kind := sec.byte(); kind {
				case 0x00:
					funcImports = append(funcImports, sec.u32())
					out.imports = append(out.imports, ref)
				case 0x01: // table: reftype, limits
					sec.byte()
					sec.limits()
				case 0x02: // memory
					sec.limits()
				case 0x03: // global: valtype, mutability
					sec.byte()
					sec.byte()
				default:
					sec.fail(fmt.Sprintf("an import of unknown kind %#x", kind))
				}
			}
		case 3: // functions
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				funcs = append(funcs, sec.u32())
			}
		case 7: // exports
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				name := string(sec.take(sec.u32()))
				exports[name] = export{kind: sec.byte(), idx: sec.u32()}
			}
		}
		if sec.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", errNotWasm, id, sec.err)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errNotWasm, r.err)
	}
	for name, e := range exports {
		if e.kind != 0x00 {
			continue
		}
		var t uint32
		switch i := int(e.idx); {
		case i < len(funcImports):
			t = funcImports[i]
		case i-len(funcImports) < len(funcs):
			t = funcs[i-len(funcImports)]
		default:
			return nil, fmt.Errorf("%w: export %q names function %d, which is not there", errNotWasm, name, e.idx)
		}
		if int(t) >= len(types) {
			return nil, fmt.Errorf("%w: function %d has type %d, which is not there", errNotWasm, e.idx, t)
		}
		out.exports[name] = types[t]
	}
	return out, nil
}

// reader reads a module's bytes; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) more() bool { return r.err == nil && len(r.b) > 0 }

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("the module ends early")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) take(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.fail("a length runs past the end of the module")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("a number longer than 32 bits")
	return 0
}

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&0x01 != 0 {
		r.u32()
	}
}
