// 方法 › getUserSignature: 获取用户的签名
const { ready, someMembers } = require("./lib/demo");
const corp = ready();
const [memberId] = someMembers(1);
const signatureInfo = corp.getUserSignature(memberId);
console.log(`签名: ${signatureInfo["signature"]}`);
