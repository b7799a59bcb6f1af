// 方法 › initCorp: 初始化组织架构 (creates roles and departments, then syncs)
const corp = app.getElement("corps.DemoCorp");
corp.initCorp();
console.log(`initialized: ${corp.corpData.initialized}, members: ${corp.corpData.members}`);
