// 方法 › getRootDept: 获取根部门信息
const { ready } = require("./lib/demo");
const rootDept = ready().getRootDept();
console.log(`根部门ID: ${rootDept.deptId.value}`);
console.log(`根部门名称: ${rootDept.name.value}`);
