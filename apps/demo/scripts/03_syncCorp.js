// 方法 › syncCorp: 同步企业微信组织架构数据到本地
const { ready } = require("./lib/demo");
const corp = ready();
const preview = corp.syncCorp({ dryRun: true });
console.log(`dry run: ${preview.changes ? preview.changes.length : 0} change(s) would be made`);
const report = corp.syncCorp();
console.log(`同步结果: ${JSON.stringify({ added: report.added, updated: report.updated, offlined: report.offlined, reactivated: report.reactivated, unchanged: report.unchanged, warnings: report.warnings })}`);
console.log(`同步历史: ${corp.getSyncHistory().length} 条`);
