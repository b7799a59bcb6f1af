package jshost

import (
	"github.com/dop251/goja"

	"github.com/jitrt/jitrt/elements"
)

// listArray shows an elements.List to scripts as an array whose items are made when read.
// A script may change it: the first change copies the items into the array's own, so the
// list behind it is never changed.
type listArray struct {
	h    *Host
	v    *vm
	list elements.List
	own  []goja.Value // the items, once a script changed the array
}

func (a *listArray) Len() int {
	if a.own != nil {
		return len(a.own)
	}
	return a.list.Len()
}

func (a *listArray) Get(i int) goja.Value {
	if a.own != nil {
		if i < 0 || i >= len(a.own) {
			return nil
		}
		return a.own[i]
	}
	if i < 0 || i >= a.list.Len() {
		return nil
	}
	return a.h.toJS(a.v, a.list.At(i))
}

// copy makes the items the array's own.
func (a *listArray) copy() {
	if a.own != nil {
		return
	}
	a.own = make([]goja.Value, a.list.Len())
	for i := range a.own {
		a.own[i] = a.h.toJS(a.v, a.list.At(i))
	}
}

func (a *listArray) Set(i int, val goja.Value) bool {
	if i < 0 {
		return false
	}
	a.copy()
	for len(a.own) <= i {
		a.own = append(a.own, goja.Undefined())
	}
	a.own[i] = val
	return true
}

func (a *listArray) SetLen(n int) bool {
	if n < 0 {
		return false
	}
	a.copy()
	for len(a.own) < n {
		a.own = append(a.own, goja.Undefined())
	}
	a.own = a.own[:n]
	return true
}

// recordObject shows an elements.Record to scripts as an object whose fields are read when
// asked for. A script may change it: changed fields are its own.
type recordObject struct {
	h   *Host
	v   *vm
	rec elements.Record
	own map[string]goja.Value // fields set or deleted (nil) by the script
}

func (o *recordObject) Get(key string) goja.Value {
	if v, ok := o.own[key]; ok {
		return v
	}
	val, ok := o.rec.Field(key)
	if !ok {
		return nil
	}
	return o.h.toJS(o.v, val)
}

func (o *recordObject) Set(key string, val goja.Value) bool {
	if o.own == nil {
		o.own = map[string]goja.Value{}
	}
	o.own[key] = val
	return true
}

func (o *recordObject) Has(key string) bool {
	if v, ok := o.own[key]; ok {
		return v != nil
	}
	_, ok := o.rec.Field(key)
	return ok
}

func (o *recordObject) Delete(key string) bool {
	if o.own == nil {
		o.own = map[string]goja.Value{}
	}
	o.own[key] = nil
	return true
}

func (o *recordObject) Keys() []string {
	keys := o.rec.Keys()
	if o.own == nil {
		return keys
	}
	out := make([]string, 0, len(keys)+len(o.own))
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
		if v, ok := o.own[k]; !ok || v != nil {
			out = append(out, k)
		}
	}
	for k, v := range o.own {
		if !seen[k] && v != nil {
			out = append(out, k)
		}
	}
	return out
}
