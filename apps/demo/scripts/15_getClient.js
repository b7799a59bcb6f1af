// 方法 › getClient: 获取企业微信客户端 (typed calls, and raw get/post for any endpoint)
const corp = app.getElement("corps.DemoCorp");
const client = corp.getClient();
const depts = client.getDepartmentList();
console.log(`部门数: ${depts.length}, 根部门: ${depts[0].name}`);
const tags = client.get("tag/list");
console.log(`标签: ${tags.taglist.map((t) => t.tagname).join(", ")}`);
