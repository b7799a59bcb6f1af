package runtime

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkLoadApp1000 loads an app of 1,000 elements, each with an e.json and a config.
func BenchmarkLoadApp1000(b *testing.B) {
	files := map[string]string{"app.json": `{"name": "big"}`}
	for i := 0; i < 1000; i++ {
		dir := fmt.Sprintf("g%02d/E%04d", i%50, i)
		files[dir+"/e.json"] = fmt.Sprintf(`{"title": "元素 %d", "type": "testing.Echo"}`, i)
		files[dir+fmt.Sprintf("/E%04d.json", i)] = `{"greeting": "${GREETING:-hi}", "token": "tok-1234", "limit": 3}`
	}
	dir := writeTree(b, files)
	data := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		app, err := Load(context.Background(), dir, Options{DataDir: data})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(app.Entries()); n != 1000 || len(app.Problems()) != 0 {
			b.Fatalf("%d elements, problems %v", n, app.Problems())
		}
		app.Close()
	}
}

func benchApp(b *testing.B) *App {
	return loadTest(b, writeTree(b, echoApp), Options{PoolSize: 1})
}

// BenchmarkGetElementFromJS is one app.getElement call inside a running script.
func BenchmarkGetElementFromJS(b *testing.B) {
	app := benchApp(b)
	code := fmt.Sprintf(`let t; for (let i = 0; i < %d; i++) { t = app.getElement("e.Hello") }; t.title`, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if got, _, err := run(b, app, code); err != nil || got != `"Hello"` {
		b.Fatal(got, err)
	}
}

// BenchmarkGoMethodFromJS is one call of a Go method (with one string argument) from JS.
func BenchmarkGoMethodFromJS(b *testing.B) {
	app := benchApp(b)
	code := fmt.Sprintf(`const e = app.getElement("e.Hello"); let r; for (let i = 0; i < %d; i++) { r = e.greet("x") }; r`, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if got, _, err := run(b, app, code); err != nil || got != `"hello, x"` {
		b.Fatal(got, err)
	}
}

// BenchmarkRunSmallScript is the whole cost of one short run through the pool.
func BenchmarkRunSmallScript(b *testing.B) {
	app := benchApp(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := run(b, app, `app.getElement("e.Hello").greet("x")`); err != nil {
			b.Fatal(err)
		}
	}
}
