package corps

import "github.com/jitrt/jitrt/elements"

func str(name string) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindString, Required: true}
}

func num(name string, required bool) elements.Param {
	return elements.Param{Name: name, Kind: elements.KindNumber, Required: required}
}
