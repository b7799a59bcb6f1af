// 方法 › getAdmin: 获取当前组织架构的管理员ID列表
const { ready } = require("./lib/demo");
const adminList = ready().getAdmin();
console.log(`管理员列表: ${JSON.stringify(adminList)}`);
