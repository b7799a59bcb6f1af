//go:build wasip1

// A test guest over corps.QywxInnerType: getCorpInfo says which build answered.
package main

import "github.com/jitrt/jitrt/wasm/guest"

// version is set at build time: -ldflags=-X=main.version=v2.
var version = "v1"

//go:wasmexport getCorpInfo
func getCorpInfo(p, n uint32) uint64 {
	return guest.Method(p, n, func(guest.Args) (any, error) {
		var info map[string]any
		if err := guest.Super("getCorpInfo", &info); err != nil {
			return nil, err
		}
		info["wasmVersion"] = version
		return info, nil
	})
}

func main() {}
