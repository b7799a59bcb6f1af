package elements

import (
	"bytes"
	"encoding/json"
)

// RowData is one record as JitAi hands it to scripts: each field is reached as
// row.field.value (the seed reads root_dept.name.value), and the row serialises to plain
// JSON ({"field": value, …}) in field order.
type RowData struct {
	keys   []string
	values map[string]any
}

// NewRowData builds a row from alternating field names and values.
func NewRowData(kv ...any) *RowData {
	r := &RowData{values: make(map[string]any, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Set(kv[i].(string), kv[i+1])
	}
	return r
}

// Set sets a field, keeping the order in which fields were first set.
func (r *RowData) Set(field string, v any) {
	if _, ok := r.values[field]; !ok {
		r.keys = append(r.keys, field)
	}
	r.values[field] = v
}

// Get returns a field's value.
func (r *RowData) Get(field string) any { return r.values[field] }

// Fields lists the field names in order.
func (r *RowData) Fields() []string { return r.keys }

// MarshalJSON writes the row as a plain JSON object in field order.
func (r *RowData) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(r.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
