// 方法 › getLocalCorpData: 获取本地用户池和第三方企业认证信息
const { ready } = require("./lib/demo");
const localData = ready().getLocalCorpData();
console.log(`本地用户数: ${localData.userList.length}`);
console.log(`本地部门数: ${localData.deptList.length}`);
console.log(`角色: ${localData.roleList.map((r) => r.name).join(", ")}, 认证记录: ${localData.thirdAuthList.length}`);
