package runtime

import (
	"strings"
	"testing"

	"github.com/jitrt/jitrt/runtime/jshost"
)

// for-of over an array steps its iterator without a result object (the goja patch in
// third_party/goja/JITRT.md): what scripts see stays what every engine shows.
func TestForOfOverArraysKeepsItsMeaning(t *testing.T) {
	app := loadTest(t, writeTree(t, echoApp), Options{PoolSize: 1, Limits: jshost.Limits{}})
	cases := []struct{ script, want string }{
		{`let r = []; const a = [1, 2, 3]; for (const x of a) { r.push(x); if (x === 1) a.push(4) }; r`, `[1,2,3,4]`},
		{`let r = []; const a = [1, 2, 3, 4]; for (const x of a) { r.push(x); a.length = 2 }; r`, `[1,2]`},
		{`let r = []; for (const x of [1, , 3]) r.push(x === undefined ? "hole" : x); r`, `[1,"hole",3]`},
		{`let s = 0; for (const x of new Uint8Array([1, 2, 3])) s += x; s`, `6`},
		{`let r = []; for (const [i, x] of ["a", "b"].entries()) r.push(i + x); r`, `["0a","1b"]`},
		{`let r = []; for (const k of ["a", "b"].keys()) r.push(k); r`, `[0,1]`},
		{`const it = [1, 2, 3][Symbol.iterator](); for (const x of it) break; let r = []; for (const x of it) r.push(x); r`, `[2,3]`},
		{`const it = [1, 2, 3, 4][Symbol.iterator](); let r = []; for (const x of it) { r.push(x); r.push(it.next().value) }; r`, `[1,2,3,4]`},
		{`const it = [1][Symbol.iterator](); for (const x of it) {}; const n = it.next(); [n.done, n.value === undefined]`, `[true,true]`},
		{`const o = { *[Symbol.iterator]() { yield 1; yield 2 } }; let s = 0; for (const x of o) s += x; s`, `3`},
		{`class A extends Array {}; const a = A.from([5, 6]); let r = []; for (const x of a) r.push(x); r`, `[5,6]`},
		{`let r = []; for (const x of [1, 2, 3]) { if (x === 2) continue; r.push(x) }; r`, `[1,3]`},
		{`let r = []; try { for (const x of [1, 2]) { r.push(x); throw new Error("e") } } catch (e) { r.push(e.message) }; r`, `[1,"e"]`},
	}
	for _, c := range cases {
		got, _, err := run(t, app, c.script)
		if err != nil || strings.Join(strings.Fields(got), "") != c.want {
			t.Errorf("%s\n= %s %v, want %s", c.script, got, err, c.want)
		}
	}
}
