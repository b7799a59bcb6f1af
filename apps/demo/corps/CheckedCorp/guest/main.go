//go:build wasip1

// The methods of the demo's Type element corps.CheckedCorp, written in Go and compiled to
// WebAssembly (make demo-wasm writes ../index.wasm, which is committed so that the demo
// runs without this step). It extends corps.AuditedCorp (JS), which extends
// corps.QywxInnerType: syncCorp here calls the link above and adds to its report.
package main

import (
	"fmt"

	"github.com/jitrt/jitrt/wasm/guest"
)

//go:wasmexport syncCorp
func syncCorp(p, n uint32) uint64 {
	return guest.Method(p, n, func(args guest.Args) (any, error) {
		var report map[string]any
		if err := guest.Super("syncCorp", &report, args.All()...); err != nil {
			return nil, err
		}
		changed := num(report["added"]) + num(report["updated"]) + num(report["offlined"])
		report["checkedBy"] = "Go in WebAssembly"
		report["summary"] = fmt.Sprintf("%d members changed, %d unchanged", changed, num(report["unchanged"]))
		if changed > 0 && num(report["offlined"])*2 > changed {
			guest.Log(guest.LevelWarn, "more than half of this sync's changes take members offline")
		}
		return report, nil
	})
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func main() {}
