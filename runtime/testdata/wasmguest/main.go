//go:build wasip1

// A test guest: methods of a Type element written in Go, compiled to WebAssembly.
package main

import (
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/jitrt/jitrt/wasm/guest"
)

// prefix frames greet; a build with -ldflags=-X=main.prefix=V2 is a new version.
var prefix = "W"

// greet overrides testing.Echo's greet: what the link above says, framed.
//
//go:wasmexport greet
func greet(p, n uint32) uint64 {
	return guest.Method(p, n, func(args guest.Args) (any, error) {
		var s string
		if err := guest.Super("greet", &s, args[0]); err != nil {
			return nil, err
		}
		return prefix + "[" + s + "]", nil
	})
}

// add is a new method: the sum of its numbers.
//
//go:wasmexport add
func add(p, n uint32) uint64 {
	return guest.Method(p, n, func(args guest.Args) (any, error) {
		sum := 0.0
		for i := range args {
			var x float64
			if err := args.Decode(i, &x); err != nil {
				return nil, err
			}
			sum += x
		}
		return sum, nil
	})
}

// describe reads the config (no secret) and calls this element's most derived greet.
//
//go:wasmexport describe
func describe(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		cfg, err := guest.Config()
		if err != nil {
			return nil, err
		}
		var g string
		if err := guest.This("greet", &g, "me"); err != nil {
			return nil, err
		}
		guest.Log(guest.LevelInfo, "describe called")
		return map[string]any{"config": cfg, "greet": g}, nil
	})
}

// fail answers an error with a code.
//
//go:wasmexport fail
func fail(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		return nil, &guest.Error{Code: "not_found", Message: "no such thing"}
	})
}

// spin never returns.
//
//go:wasmexport spin
func spin(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		x := 0
		for {
			x++
		}
	})
}

var hoard [][]byte

// hog grows memory until there is none.
//
//go:wasmexport hog
func hog(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	})
}

// boom panics.
//
//go:wasmexport boom
func boom(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		var m map[string]int
		m["x"] = 1
		return nil, nil
	})
}

// other calls another element's method.
//
//go:wasmexport other
func other(p, n uint32) uint64 {
	return guest.Method(p, n, func(args guest.Args) (any, error) {
		var el string
		args.Decode(0, &el)
		var out json.RawMessage
		if err := guest.Call(el, "greet", &out, "from wasm"); err != nil {
			return nil, fmt.Errorf("call %s: %w", el, err)
		}
		return out, nil
	})
}

func main() {}

// nop does nothing: the cost of entering the guest.
//
//go:wasmexport nop
func nop(p, n uint32) uint64 { return 0 }

var three = []byte(`{"result":3}`)

// fixed answers 3 without reading its arguments: the cost of the ABI alone.
//
//go:wasmexport fixed
func fixed(p, n uint32) uint64 {
	return uint64(uintptr(unsafe.Pointer(&three[0])))<<32 | uint64(len(three))
}

// recurse calls itself through the app without end.
//
//go:wasmexport recurse
func recurse(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		return nil, guest.This("recurse", nil)
	})
}
