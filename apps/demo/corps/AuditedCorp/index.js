// A Type element of the app (the seed: "create your own Type element"): it builds on
// corps.QywxInnerType, overrides setAdmin to keep an audit line, and adds adminNames.
// `this` is the element; `this.$super` has the methods of corps.QywxInnerType.

exports.setAdmin = function (memberIdList) {
  console.log(`[audit] ${this.fullName}: admins set to ${JSON.stringify(memberIdList)}`);
  return this.$super.setAdmin(memberIdList);
};

/**
 * The admins' names, as the local org knows them.
 * @returns {string[]}
 */
exports.adminNames = function () {
  const admins = this.getAdmin();
  return this.getLocalCorpData()
    .userList.filter((u) => admins.includes(u.memberId))
    .map((u) => u.name);
};
