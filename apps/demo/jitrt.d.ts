// The elements of app "demo", as scripts reach them through app.getElement.
// Written by jitrt types: run it again after adding elements or changing Types.

declare namespace jitrt {
  /** A field of a RowData row: its value in .value. */
  interface RowField<T = any> { readonly value: T }
  /** A row as the seed's methods return them (root.name.value); JSON.stringify gives plain values. */
  type RowData = { readonly [field: string]: RowField };
  /** An element of app.elements(). */
  interface ElementInfo { fullName: string; type: string; title: string; status: string }

  interface DeptMember {
    memberId: string;
    name: string;
    mainDeptId: number;
  }

  interface DeptRoles {
    deptId: number;
    roleIdList: string[];
  }

  interface TreeDept {
    deptId: number;
    name: string;
    parentId: number;
    members: number;
    total: number;
    subDepartments: number;
    children: jitrt.TreeDept[];
  }

  interface EffectiveRole {
    roleId: string;
    name: string;
    from: string[];
  }

  interface DiffCounts {
    added: number;
    updated: number;
    removed: number;
  }

  interface SyncReportFetched {
    departments: number;
    members: number;
    tags: number;
  }

  interface Change {
    op: string;
    kind: string;
    id: string;
    name?: string;
    fields?: string[];
  }

  interface SyncReport {
    kind: string;
    added: number;
    updated: number;
    offlined: number;
    reactivated: number;
    unchanged: number;
    warnings: string[];
    durationMs: number;
    departments: jitrt.DiffCounts;
    tags: jitrt.DiffCounts;
    fetched: jitrt.SyncReportFetched;
    path: string;
    dryRun: boolean;
    writes: number;
    startedAt: string;
    finishedAt: string;
    changes: jitrt.Change[];
    changesOmitted?: number;
    events?: number;
    renamed?: number;
    ignored?: number;
    refused?: number;
    drift?: number;
  }

  interface Signature {
    memberId: string;
    /** the image URL, "" when none is saved */
    signature: string;
  }

  interface MemberRow {
    memberId: string;
    name: string;
    status: string;
    position: string;
    mainDeptId: number;
    deptIds: number[];
    leader?: boolean;
  }

  interface MemberPage {
    total: number;
    members: jitrt.MemberRow[];
  }

  /** an element of type auths.loginTypes.QywxInnerType */
  interface Type_auths_loginTypes_QywxInnerType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** corpId, agentId, redirectUri, landing and the secret masked */
    readonly authConfig: any;
    /** fullName of the corp whose members log in */
    getCorp(): any;
    /** exchange a WeCom login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}} */
    getLoginCode(authCode: string, state?: string): any;
    /** exchange a WeCom login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}} */
    getLoginCode(args: { authCode: string; state?: string }): any;
    /** what a front end needs to log in: {qrLoginUrl, oauthUrl, state, corpId, agentId, redirectUri, landing} */
    getLoginConfig(): any;
    /** a member's live sessions, newest first: [{createdAt, expiresAt}] (never a token) */
    getMemberSessions(memberId: string): any;
    /** a member's live sessions, newest first: [{createdAt, expiresAt}] (never a token) */
    getMemberSessions(args: { memberId: string }): any;
    /** the live session of a token: {member, roles, expiresAt} */
    getSession(token: string): any;
    /** the live session of a token: {member, roles, expiresAt} */
    getSession(args: { token: string }): any;
    /** end the session of a token */
    logout(token: string): any;
    /** end the session of a token */
    logout(args: { token: string }): any;
    /** the methods one link up the element's Type chain (in a Type element's index.js) */
    readonly $super: { readonly [method: string]: (...args: any[]) => any };
  }

  /** an element of type corps.CheckedCorp */
  interface Type_corps_CheckedCorp {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** alias of fullName */
    readonly corpFullName: any;
    /** corpId, agentId and the secret masked */
    readonly authConfig: any;
    /** the org's configuration and counts */
    readonly corpData: any;
    /** defined in corps/AuditedCorp/index.js */
    adminNames(...args: any[]): any;
    /** apply the WeCom change events received and not yet applied, now: {applied} */
    applyEvents(): any;
    /** register every user of corpData into the local user pool (idempotent) */
    bulkRegister(corpData: { [key: string]: any }): any;
    /** register every user of corpData into the local user pool (idempotent) */
    bulkRegister(args: { corpData: { [key: string]: any } }): any;
    /** the admins' member ids */
    getAdmin(): string[];
    /** the WeCom API client of the corp */
    getClient(): any;
    /** the corp's configuration, never the secret */
    getCorpInfo(): any;
    /** the active members of a department: [{memberId, name, mainDeptId}] */
    getDeptMembers(deptId: number): jitrt.DeptMember[];
    /** the active members of a department: [{memberId, name, mainDeptId}] */
    getDeptMembers(args: { deptId: number }): jitrt.DeptMember[];
    /** the roles granted to a department: {deptId, roleIdList} */
    getDeptRole(deptId: number): jitrt.DeptRoles;
    /** the roles granted to a department: {deptId, roleIdList} */
    getDeptRole(args: { deptId: number }): jitrt.DeptRoles;
    /** a department (default the root) with member counts and depth levels of sub-departments (default 1) */
    getDeptTree(deptId?: number, depth?: number): jitrt.TreeDept;
    /** a department (default the root) with member counts and depth levels of sub-departments (default 1) */
    getDeptTree(args?: { deptId?: number; depth?: number }): jitrt.TreeDept;
    /** the local org: {userList, deptList, roleList, thirdAuthList, …} */
    getLocalCorpData(): any;
    /** one member, as getLocalCorpData lists them (an id the platform changed finds the member under the new one) */
    getMember(memberId: string): any;
    /** one member, as getLocalCorpData lists them (an id the platform changed finds the member under the new one) */
    getMember(args: { memberId: string }): any;
    /** a member's effective roles: [{roleId, name, from: [direct | dept:<id> | admin]}] */
    getMemberRoles(memberId: string): jitrt.EffectiveRole[];
    /** a member's effective roles: [{roleId, name, from: [direct | dept:<id> | admin]}] */
    getMemberRoles(args: { memberId: string }): jitrt.EffectiveRole[];
    /** the root department as RowData (root.name.value) */
    getRootDept(): jitrt.RowData;
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(limit?: number, changes?: boolean, startedAt?: string): jitrt.SyncReport[];
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(args?: { limit?: number; changes?: boolean; startedAt?: string }): jitrt.SyncReport[];
    /** the live WeCom org: {deptDict, userDict, tagDict} keyed by id */
    getThirdCorpData(): any;
    /** a member's signature: {memberId, signature} */
    getUserSignature(memberId: string): jitrt.Signature;
    /** a member's signature: {memberId, signature} */
    getUserSignature(args: { memberId: string }): jitrt.Signature;
    /** create the local org (roles, root department) and run a first sync */
    initCorp(): any;
    /** a page of members, by department, status (active, offline) or a search of name and id: {total, members} */
    listMembers(deptId?: number, status?: string, query?: string, limit?: number, offset?: number): jitrt.MemberPage;
    /** a page of members, by department, status (active, offline) or a search of name and id: {total, members} */
    listMembers(args?: { deptId?: number; status?: string; query?: string; limit?: number; offset?: number }): jitrt.MemberPage;
    /** take members offline (离职) in this corp only */
    offlineMember(memberIdList: any[]): any;
    /** take members offline (离职) in this corp only */
    offlineMember(args: { memberIdList: any[] }): any;
    /** undo offlineMember: members taken offline here are active again (a sync keeps them so while the platform lists them) */
    reactivateMember(memberIdList: any[]): any;
    /** undo offlineMember: members taken offline here are active again (a sync keeps them so while the platform lists them) */
    reactivateMember(args: { memberIdList: any[] }): any;
    /** a WeCom callback POST: verified, decrypted and its event stored; {stored} */
    receiveCallback(msgSignature: string, timestamp: string, nonce: string, body: string): any;
    /** a WeCom callback POST: verified, decrypted and its event stored; {stored} */
    receiveCallback(args: { msgSignature: string; timestamp: string; nonce: string; body: string }): any;
    /** save a member's signature image URL (http or https) */
    saveUserSignature(memberId: string, signature: string): any;
    /** save a member's signature image URL (http or https) */
    saveUserSignature(args: { memberId: string; signature: string }): any;
    /** set the org's admins (组织负责人, 管理员) (overridden in corps/AuditedCorp/index.js) */
    setAdmin(memberIdList: any[]): any;
    /** set the org's admins (组织负责人, 管理员) (overridden in corps/AuditedCorp/index.js) */
    setAdmin(args: { memberIdList: any[] }): any;
    /** grant roles to a department, its members and every sub-department's (an empty list takes them away) */
    setDeptRole(deptId: number, roleIdList: any[]): any;
    /** grant roles to a department, its members and every sub-department's (an empty list takes them away) */
    setDeptRole(args: { deptId: number; roleIdList: any[] }): any;
    /** set a member's roles to exactly roleIdList (declared role ids) */
    setUserRole(memberId: string, roleIdList: any[]): any;
    /** set a member's roles to exactly roleIdList (declared role ids) */
    setUserRole(args: { memberId: string; roleIdList: any[] }): any;
    /** sync the org from WeCom; {dryRun: true} lists the changes and writes nothing (overridden in corps/CheckedCorp/index.wasm) */
    syncCorp(dryRun?: boolean): any;
    /** sync the org from WeCom; {dryRun: true} lists the changes and writes nothing (overridden in corps/CheckedCorp/index.wasm) */
    syncCorp(args?: { dryRun?: boolean }): any;
    /** WeCom's callback URL verification: the decrypted echostr */
    verifyCallback(msgSignature: string, timestamp: string, nonce: string, echostr: string): any;
    /** WeCom's callback URL verification: the decrypted echostr */
    verifyCallback(args: { msgSignature: string; timestamp: string; nonce: string; echostr: string }): any;
    /** the methods one link up the element's Type chain (in a Type element's index.js) */
    readonly $super: { readonly [method: string]: (...args: any[]) => any };
  }

  /** an element of type corps.QywxInnerType */
  interface Type_corps_QywxInnerType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** alias of fullName */
    readonly corpFullName: any;
    /** corpId, agentId and the secret masked */
    readonly authConfig: any;
    /** the org's configuration and counts */
    readonly corpData: any;
    /** apply the WeCom change events received and not yet applied, now: {applied} */
    applyEvents(): any;
    /** register every user of corpData into the local user pool (idempotent) */
    bulkRegister(corpData: { [key: string]: any }): any;
    /** register every user of corpData into the local user pool (idempotent) */
    bulkRegister(args: { corpData: { [key: string]: any } }): any;
    /** the admins' member ids */
    getAdmin(): string[];
    /** the WeCom API client of the corp */
    getClient(): any;
    /** the corp's configuration, never the secret */
    getCorpInfo(): any;
    /** the active members of a department: [{memberId, name, mainDeptId}] */
    getDeptMembers(deptId: number): jitrt.DeptMember[];
    /** the active members of a department: [{memberId, name, mainDeptId}] */
    getDeptMembers(args: { deptId: number }): jitrt.DeptMember[];
    /** the roles granted to a department: {deptId, roleIdList} */
    getDeptRole(deptId: number): jitrt.DeptRoles;
    /** the roles granted to a department: {deptId, roleIdList} */
    getDeptRole(args: { deptId: number }): jitrt.DeptRoles;
    /** a department (default the root) with member counts and depth levels of sub-departments (default 1) */
    getDeptTree(deptId?: number, depth?: number): jitrt.TreeDept;
    /** a department (default the root) with member counts and depth levels of sub-departments (default 1) */
    getDeptTree(args?: { deptId?: number; depth?: number }): jitrt.TreeDept;
    /** the local org: {userList, deptList, roleList, thirdAuthList, …} */
    getLocalCorpData(): any;
    /** one member, as getLocalCorpData lists them (an id the platform changed finds the member under the new one) */
    getMember(memberId: string): any;
    /** one member, as getLocalCorpData lists them (an id the platform changed finds the member under the new one) */
    getMember(args: { memberId: string }): any;
    /** a member's effective roles: [{roleId, name, from: [direct | dept:<id> | admin]}] */
    getMemberRoles(memberId: string): jitrt.EffectiveRole[];
    /** a member's effective roles: [{roleId, name, from: [direct | dept:<id> | admin]}] */
    getMemberRoles(args: { memberId: string }): jitrt.EffectiveRole[];
    /** the root department as RowData (root.name.value) */
    getRootDept(): jitrt.RowData;
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(limit?: number, changes?: boolean, startedAt?: string): jitrt.SyncReport[];
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(args?: { limit?: number; changes?: boolean; startedAt?: string }): jitrt.SyncReport[];
    /** the live WeCom org: {deptDict, userDict, tagDict} keyed by id */
    getThirdCorpData(): any;
    /** a member's signature: {memberId, signature} */
    getUserSignature(memberId: string): jitrt.Signature;
    /** a member's signature: {memberId, signature} */
    getUserSignature(args: { memberId: string }): jitrt.Signature;
    /** create the local org (roles, root department) and run a first sync */
    initCorp(): any;
    /** a page of members, by department, status (active, offline) or a search of name and id: {total, members} */
    listMembers(deptId?: number, status?: string, query?: string, limit?: number, offset?: number): jitrt.MemberPage;
    /** a page of members, by department, status (active, offline) or a search of name and id: {total, members} */
    listMembers(args?: { deptId?: number; status?: string; query?: string; limit?: number; offset?: number }): jitrt.MemberPage;
    /** take members offline (离职) in this corp only */
    offlineMember(memberIdList: any[]): any;
    /** take members offline (离职) in this corp only */
    offlineMember(args: { memberIdList: any[] }): any;
    /** undo offlineMember: members taken offline here are active again (a sync keeps them so while the platform lists them) */
    reactivateMember(memberIdList: any[]): any;
    /** undo offlineMember: members taken offline here are active again (a sync keeps them so while the platform lists them) */
    reactivateMember(args: { memberIdList: any[] }): any;
    /** a WeCom callback POST: verified, decrypted and its event stored; {stored} */
    receiveCallback(msgSignature: string, timestamp: string, nonce: string, body: string): any;
    /** a WeCom callback POST: verified, decrypted and its event stored; {stored} */
    receiveCallback(args: { msgSignature: string; timestamp: string; nonce: string; body: string }): any;
    /** save a member's signature image URL (http or https) */
    saveUserSignature(memberId: string, signature: string): any;
    /** save a member's signature image URL (http or https) */
    saveUserSignature(args: { memberId: string; signature: string }): any;
    /** set the org's admins (组织负责人, 管理员) */
    setAdmin(memberIdList: any[]): any;
    /** set the org's admins (组织负责人, 管理员) */
    setAdmin(args: { memberIdList: any[] }): any;
    /** grant roles to a department, its members and every sub-department's (an empty list takes them away) */
    setDeptRole(deptId: number, roleIdList: any[]): any;
    /** grant roles to a department, its members and every sub-department's (an empty list takes them away) */
    setDeptRole(args: { deptId: number; roleIdList: any[] }): any;
    /** set a member's roles to exactly roleIdList (declared role ids) */
    setUserRole(memberId: string, roleIdList: any[]): any;
    /** set a member's roles to exactly roleIdList (declared role ids) */
    setUserRole(args: { memberId: string; roleIdList: any[] }): any;
    /** sync the org from WeCom; {dryRun: true} lists the changes and writes nothing */
    syncCorp(dryRun?: boolean): jitrt.SyncReport;
    /** sync the org from WeCom; {dryRun: true} lists the changes and writes nothing */
    syncCorp(args?: { dryRun?: boolean }): jitrt.SyncReport;
    /** WeCom's callback URL verification: the decrypted echostr */
    verifyCallback(msgSignature: string, timestamp: string, nonce: string, echostr: string): any;
    /** WeCom's callback URL verification: the decrypted echostr */
    verifyCallback(args: { msgSignature: string; timestamp: string; nonce: string; echostr: string }): any;
    /** the methods one link up the element's Type chain (in a Type element's index.js) */
    readonly $super: { readonly [method: string]: (...args: any[]) => any };
  }

  /** an element of type tasks.NormalType */
  interface Type_tasks_NormalType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    readonly enable: any;
    readonly funcType: any;
    readonly func: any;
    readonly running: any;
    /** the last runs, newest first */
    getRunHistory(): any;
    /** the next run as an ISO time, or null when none is left */
    nextTime(): any;
    /** run the task now and return its result */
    run(): any;
    /** the methods one link up the element's Type chain (in a Type element's index.js) */
    readonly $super: { readonly [method: string]: (...args: any[]) => any };
  }

  interface App {
    /** auths.loginTypes.DemoLogin: 企业微信登录 (演示) */
    getElement(fullName: "auths.loginTypes.DemoLogin"): Type_auths_loginTypes_QywxInnerType;
    /** corps.BranchCorp: 分公司 (自定义类型) */
    getElement(fullName: "corps.BranchCorp"): Type_corps_CheckedCorp;
    /** corps.DemoCorp: 演示企业 */
    getElement(fullName: "corps.DemoCorp"): Type_corps_QywxInnerType;
    /** tasks.Heartbeat: 组织概况 (每小时) */
    getElement(fullName: "tasks.Heartbeat"): Type_tasks_NormalType;
    /** tasks.NightlySync: 夜间同步组织 */
    getElement(fullName: "tasks.NightlySync"): Type_tasks_NormalType;
    /** every element with its type, title and status */
    elements(): ElementInfo[];
    readonly name: string;
    readonly title: string;
  }
}

/** The app: its elements by fullName. */
declare const app: jitrt.App;

/** Console output of a run (stdout; error and warn go to stderr). */
declare const console: {
  log(...values: any[]): void;
  info(...values: any[]): void;
  warn(...values: any[]): void;
  error(...values: any[]): void;
};
