// 属性: corpData, title, fullName, corpFullName, authConfig
const { ready } = require("./lib/demo");
const corp = ready();
console.log(`组织架构数据: ${JSON.stringify(corp.corpData)}`);
console.log(`标题: ${corp.title}`);
console.log(`全名: ${corp.fullName}`);
console.log(`组织架构全名: ${corp.corpFullName}`);
console.log(`企业ID: ${corp.authConfig["corpId"]}`);
console.log(`应用ID: ${corp.authConfig["agentId"]}`);
