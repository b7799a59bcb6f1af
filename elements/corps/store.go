package corps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitrt/jitrt/kv"
	"github.com/jitrt/jitrt/wecom"
)

// The local org of a corp lives under el:<fullName>:<corpId>: (see keys). A changed corpId
// is a different org; any other config edit keeps the data.
//
//	meta                          corp state: initialised, root department, last sync
//	dept:<id>                     a department (id zero-padded so keys sort by number)
//	mchunk:<memberId>             members of the local user pool, compact (see members.go)
//	member:<memberId>             a member written since its chunk (memberId = WeCom userid)
//	tag:<id>                      a WeCom tag with its members and departments
//	role:<roleId>                 a declared role
//	memberrole:<memberId>:<roleId>  a role membership
//	deptrole:<deptId>             the roles granted to a department (and its sub-departments)
//	admins                        the org's admins
//	sig:<memberId>                a member's signature
//	sync:<startedAt>              a sync report (the last maxHistory kept)
type keys struct{ prefix string }

func newKeys(fullName, corpID string) keys {
	return keys{prefix: "el:" + fullName + ":" + corpID + ":"}
}

func pad(id int64) string { return fmt.Sprintf("%012d", id) }

// esc writes an id into a key so that it can hold no ":" (which separates the parts of a
// key) and so that no id's key is another's prefix: "%" and ":" are escaped as in URLs.
// Member ids are WeCom userids, which have neither, so their keys read as the id itself.
func esc(id string) string {
	if !strings.ContainsAny(id, "%:") {
		return id
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(id)
}

// unesc is the id of a key part esc wrote.
func unesc(part string) string {
	if !strings.Contains(part, "%") {
		return part
	}
	return strings.NewReplacer("%3A", ":", "%25", "%").Replace(part)
}

func (k keys) meta() string                  { return k.prefix + "meta" }
func (k keys) dept(id int64) string          { return k.prefix + "dept:" + pad(id) }
func (k keys) depts() string                 { return k.prefix + "dept:" }
func (k keys) member(id string) string       { return k.prefix + "member:" + esc(id) }
func (k keys) chunk(id string) string        { return k.prefix + "mchunk:" + esc(id) }
func (k keys) chunks() string                { return k.prefix + "mchunk:" }
func (k keys) members() string               { return k.prefix + "member:" }
func (k keys) auths() string                 { return k.prefix + "auth:" }
func (k keys) tag(id int64) string           { return k.prefix + "tag:" + pad(id) }
func (k keys) tags() string                  { return k.prefix + "tag:" }
func (k keys) role(id string) string         { return k.prefix + "role:" + esc(id) }
func (k keys) roles() string                 { return k.prefix + "role:" }
func (k keys) memberRole(m, r string) string { return k.prefix + "memberrole:" + esc(m) + ":" + esc(r) }
func (k keys) memberRoles(m string) string   { return k.prefix + "memberrole:" + esc(m) + ":" }
func (k keys) allMemberRoles() string        { return k.prefix + "memberrole:" }
func (k keys) deptRole(id int64) string      { return k.prefix + "deptrole:" + pad(id) }
func (k keys) deptRoles() string             { return k.prefix + "deptrole:" }
func (k keys) admins() string                { return k.prefix + "admins" }
func (k keys) sig(m string) string           { return k.prefix + "sig:" + esc(m) }
func (k keys) sync(at time.Time) string {
	return k.prefix + "sync:" + at.UTC().Format("20060102T150405.000000000Z")
}
func (k keys) syncs() string { return k.prefix + "sync:" }
func (k keys) lock() string  { return k.prefix + "write" }

// lockOrg takes the lock of the corp's writers that compute what to write from what they
// read (a sync, an event batch, a role change): the cluster's, when several processes share
// the store, and the memory has caught up with them once it is held.
func (c *Corp) lockOrg(ctx context.Context) (unlock func(), err error) {
	unlock, err = c.el.Store.Lock(ctx, c.keys.lock())
	if err != nil {
		return nil, fmt.Errorf("corp %s: %w", c.el.FullName, err)
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
	OfflineBySync  = "sync"  // the member left WeCom; a later sync that finds it again reactivates it
	OfflineByLocal = "local" // offlineMember; syncs leave it offline
)

type metaRec struct {
	Initialized bool   `json:"initialized"`
	RootDeptID  int64  `json:"rootDeptId"`
	CreatedAt   string `json:"createdAt"`
	LastSyncAt  string `json:"lastSyncAt,omitempty"`
	Path        string `json:"path,omitempty"`
}

type deptRec struct {
	DeptID   int64    `json:"deptId"`
	Name     string   `json:"name"`
	NameEn   string   `json:"nameEn,omitempty"`
	ParentID int64    `json:"parentId"`
	Order    int64    `json:"order"`
	Leaders  []string `json:"leaders"`
}

// memberRec is a member of the local org. The fields a sync reads to compare come first,
// so that reading them from a stored record stops after a few keys.
type memberRec struct {
	MemberID         string         `json:"memberId"`
	Status           string         `json:"status"`
	OfflineBy        string         `json:"offlineBy,omitempty"`
	OfflineAt        string         `json:"offlineAt,omitempty"`
	CreatedAt        string         `json:"createdAt"`
	UpdatedAt        string         `json:"updatedAt"`
	Name             string         `json:"name"`
	DeptIDs          []int64        `json:"deptIds"`
	MainDeptID       int64          `json:"mainDeptId"`
	LeaderDeptIDs    []int64        `json:"leaderDeptIds,omitempty"`
	Position         string         `json:"position,omitempty"`
	Mobile           string         `json:"mobile,omitempty"`
	Email            string         `json:"email,omitempty"`
	BizMail          string         `json:"bizMail,omitempty"`
	Avatar           string         `json:"avatar,omitempty"`
	ThumbAvatar      string         `json:"thumbAvatar,omitempty"`
	Gender           string         `json:"gender,omitempty"`
	QRCode           string         `json:"qrCode,omitempty"`
	Address          string         `json:"address,omitempty"`
	Telephone        string         `json:"telephone,omitempty"`
	Alias            string         `json:"alias,omitempty"`
	EnglishName      string         `json:"englishName,omitempty"`
	ExternalPosition string         `json:"externalPosition,omitempty"`
	DirectLeader     []string       `json:"directLeader,omitempty"`
	ExtAttr          *wecom.ExtAttr `json:"extAttr,omitempty"`
	WecomStatus      int            `json:"wecomStatus"`
	WecomUserID      string         `json:"wecomUserId"`
}

type authRec struct {
	MemberID  string `json:"memberId"`
	CorpID    string `json:"corpId"`
	UserID    string `json:"userId"`
	CreatedAt string `json:"createdAt"`
}

type tagRec struct {
	TagID     int64    `json:"tagId"`
	Name      string   `json:"name"`
	MemberIDs []string `json:"memberIds"`
	DeptIDs   []int64  `json:"deptIds"`
}

type roleRec struct {
	RoleID string `json:"roleId"`
	Name   string `json:"name"`
}

type memberRoleRec struct {
	MemberID  string `json:"memberId"`
	RoleID    string `json:"roleId"`
	RoleName  string `json:"roleName"`
	CreatedAt string `json:"createdAt"`
}

type adminsRec struct {
	MemberIDs []string `json:"memberIds"`
	UpdatedAt string   `json:"updatedAt"`
}

type sigRec struct {
	MemberID  string `json:"memberId"`
	Signature string `json:"signature"`
	UpdatedAt string `json:"updatedAt"`
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // records are plain structs: this cannot fail
	}
	return string(b)
}

// snapshot is the local org as last committed, with each record as stored.
type snapshot struct {
	meta    metaRec
	hasMeta bool
	depts   map[int64]deptRec
	deptRaw map[int64]string
	members *storedMembers
	decoded map[string]*memberRec // members decoded so far (see member)
	tags    map[int64]tagRec
	tagRaw  map[int64]string
	roles   map[string]string
	history []string // sync report keys, oldest first
	// admins and the departments with granted roles: a sync takes members who go offline
	// off the admin list, and the grants of departments that are gone away with them.
	admins    adminsRec
	deptRoles map[int64]bool
	// partial marks a snapshot that a part of the org is diffed against (bulkRegister):
	// members missing from the part stay as they are.
	partial bool
}

// readSnapshot loads the local org in one read transaction.
func readSnapshot(st *kv.Store, k keys) (*snapshot, error) {
	s := &snapshot{depts: map[int64]deptRec{}, deptRaw: map[int64]string{}, decoded: map[string]*memberRec{},
		tags: map[int64]tagRec{}, tagRaw: map[int64]string{}, roles: map[string]string{}, deptRoles: map[int64]bool{}}
	err := st.View(func(tx *kv.Tx) error {
		if err := tx.GetJSON(k.meta(), &s.meta); err == nil {
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
		if err := scan(k.depts(), func(key, v string) error {
			var d deptRec
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
		if err := scan(k.tags(), func(key, v string) error {
			var t tagRec
			if err := json.Unmarshal([]byte(v), &t); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			s.tags[t.TagID], s.tagRaw[t.TagID] = t, v
			return nil
		}); err != nil {
			return err
		}
		if err := scan(k.roles(), func(key, v string) error {
			s.roles[unesc(strings.TrimPrefix(key, k.roles()))] = v
			return nil
		}); err != nil {
			return err
		}
		if err := tx.GetJSON(k.admins(), &s.admins); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		if err := tx.Scan(k.deptRoles(), func(key, _ string) bool {
			id, _ := strconv.ParseInt(strings.TrimPrefix(key, k.deptRoles()), 10, 64)
			s.deptRoles[id] = true
			return true
		}); err != nil {
			return err
		}
		return tx.Scan(k.syncs(), func(key, _ string) bool {
			s.history = append(s.history, key)
			return true
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the local org: %w", err)
	}
	return s, nil
}

// member decodes a member of the snapshot (nil if there is none).
func (s *snapshot) member(id string) *memberRec {
	if m, ok := s.decoded[id]; ok {
		return m
	}
	raw, ok := s.members.raw[id]
	if !ok {
		return nil
	}
	m, err := decodeMember(raw)
	if err != nil {
		m = &memberRec{MemberID: id, Status: memberField(raw, fStatus).String()}
	}
	s.decoded[id] = m
	return m
}
