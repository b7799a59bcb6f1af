package corps_test

import (
	"testing"

	"github.com/jitrt/jitrt/wecom"
)

// Three of the app's Type elements, each extending the one before, over
// corps.QywxInnerType: each link's syncCorp calls $super and adds a field to the report,
// and a sync through the corp (from a script and from Go) passes through all three.
func TestAThreeLinkChainOfCorpTypesOverridesSyncCorp(t *testing.T) {
	e := newEnv(t, 30, 3, "")
	link := func(name, base, field string) {
		e.write("corps/"+name+"/e.json", `{"type": "corps.Meta", "extend": "`+base+`"}`)
		e.write("corps/"+name+"/index.js", `exports.syncCorp = function (opts) {
  const r = this.$super.syncCorp(opts);
  r.links = (r.links || []).concat(["`+field+`"]);
  r.`+field+` = true;
  return r;
};`)
	}
	link("Audited", "corps.QywxInnerType", "audited")
	link("Regional", "corps.Audited", "regional")
	link("Branch", "corps.Regional", "branch")
	e.write("corps/Test/e.json", `{"title": "测试企业", "type": "corps.Branch"}`)
	e.open()
	e.mustJS(`corp.initCorp()`, nil)
	e.must(e.sim.UpdateUser(e.sim.Org().Users[0].UserID, func(u *wecom.User) { u.Position = "链上" }))
	var r struct {
		Updated                   int
		Links                     []string
		Audited, Regional, Branch bool
	}
	e.mustJS(`corp.syncCorp()`, &r)
	if r.Updated != 1 || len(r.Links) != 3 || r.Links[0] != "audited" || r.Links[2] != "branch" || !r.Audited || !r.Regional || !r.Branch {
		t.Fatalf("the report through the chain: %+v", r)
	}
	res, err := e.app.CallJSON(t.Context(), "corps.Test", "syncCorp", []any{true})
	m, _ := res.(map[string]any)
	if err != nil || m["branch"] != true || m["audited"] != true {
		t.Fatalf("from Go: %v %v", res, err)
	}
}
