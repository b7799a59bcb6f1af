// The console works without this script; with it, times are in the viewer's own zone, the
// element list stays live, the org tree loads a department when it is opened, and the sync
// buttons say they are busy.
"use strict";

// Times come in UTC, to the second (the full time in the tooltip): shown in the viewer's zone.
const pad = (n) => String(n).padStart(2, "0");
function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.dateTime);
    if (isNaN(d)) continue;
    t.textContent = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
}
localTimes(document);

// A department of the tree is fetched when first opened: its sub-departments and members,
// as HTML the server rendered (and escaped).
document.addEventListener("toggle", async (ev) => {
  const d = ev.target;
  if (!(d instanceof HTMLDetailsElement) || !d.open) return;
  const kids = d.querySelector(":scope > .kids");
  if (!kids || kids.classList.contains("loaded") || kids.classList.contains("loading")) return;
  kids.classList.add("loading");
  try {
    const r = await fetch(kids.dataset.src, {credentials: "same-origin"});
    kids.innerHTML = await r.text();
    kids.classList.add("loaded");
  } catch (e) {
    kids.textContent = "Could not load: " + e;
  } finally {
    kids.classList.remove("loading");
  }
}, true);

// The elements' rows follow edits to the app's files.
const rows = document.getElementById("elements");
if (rows && rows.dataset.src) {
  let last = rows.innerHTML;
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const r = await fetch(rows.dataset.src, {credentials: "same-origin"});
      if (!r.ok) return;
      const html = await r.text();
      if (html !== last) { rows.innerHTML = html; last = html; }
    } catch (e) { /* the server is restarting: try again next time */ }
  }, 1000);
}

// A sync can take a while: say so, and do not start it twice.
for (const f of document.querySelectorAll("form.actions")) {
  f.addEventListener("submit", (ev) => {
    const b = ev.submitter;
    setTimeout(() => {
      for (const x of f.querySelectorAll("button")) x.disabled = true;
      if (b) b.textContent = b.value === "1" ? "Dry run…" : "Syncing…";
    }, 0);
  });
}
