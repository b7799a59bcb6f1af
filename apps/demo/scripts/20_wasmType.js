// A Type written in Go, run as WebAssembly: corps/CheckedCorp (guest/main.go, built by
// make demo-wasm into index.wasm) extends corps.AuditedCorp (JS), which extends
// corps.QywxInnerType. BranchCorp is an instance of it: its syncCorp runs the Go override,
// which calls the JS link's, which calls corps.QywxInnerType's.
const branch = app.getElement("corps.BranchCorp");
if (!branch.corpData.initialized) {
  branch.initCorp();
}
const report = branch.syncCorp({ dryRun: true });
console.log(`${report.checkedBy}: ${report.summary}`);
