// 方法 › saveUserSignature: 保存用户的签名 (an http(s) URL of the image)
const { ready, someMembers } = require("./lib/demo");
const corp = ready();
const [memberId] = someMembers(1);
const result = corp.saveUserSignature({ memberId: memberId, signature: "https://example.com/signature.png" });
console.log(`保存结果: ${JSON.stringify(result)}`);
console.log(`签名: ${corp.getUserSignature(memberId).signature}`);
