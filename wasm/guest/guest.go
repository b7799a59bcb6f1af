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
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// argsBuf is where the host writes a method's arguments; result holds the last answer
// until the next call.
var argsBuf, result []byte

//go:wasmexport jitrt_alloc
func alloc(n uint32) uint32 {
	if uint32(cap(argsBuf)) < n || cap(argsBuf) == 0 {
		argsBuf = make([]byte, max(n, 256))
	}
	return uint32(uintptr(unsafe.Pointer(&argsBuf[:1][0])))
}

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
	switch p := v.(type) { // numbers and plain strings without reflection
	case *float64:
		if f, err := strconv.ParseFloat(string(a[i]), 64); err == nil {
			*p = f
			return nil
		}
	case *string:
		if s := a[i]; len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !bytes.ContainsAny(s[1:len(s)-1], "\\\"") {
			*p = string(s[1 : len(s)-1])
			return nil
		}
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

// Method runs fn with the arguments the host wrote (n bytes at p) and returns its answer
// for the host: the body of every exported method.
func Method(p, n uint32, fn func(Args) (any, error)) uint64 {
	in := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n)
	args, ok := splitArray(in)
	if !ok {
		return answerError("invalid_argument", "the arguments are not a JSON array")
	}
	v, err := fn(args)
	if err != nil {
		code := "script_error"
		if ge, ok := err.(*Error); ok && ge.Code != "" {
			code = ge.Code
		}
		return answerError(code, err.Error())
	}
	result = append(result[:0], `{"result":`...)
	switch x := v.(type) { // the common results without reflection
	case nil:
		result = append(result, "null"...)
	case float64:
		result = strconv.AppendFloat(result, x, 'g', -1, 64)
	case int:
		result = strconv.AppendInt(result, int64(x), 10)
	case bool:
		result = strconv.AppendBool(result, x)
	case string:
		result = strconv.AppendQuote(result, x) // Go's quoting is JSON for valid UTF-8 without control characters
		if !simpleString(x) {
			raw, _ := json.Marshal(x)
			result = append(result[:len(`{"result":`)], raw...)
		}
	case json.RawMessage:
		result = append(result, x...)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return answerError("script_error", "the result cannot be JSON: "+err.Error())
		}
		result = append(result, raw...)
	}
	result = append(result, '}')
	return packed(result)
}

func answerError(code, msg string) uint64 {
	e := struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{}
	e.Error.Code, e.Error.Message = code, msg
	out, _ := json.Marshal(e)
	result = append(result[:0], out...)
	return packed(result)
}

// packed is (ptr<<32 | len) of b.
func packed(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
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

// splitArray cuts a JSON array into its items, without decoding them.
func splitArray(in []byte) (Args, bool) {
	in = bytes.TrimSpace(in)
	if len(in) < 2 || in[0] != '[' || in[len(in)-1] != ']' {
		return nil, false
	}
	var out Args
	depth, start, inString := 0, 1, false
	for i := 1; i < len(in)-1; i++ {
		c := in[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, bytes.TrimSpace(in[start:i]))
			start = i + 1
		}
	}
	if last := bytes.TrimSpace(in[start : len(in)-1]); len(last) > 0 {
		out = append(out, last)
	} else if len(out) > 0 {
		return nil, false // a trailing comma
	}
	for _, it := range out {
		if len(it) == 0 || !json.Valid(it) {
			return nil, false
		}
	}
	return out, true
}

// simpleString reports whether Go's quoting of s is also JSON's.
func simpleString(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || r > 0xffff {
			return false
		}
	}
	return true
}
