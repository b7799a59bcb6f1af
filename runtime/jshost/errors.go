package jshost

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/jitrt/jitrt/elements"
)

// compileScript compiles a top-level script inside a block, so that its let, const and class
// declarations do not outlive the run in a pooled runtime. The brace stands on the first line,
// so line numbers are unchanged and only columns of line 1 shift (positionOf undoes that).
func compileScript(name, code string) (*goja.Program, error) {
	ast, err := parser.ParseFile(nil, name, "{"+code+"\n}", 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			p := list[0].Position
			col := p.Column
			if p.Line == 1 && col > 1 {
				col--
			}
			return nil, &elements.Error{Code: elements.CodeScript, Message: fmt.Sprintf("%s:%d:%d: SyntaxError: %s", name, p.Line, col, list[0].Message)}
		}
		return nil, &elements.Error{Code: elements.CodeScript, Message: "SyntaxError: " + err.Error()}
	}
	prog, err := goja.CompileAST(ast, false)
	if err != nil {
		return nil, &elements.Error{Code: elements.CodeScript, Message: fmt.Sprintf("%s: %v", name, err)}
	}
	return prog, nil
}

// runError turns what goja returned into an error with a code and, for script errors, the
// file:line:col where it was thrown.
func (h *Host) runError(err error, mainName string, lim Limits) error {
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		switch x := intr.Value().(type) {
		case timeoutMarker:
			h.timeouts.Add(1)
			return &elements.Error{Code: elements.CodeTimeout, Err: elements.ErrTimeout,
				Message: fmt.Sprintf("script timed out after %s (raise the limit with --timeout)", x.limit)}
		case memoryMarker:
			h.exhausted.Add(1)
			if x.process {
				return &elements.Error{Code: elements.CodeResourceExhausted, Err: elements.ErrResourceExhausted,
					Message: fmt.Sprintf("script stopped: the process's memory passed its budget of %s while it ran and grew it (limits.memory, --max-memory)", bytesText(x.limit))}
			}
			return &elements.Error{Code: elements.CodeResourceExhausted, Err: elements.ErrResourceExhausted,
				Message: fmt.Sprintf("script stopped: it used more than its %s of memory (limits.runMemory, --max-run-memory)", bytesText(x.limit))}
		case error:
			return &elements.Error{Code: elements.CodeTimeout, Err: x, Message: "script interrupted"}
		}
		return &elements.Error{Code: elements.CodeTimeout, Err: elements.ErrTimeout, Message: "script interrupted"}
	}
	var syn *goja.CompilerSyntaxError
	if errors.As(err, &syn) {
		if fixed, ok := fixModuleSyntax(syn.Message); ok {
			return &elements.Error{Code: elements.CodeScript, Message: fixed}
		}
		msg := "SyntaxError: " + syn.Message
		if syn.File != nil {
			p := syn.File.Position(syn.Offset)
			msg = fmt.Sprintf("%s:%d:%d: %s", p.Filename, p.Line, p.Column, msg)
		}
		return &elements.Error{Code: elements.CodeScript, Message: msg}
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		if !isStackOverflow(ex) {
			return h.exceptionError(ex, mainName)
		}
		e := h.exceptionError(ex, mainName).(*elements.Error)
		e.Code, e.Err = elements.CodeResourceExhausted, elements.ErrResourceExhausted
		e.Message += fmt.Sprintf(" (the limit is %d calls deep)", lim.CallStack)
		return e
	}
	return err
}

// isStackOverflow tells the RangeError goja throws at the call-stack limit (a catchable one:
// third_party/goja/JITRT.md), left uncaught, from the script's own errors.
func isStackOverflow(ex *goja.Exception) bool {
	obj, ok := ex.Value().(*goja.Object)
	if !ok {
		return false
	}
	name, msg := obj.Get("name"), obj.Get("message")
	return name != nil && name.String() == "RangeError" && msg != nil && msg.String() == goja.StackOverflowMessage
}

// moduleWrapper is what goja_nodejs puts before a module's source on its first line.
const moduleWrapper = "(function(exports,require,module,__filename,__dirname){"

// moduleSyntax matches the parser's message for a module that does not compile.
var moduleSyntax = regexp.MustCompile(`^(?:SyntaxError: )?(\S+): Line (\d+):(\d+) (.+?)(?: \(and \d+ more errors?\))?$`)

// fixModuleSyntax rewrites "SyntaxError: f.js: Line 2:11 Unexpected token" as
// "f.js:2:11: SyntaxError: Unexpected token", columns of line 1 without the wrapper.
func fixModuleSyntax(msg string) (string, bool) {
	m := moduleSyntax.FindStringSubmatch(msg)
	if m == nil {
		return msg, false
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	if line == 1 && col > len(moduleWrapper) {
		col -= len(moduleWrapper)
	}
	return fmt.Sprintf("%s:%d:%d: SyntaxError: %s", m[1], line, col, m[4]), true
}

// exceptionError keeps the code of an Error thrown from Go (or set by the script) and puts
// the place it was thrown in front of the message.
func (h *Host) exceptionError(ex *goja.Exception, mainName string) error {
	code := elements.CodeScript
	msg := ""
	if obj, ok := ex.Value().(*goja.Object); ok {
		if c := obj.Get("code"); c != nil && !goja.IsUndefined(c) && !goja.IsNull(c) {
			code = c.String()
		}
		msg = obj.String()
	} else if ex.Value() != nil {
		msg = "Uncaught " + ex.Value().String()
	}
	if fixed, ok := fixModuleSyntax(msg); ok {
		return &elements.Error{Code: elements.CodeScript, Message: h.opts.Redactor.String(fixed)}
	}
	where := ""
	for _, f := range ex.Stack() {
		if f.SrcName() == "" || f.SrcName() == "<native>" {
			continue
		}
		p := f.Position()
		if p.Line > 0 {
			switch {
			case f.SrcName() == mainName && p.Line == 1 && p.Column > 1:
				p.Column-- // the block brace compileScript added
			case f.SrcName() != mainName && p.Line == 1 && p.Column > len(moduleWrapper):
				p.Column -= len(moduleWrapper) // the wrapper goja_nodejs puts around a module
			}
			where = fmt.Sprintf("%s:%d:%d: ", f.SrcName(), p.Line, p.Column)
			break
		}
	}
	return &elements.Error{Code: code, Message: h.opts.Redactor.String(where + msg)}
}

// bytesText writes a size in the largest binary unit it is a whole number of.
func bytesText(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
