// corps.NormalType: an org kept in the app itself, with no platform behind it. Its
// departments and members are made here; its members sign in with a password at
// /auth/auths.loginTypes.PasswordLogin/login (zhangsan below; the first admin once its
// config gives a password).
const org = app.getElement("corps.LocalOrg");
org.initCorp();

// 部门: 研发部 with 后端组 under it (made once)
let rd = org.getDeptTree({depth: 1}).children.find(d => d.name === "研发部");
if (!rd) {
  const made = org.createDept("研发部");
  org.createDept({name: "后端组", parentId: made.deptId.value});
  org.setDeptRole(made.deptId.value, ["dev"]);
  rd = org.getDeptTree({deptId: made.deptId.value, depth: 1});
}
const backend = org.getDeptTree({deptId: rd.deptId, depth: 1}).children[0];

// 成员: 张三 in 后端组, who signs in as zhangsan (made once)
if (org.listMembers({query: "zhangsan"}).total === 0) {
  org.addMember({nick: "张三", memberId: "zhangsan", deptIdList: [backend.deptId],
    username: "zhangsan", password: "zhangsan-demo-pass"});
}
const roles = org.getMemberRoles("zhangsan").map(r => `${r.roleId} (${r.from.join(", ")})`);
console.log(`本地组织: ${org.getDeptTree({depth: 0}).total} 人; 张三 的角色: ${roles.join("; ")}`);
