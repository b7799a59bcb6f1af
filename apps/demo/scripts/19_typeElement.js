// 创建自己的Type元素: corps/AuditedCorp extends corps.QywxInnerType in JS (index.js), and
// corps/BranchCorp is an instance of it.
const branch = app.getElement("corps.BranchCorp");
if (!branch.corpData.initialized) {
  branch.initCorp();
}
const ids = branch.getLocalCorpData().userList.slice(0, 2).map((u) => u.memberId);
branch.setAdmin(ids); // the override logs an audit line, then calls corps.QywxInnerType's
console.log(`管理员: ${JSON.stringify(branch.adminNames())}`);
