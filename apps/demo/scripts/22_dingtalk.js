// corps.DDInnerType: the same org methods on DingTalk (钉钉). The corp talks to the built-in
// DingTalk emulator over real HTTP; its changes come as DingTalk's event pushes.
const dd = app.getElement("corps.DingTalkCorp");
dd.initCorp();
const ddRoot = dd.getRootDept();
const ddData = dd.corpData;
console.log(`钉钉组织: ${ddRoot.name.value}, ${ddData.activeMembers} 人, ${ddData.departments} 个部门`);
const ddSync = dd.syncCorp();
console.log(`钉钉同步: 新增 ${ddSync.added}, 更新 ${ddSync.updated}, 未变 ${ddSync.unchanged}`);
