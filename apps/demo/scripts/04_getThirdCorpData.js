// 方法 › getThirdCorpData: 获取第三方企业微信组织架构数据
const corp = app.getElement("corps.DemoCorp");
const corpData = corp.getThirdCorpData();
console.log(`用户数量: ${Object.keys(corpData.userDict || {}).length}`);
console.log(`部门数量: ${Object.keys(corpData.deptDict).length}, 标签数量: ${Object.keys(corpData.tagDict).length}`);
