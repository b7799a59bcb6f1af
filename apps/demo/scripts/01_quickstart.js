// 快速开始 › 调用示例 (基础调用示例)
const corp = app.getElement("corps.DemoCorp");
corp.initCorp();
const rootDept = corp.getRootDept();
console.log(`根部门: ${rootDept.name.value}`);
const adminList = corp.getAdmin();
console.log(`管理员: ${JSON.stringify(adminList)}`);
