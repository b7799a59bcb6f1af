package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/jitrt/jitrt/elements"
	"github.com/jitrt/jitrt/internal/testwait"
)

// A method that calls itself through the element (this.deep, app.getElement(...).deep)
// is bounded by the call-depth limit like plain recursion: a resource_exhausted error at
// once, not a run to the time limit.
func TestRecursionThroughElementCallsIsBounded(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"e/Deep/e.json": `{"type": "testing.Meta", "extend": "testing.Echo", "callable": ["deep", "viaApp"]}`,
		"e/Deep/index.js": `exports.deep = function (n) { return n <= 0 ? 0 : 1 + this.deep(n - 1) };
exports.viaApp = function (n) { return n <= 0 ? 0 : 1 + app.getElement("e.I").viaApp(n - 1) };`,
		"e/I/e.json": `{"type": "e.Deep"}`,
		"e/I/I.json": `{"greeting": "hi"}`,
	})
	app := loadTest(t, dir, Options{})
	for _, method := range []string{"deep", "viaApp"} {
		// a shallow chain works
		if res, err := app.CallJSON(context.Background(), "e.I", method, []any{30}); err != nil || res != int64(30) && res != float64(30) {
			t.Fatalf("%s(30): %v %v", method, res, err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := app.Host().Run(elements.WithoutQueue(context.Background()), Script{Code: `app.getElement("e.I").` + method + `(100000)`, Timeout: testwait.Hang})
			done <- err
		}()
		err := testwait.Recv(t, method+"(100000) to end", done)
		t.Logf("%s: %d bytes: %.300s", method, len(err.Error()), err.Error())
		if elements.CodeOf(err) != elements.CodeResourceExhausted || !strings.Contains(err.Error(), "deep") {
			t.Fatalf("%s(100000): %v (%s)", method, err, elements.CodeOf(err))
		}
	}
}
