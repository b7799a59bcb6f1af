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
    setAside?: number;
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
    mainDeptName: string;
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

  /** an element of type auths.loginTypes.DDInnerType */
  interface Type_auths_loginTypes_DDInnerType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** corpId, agentId, appKey, redirectUri, landing and the secret masked */
    readonly authConfig: any;
    /** fullName of the corp whose members log in */
    getCorp(): any;
    /** exchange a DingTalk login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}; loginType "qr" (the web login's code, default) or "inapp" (免登's dd.requestAuthCode code) */
    getLoginCode(authCode: string, state?: string, loginType?: string): any;
    /** exchange a DingTalk login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}; loginType "qr" (the web login's code, default) or "inapp" (免登's dd.requestAuthCode code) */
    getLoginCode(args: { authCode: string; state?: string; loginType?: string }): any;
    /** what a front end needs to log in: {qrLoginUrl, state, corpId, appKey, agentId, redirectUri, landing} */
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

  /** an element of type auths.loginTypes.FSInnerType */
  interface Type_auths_loginTypes_FSInnerType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** appId, redirectUri, landing and the secret masked */
    readonly authConfig: any;
    /** fullName of the corp whose members log in */
    getCorp(): any;
    /** exchange a Feishu login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}; loginType "qr" (the web login's code, default) or "inapp" (tt.requestAuthCode's in the Feishu client) */
    getLoginCode(authCode: string, state?: string, loginType?: string): any;
    /** exchange a Feishu login code for the member, their roles and a session: {member, roles, session: {token, expiresAt}}; loginType "qr" (the web login's code, default) or "inapp" (tt.requestAuthCode's in the Feishu client) */
    getLoginCode(args: { authCode: string; state?: string; loginType?: string }): any;
    /** what a front end needs to log in: {qrLoginUrl, state, appId, redirectUri, landing} */
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

  /** an element of type auths.loginTypes.PasswordType */
  interface Type_auths_loginTypes_PasswordType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    readonly authType: any;
    /** landing, session length and lockout */
    readonly authConfig: any;
    /** fullName of the org whose members sign in */
    getCorp(): any;
    /** sign in with a username and password: {member, roles, session: {token, expiresAt}} */
    getLoginCode(username: string, password: string): any;
    /** sign in with a username and password: {member, roles, session: {token, expiresAt}} */
    getLoginCode(args: { username: string; password: string }): any;
    /** what a front end needs to sign in: {loginUrl, landing, corp} */
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
    /** change the password of a session's member (the old one checked): their other sessions end */
    updatePassword(token: string, oldPassword: string, newPassword: string): any;
    /** change the password of a session's member (the old one checked): their other sessions end */
    updatePassword(args: { token: string; oldPassword: string; newPassword: string }): any;
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
    /** The admins' names, as the local org knows them. (corps/AuditedCorp/index.js) */
    adminNames(): string[];
    /** apply the WeCom change events received and not yet applied, now: {applied} */
    applyEvents(): any;
    /** register every user of corpData into the local user pool (idempotent) */
    bulkRegister(corpData: { [key: string]: any }): any;
    /** register every user of corpData into the local user pool (idempotent) */
    bulkRegister(args: { corpData: { [key: string]: any } }): any;
    /** the admins' member ids */
    getAdmin(): string[];
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(member?: string, element?: string, since?: string, limit?: number): any;
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(args?: { member?: string; element?: string; since?: string; limit?: number }): any;
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
    /** the WeCom events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}] */
    getSetAsideEvents(): any;
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
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(member?: string, element?: string, since?: string, limit?: number): any;
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(args?: { member?: string; element?: string; since?: string; limit?: number }): any;
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
    /** the WeCom events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}] */
    getSetAsideEvents(): any;
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

  /** an element of type corps.DDInnerType */
  interface Type_corps_DDInnerType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** alias of fullName */
    readonly corpFullName: any;
    /** corpId, agentId, appKey and the secret masked */
    readonly authConfig: any;
    /** the org's configuration and counts */
    readonly corpData: any;
    /** apply the DingTalk events received and not yet applied, now: {applied} */
    applyEvents(): any;
    /** register every member of corpData into the local org (idempotent; nobody taken offline) */
    bulkRegister(corpData: { [key: string]: any }): any;
    /** register every member of corpData into the local org (idempotent; nobody taken offline) */
    bulkRegister(args: { corpData: { [key: string]: any } }): any;
    /** the admins' member ids */
    getAdmin(): string[];
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(member?: string, element?: string, since?: string, limit?: number): any;
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(args?: { member?: string; element?: string; since?: string; limit?: number }): any;
    /** the DingTalk API client of the corp */
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
    /** the DingTalk events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}] */
    getSetAsideEvents(): any;
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(limit?: number, changes?: boolean, startedAt?: string): jitrt.SyncReport[];
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(args?: { limit?: number; changes?: boolean; startedAt?: string }): jitrt.SyncReport[];
    /** the live DingTalk org: {deptDict, userDict} keyed by the platform's ids */
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
    /** a DingTalk event push: verified, decrypted and its events stored; {stored, reply} */
    receiveCallback(query: string, body: string): any;
    /** a DingTalk event push: verified, decrypted and its events stored; {stored, reply} */
    receiveCallback(args: { query: string; body: string }): any;
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
    /** sync the org from DingTalk; {dryRun: true} lists the changes and writes nothing */
    syncCorp(dryRun?: boolean): jitrt.SyncReport;
    /** sync the org from DingTalk; {dryRun: true} lists the changes and writes nothing */
    syncCorp(args?: { dryRun?: boolean }): jitrt.SyncReport;
    /** the methods one link up the element's Type chain (in a Type element's index.js) */
    readonly $super: { readonly [method: string]: (...args: any[]) => any };
  }

  /** an element of type corps.FSInnerType */
  interface Type_corps_FSInnerType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** alias of fullName */
    readonly corpFullName: any;
    /** appId and the secret masked */
    readonly authConfig: any;
    /** the org's configuration and counts */
    readonly corpData: any;
    /** apply the Feishu events received and not yet applied, now: {applied} */
    applyEvents(): any;
    /** register every member of corpData into the local org (idempotent; nobody taken offline) */
    bulkRegister(corpData: { [key: string]: any }): any;
    /** register every member of corpData into the local org (idempotent; nobody taken offline) */
    bulkRegister(args: { corpData: { [key: string]: any } }): any;
    /** the admins' member ids */
    getAdmin(): string[];
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(member?: string, element?: string, since?: string, limit?: number): any;
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(args?: { member?: string; element?: string; since?: string; limit?: number }): any;
    /** the Feishu API client of the corp */
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
    /** the Feishu events that failed again and again and were set aside, newest first: [{seq, kind, id, error, attempts, at}] */
    getSetAsideEvents(): any;
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(limit?: number, changes?: boolean, startedAt?: string): jitrt.SyncReport[];
    /** the kept sync reports, newest first: {limit} of them, {changes: false} with changeCount for the list of changes, {startedAt} the one report */
    getSyncHistory(args?: { limit?: number; changes?: boolean; startedAt?: string }): jitrt.SyncReport[];
    /** the live Feishu org: {deptDict, userDict} keyed by the platform's ids */
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
    /** a Feishu event push: verified, decrypted and its event stored; {stored, reply} */
    receiveCallback(timestamp: string, nonce: string, signature: string, body: string): any;
    /** a Feishu event push: verified, decrypted and its event stored; {stored, reply} */
    receiveCallback(args: { timestamp?: string; nonce?: string; signature?: string; body: string }): any;
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
    /** sync the org from Feishu; {dryRun: true} lists the changes and writes nothing */
    syncCorp(dryRun?: boolean): jitrt.SyncReport;
    /** sync the org from Feishu; {dryRun: true} lists the changes and writes nothing */
    syncCorp(args?: { dryRun?: boolean }): jitrt.SyncReport;
    /** the methods one link up the element's Type chain (in a Type element's index.js) */
    readonly $super: { readonly [method: string]: (...args: any[]) => any };
  }

  /** an element of type corps.NormalType */
  interface Type_corps_NormalType {
    readonly title: string;
    readonly fullName: string;
    readonly type: string;
    /** alias of fullName */
    readonly corpFullName: any;
    /** a local org has no platform credentials: {} */
    readonly authConfig: any;
    /** the org's configuration and counts */
    readonly corpData: any;
    /** add members to a department */
    addDeptMember(deptId: any, memberIdList: any[]): any;
    /** add members to a department */
    addDeptMember(args: { deptId: any; memberIdList: any[] }): any;
    /** add a member to departments (and roles), with a username and password to sign in with if given: the member, never the password */
    addMember(nick: string, deptIdList: any[], roleIdList?: any[], phone?: string, username?: string, password?: string, memberId?: string, userId?: string, email?: string): any;
    /** add a member to departments (and roles), with a username and password to sign in with if given: the member, never the password */
    addMember(args: { nick: string; deptIdList: any[]; roleIdList?: any[]; phone?: string; username?: string; password?: string; memberId?: string; userId?: string; email?: string }): any;
    /** grant a role to members directly */
    addRoleMember(roleId: string, memberIdList: any[]): any;
    /** grant a role to members directly */
    addRoleMember(args: { roleId: string; memberIdList: any[] }): any;
    /** a local org has no platform: answers failed_precondition (use addMember) */
    bulkRegister(corpData: { [key: string]: any }): any;
    /** a local org has no platform: answers failed_precondition (use addMember) */
    bulkRegister(args: { corpData: { [key: string]: any } }): any;
    /** set members' status: 1 active (在职), 2 resigned (离职: offline, their sessions end) */
    changeMemberStatus(memberIdList: any[], status: number): any;
    /** set members' status: 1 active (在职), 2 resigned (离职: offline, their sessions end) */
    changeMemberStatus(args: { memberIdList: any[]; status: number }): any;
    /** create a department under parentId (default the root): the department as RowData */
    createDept(name: string, parentId?: any): any;
    /** create a department under parentId (default the root): the department as RowData */
    createDept(args: { name: string; parentId?: any }): any;
    /** create a role (beside the config's): the role as RowData {roleId, name, roleGroupId} */
    createRole(name: string, roleGroupId?: string, roleId?: string): any;
    /** create a role (beside the config's): the role as RowData {roleId, name, roleGroupId} */
    createRole(args: { name: string; roleGroupId?: string; roleId?: string }): any;
    /** delete a department that has no sub-department and no member */
    deleteDept(deptId: any): any;
    /** delete a department that has no sub-department and no member */
    deleteDept(args: { deptId: any }): any;
    /** take members out of a department (not out of their last one) */
    deleteDeptMember(deptId: any, memberIdList: any[]): any;
    /** take members out of a department (not out of their last one) */
    deleteDeptMember(args: { deptId: any; memberIdList: any[] }): any;
    /** delete resigned members (changeMemberStatus 2 first) with their roles, signature and password */
    deleteMember(memberIdList: any[]): any;
    /** delete resigned members (changeMemberStatus 2 first) with their roles, signature and password */
    deleteMember(args: { memberIdList: any[] }): any;
    /** the admins' member ids */
    getAdmin(): string[];
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(member?: string, element?: string, since?: string, limit?: number): any;
    /** who wrote the org, newest first: [{at, actor, element, method, args, members, result, error, replica, stored}]; {member, since (an RFC 3339 time or a duration back, such as 24h), limit} */
    getAuditLog(args?: { member?: string; element?: string; since?: string; limit?: number }): any;
    /** a local org has no platform client: answers failed_precondition */
    getClient(): any;
    /** the org's configuration, never a password */
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
    /** a local org has no syncs: [] */
    getSyncHistory(limit?: number, changes?: boolean, startedAt?: string): any;
    /** a local org has no syncs: [] */
    getSyncHistory(args?: { limit?: number; changes?: boolean; startedAt?: string }): any;
    /** a local org has no platform: answers failed_precondition */
    getThirdCorpData(): any;
    /** a member's signature: {memberId, signature} */
    getUserSignature(memberId: string): jitrt.Signature;
    /** a member's signature: {memberId, signature} */
    getUserSignature(args: { memberId: string }): jitrt.Signature;
    /** create the org: its root department (named as the element's title), its roles and the first admin of the config; again, nothing more */
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
    /** save a member's signature image URL (http or https) */
    saveUserSignature(memberId: string, signature: string): any;
    /** save a member's signature image URL (http or https) */
    saveUserSignature(args: { memberId: string; signature: string }): any;
    /** set the org's admins (组织负责人, 管理员) */
    setAdmin(memberIdList: any[]): any;
    /** set the org's admins (组织负责人, 管理员) */
    setAdmin(args: { memberIdList: any[] }): any;
    /** set a department's leaders (部门主管), members of it: [{deptId, memberId, isLeader}] for its members */
    setDeptLeaderByDept(deptId: any, memberIdList: any[]): any;
    /** set a department's leaders (部门主管), members of it: [{deptId, memberId, isLeader}] for its members */
    setDeptLeaderByDept(args: { deptId: any; memberIdList: any[] }): any;
    /** grant roles to a department, its members and every sub-department's (an empty list takes them away) */
    setDeptRole(deptId: number, roleIdList: any[]): any;
    /** grant roles to a department, its members and every sub-department's (an empty list takes them away) */
    setDeptRole(args: { deptId: number; roleIdList: any[] }): any;
    /** set a member's username (optional) and password; their sessions made with the old password end */
    setMemberPassword(memberId: string, password: string, username?: string): any;
    /** set a member's username (optional) and password; their sessions made with the old password end */
    setMemberPassword(args: { memberId: string; password: string; username?: string }): any;
    /** set a member's roles to exactly roleIdList (declared role ids) */
    setUserRole(memberId: string, roleIdList: any[]): any;
    /** set a member's roles to exactly roleIdList (declared role ids) */
    setUserRole(args: { memberId: string; roleIdList: any[] }): any;
    /** a local org has nothing to sync: answers failed_precondition */
    syncCorp(dryRun?: boolean): any;
    /** a local org has nothing to sync: answers failed_precondition */
    syncCorp(args?: { dryRun?: boolean }): any;
    /** rename a department, or move it under parentId: the department as RowData */
    updateDept(deptId: any, name: string, parentId?: any): any;
    /** rename a department, or move it under parentId: the department as RowData */
    updateDept(args: { deptId: any; name: string; parentId?: any }): any;
    /** change a member's nick, phone, email, photo, gender or extendConf (updateDict) */
    updateUserInfo(memberId: string, updateDict: { [key: string]: any }): any;
    /** change a member's nick, phone, email, photo, gender or extendConf (updateDict) */
    updateUserInfo(args: { memberId: string; updateDict: { [key: string]: any } }): any;
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
    /** auths.loginTypes.DingTalkLogin: 钉钉登录 (演示) */
    getElement(fullName: "auths.loginTypes.DingTalkLogin"): Type_auths_loginTypes_DDInnerType;
    /** auths.loginTypes.FeishuLogin: 飞书登录 (演示) */
    getElement(fullName: "auths.loginTypes.FeishuLogin"): Type_auths_loginTypes_FSInnerType;
    /** auths.loginTypes.PasswordLogin: 账号密码登录 */
    getElement(fullName: "auths.loginTypes.PasswordLogin"): Type_auths_loginTypes_PasswordType;
    /** corps.BranchCorp: 分公司 (自定义类型) */
    getElement(fullName: "corps.BranchCorp"): Type_corps_CheckedCorp;
    /** corps.DemoCorp: 演示企业 */
    getElement(fullName: "corps.DemoCorp"): Type_corps_QywxInnerType;
    /** corps.DingTalkCorp: 钉钉演示组织 */
    getElement(fullName: "corps.DingTalkCorp"): Type_corps_DDInnerType;
    /** corps.FeishuCorp: 飞书演示组织 */
    getElement(fullName: "corps.FeishuCorp"): Type_corps_FSInnerType;
    /** corps.LocalOrg: 本地组织 */
    getElement(fullName: "corps.LocalOrg"): Type_corps_NormalType;
    /** tasks.Heartbeat: 组织概况 (每小时) */
    getElement(fullName: "tasks.Heartbeat"): Type_tasks_NormalType;
    /** tasks.NightlySync: 夜间同步组织 */
    getElement(fullName: "tasks.NightlySync"): Type_tasks_NormalType;
    /** every element with its type, title and status */
    elements(): ElementInfo[];
    /**
     * runs fn holding a lock of the whole cluster: a corp's fullName takes the lock its own
     * writers take (a read-modify-write of its methods inside fn is atomic against every
     * other writer of the corp, on every replica); another name is a lock of the app's own.
     * fn's value is returned; a transaction of the same name inside it is an error.
     */
    transaction<T>(name: string, fn: () => T): T;
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
