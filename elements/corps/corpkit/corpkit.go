// Package corpkit is what the corp Types of the platforms share (WeCom, DingTalk, Feishu):
// the seed's order of their methods, the JSON values scripts see, and the words for a
// corpData that does not have the shape it must.
package corpkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/jitrt/jitrt/elements"
)

// SeedMethodOrder is the order of the corp's methods, as the seed lists them.
var SeedMethodOrder = []string{"initCorp", "syncCorp", "getSyncHistory", "getThirdCorpData", "bulkRegister", "getLocalCorpData",
	"getRootDept", "setUserRole", "offlineMember", "reactivateMember", "getUserSignature", "saveUserSignature", "setAdmin",
	"getAdmin", "getDeptMembers", "getCorpInfo", "getClient", "setDeptRole", "getDeptRole", "getMemberRoles", "getMember",
	"getDeptTree", "listMembers"}

// SeedOrder lists a corp's own methods and its org's (dir), each once (the org's of a name
// both have), in the seed's order, then the rest as given.
func SeedOrder(own, dir []elements.Method) []elements.Method {
	byName := map[string]elements.Method{}
	for _, m := range slices.Concat(own, dir) {
		byName[m.Name] = m
	}
	ms := make([]elements.Method, 0, len(byName))
	for _, name := range SeedMethodOrder {
		if m, ok := byName[name]; ok {
			ms = append(ms, m)
			delete(byName, name)
		}
	}
	for _, m := range slices.Concat(own, dir) {
		if _, ok := byName[m.Name]; ok {
			ms = append(ms, m)
			delete(byName, m.Name)
		}
	}
	return ms
}

// JSONShape says, in JSON's words, what part of a value does not have the shape it must:
// "corpData.userDict must be an object, not an array" (never a Go type's name).
func JSONShape(name string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		at := name
		if te.Field != "" {
			at += "." + te.Field
		}
		return fmt.Sprintf("%s must be %s, not %s", at, jsonKindOf(te.Type), articled(te.Value))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s is not JSON at byte %d", name, se.Offset)
	}
	return name + " cannot be read"
}

// jsonKindOf names the JSON kind a Go type is read from.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	}
	return "a number"
}

// articled is a JSON kind as encoding/json names it ("array", "number 1.5"), with its article.
func articled(v string) string {
	switch {
	case strings.HasPrefix(v, "array"), strings.HasPrefix(v, "object"):
		return "an " + v
	case v == "bool":
		return "true or false"
	}
	return "a " + v
}
