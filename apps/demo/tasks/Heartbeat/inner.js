// The Heartbeat task's own function (funcType Inner): jitrt calls customFunc with the task.
exports.customFunc = function (task) {
  const data = app.getElement("corps.DemoCorp").corpData;
  console.log(`[${task.title}] ${data.activeMembers} active members, ${data.departments} departments, last sync ${data.lastSyncAt}`);
  return { activeMembers: data.activeMembers, departments: data.departments };
};
