// Shared by the demo scripts: the demo corp, initialised on first use, and real member ids
// to stand in for the seed's "user001" (the simulated org has its own userids).
const corp = app.getElement("corps.DemoCorp");

function ready() {
  if (!corp.corpData.initialized) {
    corp.initCorp();
  }
  return corp;
}

// someMembers returns the ids of n active members, in id order.
function someMembers(n) {
  return ready()
    .getLocalCorpData()
    .userList.filter((u) => u.status === "active")
    .slice(0, n)
    .map((u) => u.memberId);
}

module.exports = { corp, ready, someMembers };
