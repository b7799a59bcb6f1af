// corps.FSInnerType: the same org methods on Feishu (飞书), on the built-in Feishu emulator;
// its changes come as Feishu's v2.0 events, encrypted and signed.
const fs = app.getElement("corps.FeishuCorp");
fs.initCorp();
const fsData = fs.corpData;
console.log(`飞书组织: ${fs.getRootDept().name.value}, ${fsData.activeMembers} 人, ${fsData.departments} 个部门`);
const fsSync = fs.syncCorp();
console.log(`飞书同步: 新增 ${fsSync.added}, 更新 ${fsSync.updated}, 未变 ${fsSync.unchanged}`);
