package corps

import (
	"encoding/json"

	"github.com/jitrt/jitrt/elements"
)

func str(name string) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindString, Required: true}
}

func num(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindNumber, Required: required}
}

// jsonValue turns a Go value into the JSON-shaped value scripts see.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
