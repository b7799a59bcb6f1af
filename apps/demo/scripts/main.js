// The entry script of the demo: walks through the seed document's examples.
const corp = app.getElement("corps.DemoCorp");

console.log(`应用: ${app.title} (${app.name})`);
console.log(`标题: ${corp.title}`);
console.log(`全名: ${corp.fullName}`);
console.log(`组织架构全名: ${corp.corpFullName}`);
console.log(`企业ID: ${corp.authConfig.corpId}`);
console.log(`应用ID: ${corp.authConfig.agentId}`);

const info = corp.getCorpInfo();
console.log(`组织架构名称: ${info.title}`);
console.log(`全名: ${info.fullName}`);
