// 方法 › getCorpInfo: 获取组织架构信息 (never the secret)
const corp = app.getElement("corps.DemoCorp");
const corpInfo = corp.getCorpInfo();
console.log(`组织架构名称: ${corpInfo["title"]}`);
console.log(`全名: ${corpInfo["fullName"]}`);
