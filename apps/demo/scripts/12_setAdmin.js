// 方法 › setAdmin: 设置组织负责人, 设置管理员
const { ready, someMembers } = require("./lib/demo");
const corp = ready();
console.log(`setAdmin: ${JSON.stringify(corp.setAdmin(someMembers(2)))}`);
