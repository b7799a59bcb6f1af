// The demo's entry script (jitrt run apps/demo): initialise the simulated corp, sync it,
// and print what the seed's examples print. The corp talks to the built-in WeCom emulator
// over real HTTP, so this runs with no WeCom account.
const { someMembers } = require("./lib/demo");

// 获取企业微信组织实例
const corp = app.getElement("corps.DemoCorp");

// 初始化组织架构 (the first sync happens here)
corp.initCorp();

// 获取根部门
const rootDept = corp.getRootDept();
console.log(`根部门: ${rootDept.name.value}`);

// 管理员: the demo makes the first two members admins if the org has none yet
if (corp.getAdmin().length === 0) {
  corp.setAdmin(someMembers(2));
}
const adminList = corp.getAdmin();
console.log(`管理员: ${JSON.stringify(adminList)}`);

// 本地组织架构
const local = corp.getLocalCorpData();
console.log(`本地用户数: ${local.userList.length}`);
console.log(`本地部门数: ${local.deptList.length}`);

// 再同步一次: nothing changed in WeCom, so nothing is written
const report = corp.syncCorp();
console.log(`同步: 新增 ${report.added}, 更新 ${report.updated}, 离职 ${report.offlined}, 未变 ${report.unchanged}, 用时 ${report.durationMs}ms`);

// 部门角色: members of the first department under the root hold "member" by inheritance
const firstDept = local.deptList.find(d => d.parentId === rootDept.deptId.value);
let someone = null;
if (firstDept) {
  corp.setDeptRole(firstDept.deptId, ["member"]);
  someone = corp.getDeptMembers(firstDept.deptId)[0];
  if (someone) {
    const roles = corp.getMemberRoles(someone.memberId).map(r => `${r.roleId} (${r.from.join(", ")})`);
    console.log(`${someone.name} 的角色: ${roles.join("; ")}`);
  }
}

// 登录: open the app's login in a browser; the emulator lists members to log in as
const login = app.getElement("auths.loginTypes.DemoLogin");
console.log(`登录: ${login.authConfig.redirectUri.replace(/callback$/, "login")}`);

// 实时同步: the emulator pushes every change of its org as a WeCom event, applied at once
const wecom = corp.getCorpInfo().apiBase;
console.log(`企业微信模拟器: ${wecom}`);
console.log(`试一试: bin/jitrt wecom-sim ctl ${wecom} update-user userid=${someone ? someone.memberId : "<userid>"} position=新职位`);

// 本地组织 (corps.NormalType): kept in the app, its members sign in with a password
require("./21_localOrg");
console.log(`账号密码登录: ${login.authConfig.redirectUri.replace(/DemoLogin\/callback$/, "PasswordLogin/login")} (zhangsan / zhangsan-demo-pass)`);

// 钉钉组织 (corps.DDInnerType): the same methods, on the DingTalk emulator
require("./22_dingtalk");
const ddLogin = app.getElement("auths.loginTypes.DingTalkLogin");
console.log(`钉钉登录: ${ddLogin.authConfig.redirectUri.replace(/callback$/, "login")}`);

// 飞书组织 (corps.FSInnerType): the same methods, on the Feishu emulator
require("./23_feishu");
const fsLogin = app.getElement("auths.loginTypes.FeishuLogin");
console.log(`飞书登录: ${fsLogin.authConfig.redirectUri.replace(/callback$/, "login")}`);
console.log(`试一试: bin/jitrt sim dingtalk ctl ${app.getElement("corps.DingTalkCorp").getCorpInfo().apiBase} add-user userid=newbie name=新人 department=1`);
