package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitrt/jitrt/kv"
)

// The local org of a corp lives under el:<fullName>:<corpId>: (see keys). A changed corpId
// is a different org; any other config edit keeps the data.
//
//	meta                          corp state: initialised, root department, last sync
//	dept:<id>                     a department (id zero-padded so keys sort by number)
//	mchunk:<memberId>             members of the local user pool, compact (see members.go)
//	member:<memberId>             a member written since its chunk
//	tag:<id>                      a tag with its members and departments
//	role:<roleId>                 a declared role
//	memberrole:<memberId>:<roleId>  a role membership
//	deptrole:<deptId>             the roles granted to a department (and its sub-departments)
//	admins                        the org's admins
//	sig:<memberId>                a member's signature
//	sync:<startedAt>              a sync report (the last MaxHistory kept)
type Keys struct{ prefix string }

// Prefix is what every key of the org starts with.
func (k Keys) Prefix() string { return k.prefix }

// NewKeys is where the org of a corp element lives in the store.
func NewKeys(fullName, corpID string) Keys {
	return Keys{prefix: "el:" + fullName + ":" + corpID + ":"}
}

func pad(id int64) string { return fmt.Sprintf("%012d", id) }

// esc writes an id into a key so that it can hold no ":" (which separates the parts of a
// key) and so that no id's key is another's prefix: "%" and ":" are escaped as in URLs.
// Member ids rarely have either, so their keys read as the id itself.
func Esc(id string) string {
	if !strings.ContainsAny(id, "%:") {
		return id
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(id)
}

// unesc is the id of a key part esc wrote.
func Unesc(part string) string {
	if !strings.Contains(part, "%") {
		return part
	}
	return strings.NewReplacer("%3A", ":", "%25", "%").Replace(part)
}

func (k Keys) Meta() string                  { return k.prefix + "meta" }
func (k Keys) Dept(id int64) string          { return k.prefix + "dept:" + pad(id) }
func (k Keys) Depts() string                 { return k.prefix + "dept:" }
func (k Keys) Member(id string) string       { return k.prefix + "member:" + Esc(id) }
func (k Keys) Chunk(id string) string        { return k.prefix + "mchunk:" + Esc(id) }
func (k Keys) Chunks() string                { return k.prefix + "mchunk:" }
func (k Keys) Members() string               { return k.prefix + "member:" }
func (k Keys) Auths() string                 { return k.prefix + "auth:" }
func (k Keys) Tag(id int64) string           { return k.prefix + "tag:" + pad(id) }
func (k Keys) Tags() string                  { return k.prefix + "tag:" }
func (k Keys) Role(id string) string         { return k.prefix + "role:" + Esc(id) }
func (k Keys) Roles() string                 { return k.prefix + "role:" }
func (k Keys) MemberRole(m, r string) string { return k.prefix + "memberrole:" + Esc(m) + ":" + Esc(r) }
func (k Keys) MemberRoles(m string) string   { return k.prefix + "memberrole:" + Esc(m) + ":" }
func (k Keys) AllMemberRoles() string        { return k.prefix + "memberrole:" }
func (k Keys) DeptRole(id int64) string      { return k.prefix + "deptrole:" + pad(id) }
func (k Keys) DeptRoles() string             { return k.prefix + "deptrole:" }
func (k Keys) Admins() string                { return k.prefix + "admins" }
func (k Keys) Sig(m string) string           { return k.prefix + "sig:" + Esc(m) }
func (k Keys) Sync(at time.Time) string {
	return k.prefix + "sync:" + at.UTC().Format(keyTime)
}

// keyTime is how a time goes into a key: fixed width, so that keys sort by time.
const keyTime = "20060102T150405.000000000Z"

// Audit is the key of an audit record made at (the random part keeps apart two records of
// the same nanosecond on two replicas); Audits is their prefix, oldest first.
func (k Keys) Audit(at time.Time, random string) string {
	return k.Audits() + at.UTC().Format(keyTime) + ":" + random
}
func (k Keys) Audits() string { return k.prefix + "audit:" }
func (k Keys) Syncs() string  { return k.prefix + "sync:" }

// QuietSync is the note (kv.Store.SetNote) holding the report of the last sync that found
// nothing to change.
func (k Keys) QuietSync() string { return k.prefix + "quietsync" }
func (k Keys) Lock() string      { return k.prefix + "write" }

// lockOrg takes the lock of the corp's writers that compute what to write from what they
// read (a sync, an event batch, a role change): the cluster's, when several processes share
// the store, and the memory has caught up with them once it is held.
func (o *Directory) Lock(ctx context.Context) (unlock func(), err error) {
	unlock, err = o.store.Lock(ctx, o.keys.Lock())
	if err != nil {
		return nil, fmt.Errorf("corp %s: %w", o.name, err)
	}
	return unlock, nil
}

// Member statuses.
const (
	StatusActive  = "active"
	StatusOffline = "offline"
)

// Who took a member offline.
const (
	OfflineBySync  = "sync"  // the member left the platform; a later sync that finds it again reactivates it
	OfflineByLocal = "local" // offlineMember; syncs leave it offline
)

type Meta struct {
	Initialized bool   `json:"initialized"`
	RootDeptID  int64  `json:"rootDeptId"`
	CreatedAt   string `json:"createdAt"`
	LastSyncAt  string `json:"lastSyncAt,omitempty"`
	Path        string `json:"path,omitempty"`
}

type Dept struct {
	DeptID   int64    `json:"deptId"`
	Name     string   `json:"name"`
	NameEn   string   `json:"nameEn,omitempty"`
	ParentID int64    `json:"parentId"`
	Order    int64    `json:"order"`
	Leaders  []string `json:"leaders"`
}

// Member is a member of the org in the neutral schema every provider maps to. The fields a
// sync reads to compare come first, so that reading them from a stored record stops after
// a few keys. What only the provider knows (WeCom's status and extended attributes…) is in
// Ext, a JSON object the org stores and shows but never reads.
type Member struct {
	MemberID      string   `json:"memberId"`
	Status        string   `json:"status"`
	OfflineBy     string   `json:"offlineBy,omitempty"`
	OfflineAt     string   `json:"offlineAt,omitempty"`
	CreatedAt     string   `json:"createdAt"`
	UpdatedAt     string   `json:"updatedAt"`
	Name          string   `json:"name"`
	DeptIDs       []int64  `json:"deptIds"`
	MainDeptID    int64    `json:"mainDeptId"`
	LeaderDeptIDs []int64  `json:"leaderDeptIds,omitempty"`
	Position      string   `json:"position,omitempty"`
	Mobile        string   `json:"mobile,omitempty"`
	Email         string   `json:"email,omitempty"`
	Avatar        string   `json:"avatar,omitempty"`
	Gender        string   `json:"gender,omitempty"`
	Telephone     string   `json:"telephone,omitempty"`
	EnglishName   string   `json:"englishName,omitempty"`
	DirectLeader  []string `json:"directLeader,omitempty"`
	// Ext is the provider's part: a JSON object, or nil. Its keys are shown beside the
	// neutral fields (an empty string, null or [] is left out).
	Ext json.RawMessage `json:"-"`
}

type Tag struct {
	TagID     int64    `json:"tagId"`
	Name      string   `json:"name"`
	MemberIDs []string `json:"memberIds"`
	DeptIDs   []int64  `json:"deptIds"`
}

type roleRec struct {
	RoleID      string `json:"roleId"`
	Name        string `json:"name"`
	RoleGroupID string `json:"roleGroupId,omitempty"`
	// Created marks a role made in the org (createRole) rather than declared in the config.
	Created bool `json:"created,omitempty"`
}

type MemberRoleRec struct {
	MemberID  string `json:"memberId"`
	RoleID    string `json:"roleId"`
	RoleName  string `json:"roleName"`
	CreatedAt string `json:"createdAt"`
}

type Admins struct {
	MemberIDs []string `json:"memberIds"`
	UpdatedAt string   `json:"updatedAt"`
}

type SigRec struct {
	MemberID  string `json:"memberId"`
	Signature string `json:"signature"`
	UpdatedAt string `json:"updatedAt"`
}

func Now() string { return time.Now().UTC().Format(time.RFC3339) }

func MustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // records are plain structs: this cannot fail
	}
	return string(b)
}

// Snapshot is the local org as last committed, with each record as stored.
type Snapshot struct {
	meta    Meta
	hasMeta bool
	depts   map[int64]Dept
	deptRaw map[int64]string
	members *storedMembers
	decoded map[string]*Member // members decoded so far (see member)
	tags    map[int64]Tag
	tagRaw  map[int64]string
	roles   map[string]string
	history []string // sync report keys, oldest first
	// admins and the departments with granted roles: a sync takes members who go offline
	// off the admin list, and the grants of departments that are gone away with them.
	admins    Admins
	deptRoles map[int64]bool
	// partial marks a Snapshot that a part of the org is diffed against (bulkRegister):
	// members missing from the part stay as they are.
	partial bool
}

// ReadSnapshot loads the local org in one read transaction.
func ReadSnapshot(st *kv.Store, k Keys) (*Snapshot, error) {
	s := &Snapshot{depts: map[int64]Dept{}, deptRaw: map[int64]string{}, decoded: map[string]*Member{},
		tags: map[int64]Tag{}, tagRaw: map[int64]string{}, roles: map[string]string{}, deptRoles: map[int64]bool{}}
	err := st.View(func(tx *kv.Tx) error {
		if err := tx.GetJSON(k.Meta(), &s.meta); err == nil {
			s.hasMeta = true
		} else if !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		var firstErr error
		scan := func(prefix string, fn func(key, v string) error) error {
			if err := tx.Scan(prefix, func(key, v string) bool {
				if err := fn(key, v); err != nil {
					firstErr = err
					return false
				}
				return true
			}); err != nil {
				return err
			}
			return firstErr
		}
		if err := scan(k.Depts(), func(key, v string) error {
			var d Dept
			if err := json.Unmarshal([]byte(v), &d); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			s.depts[d.DeptID], s.deptRaw[d.DeptID] = d, v
			return nil
		}); err != nil {
			return err
		}
		// Members are kept as stored and decoded only when a diff needs them: a re-sync of a
		// large org compares most of them without decoding any.
		var err error
		if s.members, err = readMembers(tx, k); err != nil {
			return err
		}
		if err := scan(k.Tags(), func(key, v string) error {
			var t Tag
			if err := json.Unmarshal([]byte(v), &t); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			s.tags[t.TagID], s.tagRaw[t.TagID] = t, v
			return nil
		}); err != nil {
			return err
		}
		if err := scan(k.Roles(), func(key, v string) error {
			s.roles[Unesc(strings.TrimPrefix(key, k.Roles()))] = v
			return nil
		}); err != nil {
			return err
		}
		if err := tx.GetJSON(k.Admins(), &s.admins); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		if err := tx.Scan(k.DeptRoles(), func(key, _ string) bool {
			id, _ := strconv.ParseInt(strings.TrimPrefix(key, k.DeptRoles()), 10, 64)
			s.deptRoles[id] = true
			return true
		}); err != nil {
			return err
		}
		return tx.Scan(k.Syncs(), func(key, _ string) bool {
			s.history = append(s.history, key)
			return true
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the local org: %w", err)
	}
	return s, nil
}

// member decodes a member of the Snapshot (nil if there is none).
func (s *Snapshot) member(id string) *Member {
	if m, ok := s.decoded[id]; ok {
		return m
	}
	raw, ok := s.members.raw[id]
	if !ok {
		return nil
	}
	m, err := DecodeMember(raw)
	if err != nil {
		m = &Member{MemberID: id, Status: MemberField(raw, fStatus).String()}
	}
	s.decoded[id] = m
	return m
}

func (k Keys) Renamed(id string) string { return k.prefix + "renamed:" + Esc(id) }

// gone marks a userid a delete_user (or a rename away from it) named before the member was
// known here: a create_user of it that comes later (WeCom's retry of an older delivery) is
// checked with WeCom, not taken on its word.
//
//	gone:<userid>          when the delete came
func (k Keys) Gone(id string) string { return k.prefix + "gone:" + Esc(id) }

// departed keeps the record of a member who left, with their roles and signature, when
// WeCom gives their userid to someone new (a create_user of it): the newcomer starts with
// nothing of theirs.
//
//	departed:<userid>:<when the id was reused>
func (k Keys) Departed(id, at string) string { return k.prefix + "departed:" + Esc(id) + ":" + at }

// RemoveMember deletes a member's record: its single record, and its line of its chunk.
func RemoveMember(tx *kv.Tx, k Keys, id string) error {
	if _, err := tx.Delete(k.Member(id)); err != nil {
		return err
	}
	var key, chunk string
	tx.ScanReverseFrom(k.Chunks(), Esc(id), func(ck, v string) bool { key, chunk = ck, v; return false })
	line, ok := findInChunk(chunk, id)
	if !ok {
		return nil
	}
	var kept []string
	for _, l := range strings.Split(strings.TrimSuffix(chunk, "\n"), "\n") {
		if l != line && l != "" {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		_, err := tx.Delete(key)
		return err
	}
	return tx.Set(key, strings.Join(kept, "\n")+"\n")
}

// ResolveRenamed follows the platform's renames of a member id (at most a few hops).
func ResolveRenamed(tx *kv.Tx, k Keys, id string) (string, bool) {
	moved := false
	for hops := 0; hops < 8; hops++ {
		next, err := tx.Get(k.Renamed(id))
		if err != nil {
			break
		}
		id, moved = next, true
	}
	return id, moved
}
