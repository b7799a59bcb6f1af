package jsdoc

import (
	"reflect"
	"testing"
)

func TestParseReadsTheDocOfExportedFunctions(t *testing.T) {
	src := `
/**
 * Adds a role to a member, keeping the others.
 * @param {string} member - the member's id
 * @param {string} role the role's id
 * @param {number=} times
 * @param {Object.<string, number>} [opts]
 * @param {boolean} opts.dry
 * @returns {number} how many roles the member holds
 */
exports.addRole = function (member, role, times, opts) {};

/** Nothing to say. */
module.exports.ping = () => "pong";

exports.bare = function () {};

/**
 * @param {?string} x
 * @return {Promise<string[]>}
 */
async function later(x) {}
exports.later = later;
`
	got := Parse(src)
	want := map[string]*Func{
		"addRole": {Doc: "Adds a role to a member, keeping the others.", Returns: "number", Params: []Param{
			{Name: "member", Type: "string", Doc: "the member's id"},
			{Name: "role", Type: "string", Doc: "the role's id"},
			{Name: "times", Type: "number", Optional: true},
			{Name: "opts", Type: "Record<string, number>", Optional: true},
		}},
		"ping":  {Doc: "Nothing to say."},
		"later": {Returns: "Promise<string[]>", Params: []Param{{Name: "x", Type: "string | null"}}},
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range got {
			t.Logf("%s: %+v", k, *v)
		}
		t.Fatal("not as written")
	}
}
