// 高级特性 › 自动同步配置: a scheduled task calls this; here it runs once.
// (In jitrt a task element schedules it; see the tasks issue.)
const corp = app.getElement("corps.DemoCorp");
// 每小时同步一次组织架构
const report = corp.syncCorp();
console.log(`同步: 新增 ${report.added}, 更新 ${report.updated}, 离职 ${report.offlined}, 用时 ${report.durationMs}ms`);
