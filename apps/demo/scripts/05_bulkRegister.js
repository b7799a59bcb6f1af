// 方法 › bulkRegister: 批量注册用户到本地系统
const corp = app.getElement("corps.DemoCorp");
const corpData = corp.getThirdCorpData();
corp.bulkRegister(corpData);
console.log(`本地用户数: ${corp.getLocalCorpData().userList.length}`);
