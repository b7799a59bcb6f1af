// Package redact masks an app's secrets in everything it shows: log records, console
// output, command output and error messages.
package redact

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask is what a secret is replaced with wherever it would be shown.
const Mask = "******"

// minSecretLen is the shortest value masked: masking a one- or two-character "secret" would
// mangle every line while protecting nothing.
const minSecretLen = 4

// Redactor replaces known secret values with Mask. The app registers the value of every
// schema field marked Secret; logs, console output and CLI output all pass through it.
type Redactor struct {
	mu       sync.Mutex
	secrets  map[string]bool
	list     atomic.Pointer[[]string] // the secrets, for the no-secret fast path
	replacer atomic.Pointer[strings.Replacer]
}

// New returns a redactor with no secrets.
func New() *Redactor {
	return &Redactor{secrets: map[string]bool{}}
}

// Add registers secret values.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) >= minSecretLen && !r.secrets[v] {
			r.secrets[v] = true
			changed = true
		}
	}
	if !changed {
		return
	}
	pairs := make([]string, 0, 2*len(r.secrets))
	list := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		pairs = append(pairs, s, Mask)
		list = append(list, s)
	}
	r.replacer.Store(strings.NewReplacer(pairs...))
	r.list.Store(&list)
}

// Contains reports whether s holds a known secret. It allocates nothing, so callers on a
// hot path check it before String.
func (r *Redactor) Contains(s string) bool {
	if r == nil {
		return false
	}
	list := r.list.Load()
	if list == nil {
		return false
	}
	for _, secret := range *list {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// String masks every known secret in s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	rep := r.replacer.Load()
	if rep == nil || !r.Contains(s) {
		return s
	}
	return rep.Replace(s)
}

// Writer wraps w so that everything written through it is masked. Each Write is masked on
// its own, so a caller must not split a secret across writes (line-oriented output does not).
func (r *Redactor) Writer(w io.Writer) io.Writer { return &redactWriter{r: r, w: w} }

type redactWriter struct {
	r *Redactor
	w io.Writer
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if rw.r.replacer.Load() == nil {
		return rw.w.Write(p)
	}
	if _, err := io.WriteString(rw.w, rw.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Handler wraps a slog.Handler so that no attribute or message carries a secret.
func (r *Redactor) Handler(h slog.Handler) slog.Handler { return &redactHandler{r: r, h: h} }

type redactHandler struct {
	r *Redactor
	h slog.Handler
}

func (rh *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return rh.h.Enabled(ctx, l) }

func (rh *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rh.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(rh.attr(a))
		return true
	})
	return rh.h.Handle(ctx, out)
}

func (rh *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, rh.r.String(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = rh.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, rh.r.String(err.Error()))
		}
		return slog.String(a.Key, rh.r.String(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (rh *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = rh.attr(a)
	}
	return &redactHandler{r: rh.r, h: rh.h.WithAttrs(out)}
}

func (rh *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{r: rh.r, h: rh.h.WithGroup(name)}
}
