// 高级特性 › 批量操作优化
const { someMembers } = require("./lib/demo");
const corp = app.getElement("corps.DemoCorp");
// 获取第三方数据
const corpData = corp.getThirdCorpData();
// 批量注册用户
corp.bulkRegister(corpData);
// 批量设置管理员
const ids = someMembers(5);
const adminIds = ids.slice(0, 3);
corp.setAdmin(adminIds);
// 批量离职处理
const offlineIds = ids.slice(3, 5);
corp.offlineMember(offlineIds);
console.log(`管理员: ${JSON.stringify(corp.getAdmin())}, 离职: ${JSON.stringify(offlineIds)}`);
