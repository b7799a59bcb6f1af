// 方法 › setUserRole: 设置用户角色 (named arguments, as the seed's memberId=…, roleIdList=…)
const { ready, someMembers } = require("./lib/demo");
const corp = ready();
const [memberId] = someMembers(1);
const result = corp.setUserRole({ memberId: memberId, roleIdList: ["admin", "member"] });
console.log(`设置角色结果: ${JSON.stringify(result)}`);
