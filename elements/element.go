package elements

import (
	"context"
	"log/slog"
	"time"

	"github.com/jitrt/jitrt/kv"
)

// Element is everything the runtime knows about one element when it asks a Type to build
// an instance of it.
type Element struct {
	// FullName is the folder path from the app root with "/" turned into ".".
	FullName string
	// Name is the last segment of FullName (the folder's name).
	Name string
	// Title is e.json's title (FullName when e.json has none).
	Title string
	// TypeID is the registered Type the instance is built from.
	TypeID string
	// Dir is the element's folder, absolute.
	Dir string
	// AppDir is the app's root folder, absolute.
	AppDir string
	// Definition is e.json, decoded.
	Definition map[string]any
	// Config is <Name>.json with ${VAR} interpolated, decoded; empty when the Type has none.
	Config map[string]any
	// ConfigPath is the config file's path relative to the app, for messages.
	ConfigPath string
	// Store is the app's state store; a Type keeps its state under keys it owns (see kv).
	Store *kv.Store
	// Logger is the element's logger, with secrets masked.
	Logger *slog.Logger
	// App lets an instance reach the other elements of its app.
	App AppHandle
	// Location is the app's time zone (app.json "timezone", else the machine's).
	Location *time.Location
	// Service is true when the app runs as a service (jitrt run): only then may an
	// instance start timers or other background work (in Start).
	Service bool
	// Observer receives the element's measurements (never nil).
	Observer Observer
	// AuditRetention is how long an org keeps its audit records (app.json's
	// "auditRetentionDays"; 0: the org's default).
	AuditRetention time.Duration
}

// AppHandle is the part of the running app an instance may use.
type AppHandle interface {
	// Call runs a method of another element, as a caller from outside the app would (only
	// Callable methods answer), through the app's one call path.
	Call(ctx context.Context, fullName, method string, args Args) (any, error)
	// CallScript requires an app-relative module and calls one of its exports with args,
	// in a run of its own with the app's time limit; it returns the JSON-shaped result.
	CallScript(ctx context.Context, module, export string, args ...any) (any, error)
	// Shared returns the value kept under key for the life of the app, making it with
	// create the first time: what every instance of every element that asks for the same
	// key shares, across reloads (a WeCom corp's rate limiter).
	Shared(key string, create func() any) any
	// Service returns what the program that runs the app provides under name (cmd/jitrt
	// provides the WeCom emulator), or nil.
	Service(name string) any
	// ElementsWhere lists the app's serving elements whose instance (the registered
	// Type's, beneath the JS of its Type chain) satisfies is, sorted by fullName: how a
	// login finds the orgs whose members log in, by what they are.
	ElementsWhere(is func(Instance) bool) []*Element
	// Instance is another element's serving instance (the registered Type's, beneath the
	// JS of its Type chain), held as a call holds it until release is called: how a login
	// finds the org its members are in, by what it is (org.Of).
	Instance(fullName string) (inst Instance, release func(), err error)
	// Recovered records a panic an instance caught in a goroutine of its own (a timer):
	// logged with its stack and counted, as a panic in a call is. It returns the error
	// (code internal) to report.
	Recovered(where string, r any) error
}

// PublicURLService is the name under which the program running an app provides the base
// URL users (and WeCom) reach its HTTP API at, as a func() string (such as
// "http://127.0.0.1:8787"; known once the server listens): a login's default redirect, a
// simulated corp's callback URL.
const PublicURLService = "publicURL"

// PublicURL is the app's public base URL from the program's service ("" if none).
func PublicURL(app AppHandle) string {
	if f, ok := app.Service(PublicURLService).(func() string); ok {
		return f()
	}
	return ""
}

// Call is one call of an element method, from any side: a script, the HTTP API, a task,
// jitrt call, the control socket, another element. The runtime runs every one through the
// same path: it takes the instance, applies one policy and converts errors once.
type Call struct {
	// Element is the fullName of the element.
	Element string
	// Method is the method's name.
	Method string
	// Object, when set, is a value a method returned (getClient()): Method is one of its
	// methods, and the call runs on the instance that returned it.
	Object Object
	// Super calls the method as it is at Level of the element's Type chain rather than its
	// most derived override (this.$super in an override): level 0 is the registered
	// Type's own method, level i the one with the JS of the chain's i-th link.
	Super bool
	Level int
	// Args are the arguments, read as Mode says.
	Args []any
	Mode ArgsMode
	// Outside marks a caller from outside the app's scripts: only Callable methods answer,
	// and a result only scripts can use (an Object) is refused.
	Outside bool
}

// TSSignature is a JS method's signature as TypeScript reads it.
type TSSignature struct {
	Params  []TSParam
	Returns string // "" when not said
}

// TSParam is one parameter of a TSSignature.
type TSParam struct {
	Name, Type string
	Optional   bool
}

// Starter is an optional interface of an Instance: Start does the I/O the instance needs
// to serve (an emulator, an index, timers). See the lifecycle in registry.go.
type Starter interface {
	Start(ctx context.Context) error
}

// Instance is a built element: what scripts, the HTTP API and tasks call.
type Instance interface {
	// Methods lists the methods scripts may call.
	Methods() []Method
	// Properties lists the read-only properties scripts may read. The runtime adds title,
	// fullName and type to every instance; an instance may override them.
	Properties() []Property
}

// RoleDeclarer is an optional interface of an Instance that declares roles (an org): the
// role ids it declares, and whether that is all it ever will (false for an org whose roles
// are also made at run time and cannot be read now). The runtime warns about a permission
// that names a role no declarer declares.
type RoleDeclarer interface {
	DeclaredRoles() (ids []string, complete bool)
}

// Describer is an optional interface of an Instance: what it adds to its element's status
// (a task's next run and last runs), shown by jitrt ls and the HTTP API.
type Describer interface {
	Describe() map[string]any
}

// WriteLocker is an optional interface of an Instance whose writers take a lock of the
// app's store (a corp's org): app.transaction(fullName, fn) holds that lock for fn, so
// that a read-modify-write in a script is atomic against every other writer of it.
type WriteLocker interface {
	WriteLock() string
}

// Method is one callable method of an instance.
type Method struct {
	Name string
	Doc  string
	// Params in positional order. A call may also name them in one object.
	Params []Param
	// Callable marks a method reachable from outside the app (the HTTP API, task funcs).
	// Every method is callable from the app's own scripts.
	Callable bool
	// Variadic takes any positional arguments, bound as a list under VariadicArgs (a method
	// an app's Type element adds in JS, whose parameters Go does not know).
	Variadic bool
	// Result, when set, is a value of the Go type the method returns (a struct with json
	// tags, a slice of them, *RowData…): tools describe the result from it (jitrt types).
	Result any
	// TS, for a method defined in JS (Variadic), is the signature its JSDoc gives (@param,
	// @returns), for editors' types (jitrt types); the call binds its arguments as for any
	// JS method.
	TS *TSSignature
	// Call runs the method. Args hold every given param under its name, already checked
	// against Params for presence and JSON kind.
	Call func(ctx context.Context, args Args) (any, error)
}

// Param is one parameter of a Method.
type Param struct {
	Name     string
	Kind     Kind
	Required bool
	// Any accepts any JSON kind (Kind is then only documentation).
	Any bool
}

// Property is one read-only property of an instance. Get is called on every read, so it
// sees the instance's current state.
type Property struct {
	Name string
	Doc  string
	Get  func() any
	// Result, when set, is a value of the property's Go type (see Method.Result).
	Result any
}

// Object is a value a method may return that is itself callable from scripts (for example
// the WeCom client returned by getClient): it has methods and properties like an Instance.
type Object interface {
	Methods() []Method
	Properties() []Property
}

// List is a list a method returns without building each item up front (the 100,000
// members of an org): scripts index and iterate it as an array, and it must also be a
// json.Marshaler, which writes it as a JSON array. It is read-only: a script that changes
// it changes its own copy.
type List interface {
	Len() int
	// At returns item i, JSON-shaped (or a Record, RowData or List).
	At(i int) any
}

// Record is an object a method returns whose fields are read when asked for: scripts see a
// plain object, and it must also be a json.Marshaler, which writes it as a JSON object.
type Record interface {
	Keys() []string
	// Field returns a field's value, JSON-shaped, and whether the record has it.
	Field(key string) (any, bool)
}

// FindMethod returns the named method of an instance or object, or nil.
func FindMethod(o Object, name string) *Method {
	ms := o.Methods()
	for i := range ms {
		if ms[i].Name == name {
			return &ms[i]
		}
	}
	return nil
}

// ProgressFunc receives progress of a long operation: its phase, items done, items known.
type ProgressFunc func(phase string, done, total int)

type progressKey struct{}

type noQueueKey struct{}

// WithoutQueue marks a context whose caller cannot wait for a place to run (the HTTP API,
// which answers 503 instead): work that would wait fails at once with code busy.
func WithoutQueue(ctx context.Context) context.Context {
	return context.WithValue(ctx, noQueueKey{}, true)
}

// IsWithoutQueue reports whether ctx was marked by WithoutQueue.
func IsWithoutQueue(ctx context.Context) bool { return ctx.Value(noQueueKey{}) != nil }

// WithProgress returns a context that carries a progress reporter to the methods it runs
// (jitrt run shows a progress bar with it on a terminal).
func WithProgress(ctx context.Context, fn ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// ProgressFrom returns the context's progress reporter, or nil.
func ProgressFrom(ctx context.Context) func(phase string, done, total int) {
	fn, _ := ctx.Value(progressKey{}).(ProgressFunc)
	if fn == nil {
		return nil
	}
	return fn
}

// Observer receives measurements of what elements do (a sync, a task run); the runtime
// forwards them to the metrics. name is short and stable ("sync", "task_run").
type Observer interface {
	Observe(name, element string, took time.Duration, err error)
}

// Counter is an optional interface of an Observer: it adds n to a named count of an
// element (the drift a sync repaired).
type Counter interface {
	Count(name, element string, n int)
}

// Count adds n to a count of the Observer, if it keeps counts.
func Count(o Observer, name, element string, n int) {
	if c, ok := o.(Counter); ok && n > 0 {
		c.Count(name, element, n)
	}
}

// NopObserver discards measurements.
type NopObserver struct{}

// Observe does nothing.
func (NopObserver) Observe(string, string, time.Duration, error) {}

// ValidRoleID reports whether id may name a role: 1 to 64 ASCII letters, digits, _ and -
// (checked by hand: the regexp of it compiled as every jitrt command started).
func ValidRoleID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
