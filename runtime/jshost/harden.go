package jshost

import (
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/dop251/goja"
)

// # Built-ins are frozen
//
// A runtime is reused by later runs, so nothing a run changes may outlive it. The built-ins
// of every runtime (JSON, Object, Array, String, Math, … their prototypes and statics, and
// the globals console and app) are frozen when it is made: a run cannot replace, redefine,
// add or delete any of their properties (in strict mode the attempt is a TypeError, otherwise
// it does nothing), so `JSON.stringify = …` cannot poison the next run.
//
// A few properties stay writable, because freezing them would break ordinary code through
// the "override mistake" (assigning `Foo.prototype.toString = …` fails when the inherited
// property is read-only): constructor, toString, toLocaleString and valueOf everywhere, the
// rest of Object.prototype and Function.prototype, and name and message of the errors.
// They are non-configurable, so they stay plain values, and after every run each is
// compared with what it was; a run that changed one, or added a global (a top-level var),
// leaves its runtime to be replaced by a fresh one.

// overridable are the properties left writable on every built-in object, and on some.
var (
	overridableEverywhere = []string{"constructor", "toString", "toLocaleString", "valueOf"}
	overridableOn         = map[string][]string{
		"Object.prototype":   {"hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable"},
		"Function.prototype": {"call", "apply", "bind"},
		"Error.prototype":    {"name", "message"},
	}
)

// hardenScript freezes a runtime's built-ins; see above. It returns the writable
// properties left, as [object, key] pairs, for the check after each run.
const hardenScript = `(function (overridableEverywhere, overridableOn) {
  const getOwn = Object.getOwnPropertyDescriptor, keys = Reflect.ownKeys, define = Object.defineProperty,
        stop = Object.preventExtensions, isErrorProto = p => p === Error.prototype || Error.prototype.isPrototypeOf(p);
  const seen = new Set(), writable = [];
  function harden(o, name) {
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) return;
    seen.add(o);
    const keep = new Set(overridableEverywhere.concat(overridableOn[name] || [],
      typeof o === "object" && isErrorProto(o) ? overridableOn["Error.prototype"] : []));
    for (const k of keys(o)) {
      const d = getOwn(o, k);
      if ("value" in d) {
        const stays = typeof k === "string" && keep.has(k) && d.writable;
        define(o, k, {configurable: false, writable: stays});
        if (stays) writable.push([o, k]);
      } else if (d.configurable) {
        define(o, k, {configurable: false});
      }
    }
    stop(o);
  }
  function hardenFamily(v, name) {
    if (v === null || (typeof v !== "object" && typeof v !== "function")) return;
    harden(v, name);
    if (typeof v === "function" && v.prototype) {
      harden(v.prototype, name + ".prototype");
      harden(Object.getPrototypeOf(v.prototype), "");
    }
  }
  for (const k of keys(globalThis)) {
    if (k === "require") continue; // set anew for every run
    const d = getOwn(globalThis, k);
    if ("value" in d && d.value !== globalThis) hardenFamily(d.value, typeof k === "string" ? k : "");
    if (d.configurable) define(globalThis, k, {configurable: false, writable: false});
  }
  for (const v of [function* () {}, async function () {}]) hardenFamily(Object.getPrototypeOf(v), "");
  for (const it of [[][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ""[Symbol.iterator](), /x/[Symbol.matchAll]("x")])
    for (let p = Object.getPrototypeOf(it); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) harden(p, "");
  harden(Object.getPrototypeOf(Int8Array), "");
  harden(Object.getPrototypeOf(Int8Array.prototype), "");
  return writable;
})`

// hardenProgram is hardenScript compiled, once in a process, by the first runtime made (in
// the background, not in New: compiling it, the first JavaScript a process compiles, took
// a fresh exec 5-8 ms before it could open its state).
var hardenProgram = sync.OnceValue(func() *goja.Program { return goja.MustCompile("harden.js", hardenScript, true) })

// fingerprint is what a runtime's mutable surface looked like when it was made.
type fingerprint struct {
	globals  int // own properties of globalThis
	writable []writableProp
}

type writableProp struct {
	obj *goja.Object
	key string
	val goja.Value
}

// harden freezes the runtime's built-ins and records its fingerprint.
func (h *Host) harden(rt *goja.Runtime) (fingerprint, error) {
	fn, err := rt.RunProgram(hardenProgram())
	if err != nil {
		return fingerprint{}, err
	}
	call, _ := goja.AssertFunction(fn)
	on := map[string][]string{}
	for k, v := range overridableOn {
		on[k] = v
	}
	res, err := call(goja.Undefined(), rt.ToValue(overridableEverywhere), rt.ToValue(on))
	if err != nil {
		return fingerprint{}, err
	}
	var fp fingerprint
	list := res.ToObject(rt)
	for i := int64(0); i < list.Get("length").ToInteger(); i++ {
		pair := list.Get(strconv.FormatInt(i, 10)).ToObject(rt)
		obj, key := pair.Get("0").ToObject(rt), pair.Get("1").String()
		fp.writable = append(fp.writable, writableProp{obj: obj, key: key, val: obj.Get(key)})
	}
	fp.globals = len(rt.GlobalObject().GetOwnPropertyNames())
	return fp, nil
}

// unchanged reports whether a run left the runtime as it was made.
func (fp *fingerprint) unchanged(rt *goja.Runtime) bool {
	if len(rt.GlobalObject().GetOwnPropertyNames()) != fp.globals {
		return false
	}
	for _, p := range fp.writable {
		if !p.obj.Get(p.key).SameAs(p.val) {
			return false
		}
	}
	return true
}

// guardStrings wraps the built-ins that make a long string in one step (repeat, padStart,
// padEnd), so that a script asking for more than the limit gets a RangeError, as in a
// browser, instead of an allocation that could end the process.
func guardStrings(rt *goja.Runtime, limitOf func() int) {
	proto := rt.Get("String").ToObject(rt).Get("prototype").ToObject(rt)
	rangeError := func(limit int) goja.Value {
		ctor, _ := goja.AssertConstructor(rt.Get("RangeError"))
		obj, _ := ctor(nil, rt.ToValue(fmt.Sprintf("Invalid string length (the limit is %d characters)", limit)))
		return obj
	}
	wrap := func(name string, size func(this goja.Value, args []goja.Value) float64) {
		orig, _ := goja.AssertFunction(proto.Get(name))
		proto.Set(name, rt.ToValue(func(call goja.FunctionCall) goja.Value {
			if limit := limitOf(); size(call.This, call.Arguments) > float64(limit) {
				panic(rangeError(limit))
			}
			v, err := orig(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
			return v
		}))
		// Keep the name and length a script sees.
		proto.Get(name).ToObject(rt).DefineDataProperty("name", rt.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	length := func(v goja.Value) float64 {
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			return 0
		}
		if s, ok := v.ToString().(goja.String); ok {
			return float64(s.Length())
		}
		return float64(len(v.String()))
	}
	arg := func(args []goja.Value, i int) goja.Value {
		if i < len(args) {
			return args[i]
		}
		return goja.Undefined()
	}
	wrap("repeat", func(this goja.Value, args []goja.Value) float64 {
		n := arg(args, 0).ToFloat()
		if math.IsInf(n, 1) || n < 0 || math.IsNaN(n) {
			return 0 // the built-in's own RangeError
		}
		return length(this) * math.Trunc(n)
	})
	pad := func(this goja.Value, args []goja.Value) float64 {
		n := arg(args, 0).ToFloat()
		if math.IsNaN(n) {
			return 0
		}
		return n
	}
	wrap("padStart", pad)
	wrap("padEnd", pad)
}
