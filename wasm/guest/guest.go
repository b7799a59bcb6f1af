//go:build wasip1

// Package guest lets a Go program compiled to WebAssembly be the methods of a jitrt Type
// element: it implements the ABI of package runtime/wasmhost, so that a method is a plain
// function of its arguments. Build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o index.wasm .
//
// and export each method with go:wasmexport:
//
//	//go:wasmexport syncCorp
//	func syncCorp(p, n uint32) uint64 {
//		return guest.Method(p, n, func(args guest.Args) (any, error) {
//			var report map[string]any
//			if err := guest.Super("syncCorp", &report, args.All()...); err != nil {
//				return nil, err
//			}
//			report["checkedBy"] = "wasm"
//			return report, nil
//		})
//	}
package guest

import (
	"encoding/json"
	"fmt"
	"unsafe"
)

// held keeps the buffers the host may still read or write, by address.
var held = map[uint32][]byte{}

//go:wasmexport jitrt_alloc
func alloc(n uint32) uint32 {
	if n == 0 {
		n = 1
	}
	b := make([]byte, n)
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	held[p] = b
	return p
}

//go:wasmexport jitrt_free
func free(p uint32) { delete(held, p) }

//go:wasmimport jitrt call
func hostCall(p, n uint32) uint32

//go:wasmimport jitrt config
func hostConfig() uint32

//go:wasmimport jitrt result
func hostResult(p uint32)

//go:wasmimport jitrt log
func hostLog(level int32, p, n uint32)

// Args are a method's arguments, in order, as JSON.
type Args []json.RawMessage

// Decode reads argument i into v; a missing one leaves v as it is.
func (a Args) Decode(i int, v any) error {
	if i >= len(a) {
		return nil
	}
	if err := json.Unmarshal(a[i], v); err != nil {
		return &Error{Code: "invalid_argument", Message: fmt.Sprintf("argument %d: %v", i+1, err)}
	}
	return nil
}

// All are the arguments as they are, to pass on: guest.Super("syncCorp", &r, args.All()...).
func (a Args) All() []any {
	out := make([]any, len(a))
	for i, r := range a {
		out[i] = r
	}
	return out
}

// Error is an error with one of jitrt's codes (invalid_argument, not_found, …); any other
// error a method returns has code script_error.
type Error struct {
	Code, Message string
}

func (e *Error) Error() string { return e.Message }

type envelope struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// bytesOf keeps b for the host and returns (ptr<<32 | len).
func bytesOf(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	held[p] = b
	return uint64(p)<<32 | uint64(len(b))
}

// Method runs fn with the arguments the host wrote at (p, n) and returns its result for
// the host: the body of every exported method.
func Method(p, n uint32, fn func(Args) (any, error)) uint64 {
	in := held[p][:n]
	delete(held, p)
	var args Args
	var e envelope
	if err := json.Unmarshal(in, &args); err != nil {
		e.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{"invalid_argument", "the arguments are not a JSON array: " + err.Error()}
	} else if v, err := fn(args); err != nil {
		code := "script_error"
		if ge, ok := err.(*Error); ok && ge.Code != "" {
			code = ge.Code
		}
		e.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{code, err.Error()}
	} else if e.Result, err = json.Marshal(v); err != nil {
		e.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{"script_error", "the result cannot be JSON: " + err.Error()}
		e.Result = nil
	}
	out, _ := json.Marshal(e)
	return bytesOf(out)
}

// answer copies the host's last answer (n bytes) out and decodes it into out.
func answer(n uint32, out any) error {
	buf := make([]byte, n)
	if n > 0 {
		hostResult(uint32(uintptr(unsafe.Pointer(&buf[0]))))
	}
	var e envelope
	if err := json.Unmarshal(buf, &e); err != nil {
		return &Error{Code: "internal", Message: "the host's answer: " + err.Error()}
	}
	if e.Error != nil {
		return &Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil || len(e.Result) == 0 {
		return nil
	}
	return json.Unmarshal(e.Result, out)
}

func call(element, method string, super bool, out any, args []any) error {
	if args == nil {
		args = []any{}
	}
	req, err := json.Marshal(map[string]any{"element": element, "method": method, "args": args, "super": super})
	if err != nil {
		return &Error{Code: "invalid_argument", Message: err.Error()}
	}
	return answer(hostCall(uint32(uintptr(unsafe.Pointer(&req[0]))), uint32(len(req))), out)
}

// rawArgs turns Args into arguments that pass through as they are.
func rawArgs(args []any) []any {
	for i, a := range args {
		if r, ok := a.(json.RawMessage); ok {
			args[i] = r
		}
	}
	return args
}

// Super calls the method one link up the Type chain (this.$super.method in JS) and
// decodes its result into out (nil to drop it). Args of a method pass on as they are.
func Super(method string, out any, args ...any) error {
	return call("", method, true, out, rawArgs(args))
}

// This calls a method of this element (its most derived one, as this.method in JS).
func This(method string, out any, args ...any) error {
	return call("", method, false, out, rawArgs(args))
}

// Call calls a method of another element of the app, as app.getElement(element) in JS.
func Call(element, method string, out any, args ...any) error {
	return call(element, method, false, out, rawArgs(args))
}

// Config is the element's config, without its secrets.
func Config() (map[string]any, error) {
	var cfg map[string]any
	return cfg, answer(hostConfig(), &cfg)
}

// Levels of Log.
const (
	LevelDebug = -4
	LevelInfo  = 0
	LevelWarn  = 4
	LevelError = 8
)

// Log writes a line to the app's log.
func Log(level int, format string, args ...any) {
	msg := []byte(fmt.Sprintf(format, args...))
	if len(msg) == 0 {
		return
	}
	hostLog(int32(level), uint32(uintptr(unsafe.Pointer(&msg[0]))), uint32(len(msg)))
}
