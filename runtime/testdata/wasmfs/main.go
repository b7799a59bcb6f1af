//go:build wasip1

// A test guest that reads a file: it imports WASI's file functions, which need the "fs" grant.
package main

import (
	"os"

	"github.com/jitrt/jitrt/wasm/guest"
)

//go:wasmexport read
func read(p, n uint32) uint64 {
	return guest.Method(p, n, func(args guest.Args) (any, error) {
		var path string
		args.Decode(0, &path)
		b, err := os.ReadFile(path)
		return string(b), err
	})
}

func main() {}
