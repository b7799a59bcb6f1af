// 方法 › offlineMember: 将成员转为离职状态 (this corp only; syncs leave them offline)
const { ready, someMembers } = require("./lib/demo");
const corp = ready();
const ids = someMembers(2);
corp.offlineMember(ids);
const offline = corp.getLocalCorpData().userList.filter((u) => ids.includes(u.memberId)).map((u) => `${u.memberId}:${u.status}`);
console.log(`离职: ${offline.join(", ")}`);
