package wecom

// Department is a department as department/list and department/get return it.
type Department struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	NameEn   string   `json:"name_en,omitempty"`
	Leaders  []string `json:"department_leader"`
	ParentID int64    `json:"parentid"`
	Order    int64    `json:"order"`
}

// DepartmentID is a row of department/simplelist.
type DepartmentID struct {
	ID       int64 `json:"id"`
	ParentID int64 `json:"parentid"`
	Order    int64 `json:"order"`
}

// ExtAttr is a member's extended attributes.
type ExtAttr struct {
	Attrs []ExtAttrItem `json:"attrs"`
}

// ExtAttrItem is one extended attribute: type 0 text, 1 web, 2 miniprogram.
type ExtAttrItem struct {
	Type        int             `json:"type"`
	Name        string          `json:"name"`
	Text        *ExtText        `json:"text,omitempty"`
	Web         *ExtWeb         `json:"web,omitempty"`
	Miniprogram *ExtMiniprogram `json:"miniprogram,omitempty"`
}

// ExtText is a text attribute.
type ExtText struct {
	Value string `json:"value"`
}

// ExtWeb is a web attribute.
type ExtWeb struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// ExtMiniprogram is a miniprogram attribute.
type ExtMiniprogram struct {
	AppID    string `json:"appid"`
	PagePath string `json:"pagepath"`
	Title    string `json:"title"`
}

// User is a member as user/list and user/get return it. Gender is a string ("0" unknown,
// "1" male, "2" female), as WeCom sends it. Status: 1 active, 2 disabled, 4 not yet
// activated, 5 left the corp.
type User struct {
	UserID           string   `json:"userid"`
	Name             string   `json:"name"`
	Department       []int64  `json:"department"`
	Order            []int64  `json:"order,omitempty"`
	Position         string   `json:"position,omitempty"`
	Mobile           string   `json:"mobile,omitempty"`
	Gender           string   `json:"gender,omitempty"`
	Email            string   `json:"email,omitempty"`
	BizMail          string   `json:"biz_mail,omitempty"`
	IsLeaderInDept   []int    `json:"is_leader_in_dept,omitempty"`
	DirectLeader     []string `json:"direct_leader,omitempty"`
	Avatar           string   `json:"avatar,omitempty"`
	ThumbAvatar      string   `json:"thumb_avatar,omitempty"`
	Telephone        string   `json:"telephone,omitempty"`
	Alias            string   `json:"alias,omitempty"`
	Address          string   `json:"address,omitempty"`
	OpenUserID       string   `json:"open_userid,omitempty"`
	MainDepartment   int64    `json:"main_department,omitempty"`
	ExtAttr          *ExtAttr `json:"extattr,omitempty"`
	Status           int      `json:"status"`
	QRCode           string   `json:"qr_code,omitempty"`
	ExternalPosition string   `json:"external_position,omitempty"`
	EnglishName      string   `json:"english_name,omitempty"`

	// Withheld lists the sensitive fields WeCom did not send for this member (apps created
	// since 2022-06-20 never get them): their empty values mean "unknown", not "cleared".
	// It is set by the client, never sent by WeCom.
	Withheld []string `json:"-"`
}

// SensitiveFields are the member fields WeCom withholds from apps created since 2022-06-20.
var SensitiveFields = []string{"mobile", "email", "biz_mail", "avatar", "thumb_avatar", "gender", "qr_code", "address"}

// SimpleUser is a row of user/simplelist.
type SimpleUser struct {
	UserID     string  `json:"userid"`
	Name       string  `json:"name"`
	Department []int64 `json:"department"`
	OpenUserID string  `json:"open_userid,omitempty"`
}

// DeptUser is a row of user/list_id: one per (member, department).
type DeptUser struct {
	UserID     string `json:"userid"`
	Department int64  `json:"department"`
}

// Tag is a row of tag/list.
type Tag struct {
	TagID   int64  `json:"tagid"`
	TagName string `json:"tagname"`
}

// TagUser is a member of a tag as tag/get lists it.
type TagUser struct {
	UserID string `json:"userid"`
	Name   string `json:"name"`
}

// TagDetail is what tag/get returns for a tag.
type TagDetail struct {
	TagID     int64     `json:"tagid"`
	TagName   string    `json:"tagname"`
	UserList  []TagUser `json:"userlist"`
	PartyList []int64   `json:"partylist"`
}

// Org is a whole organisation as fetched: departments sorted by id, members sorted by
// userid (each once, with every department it is in), tags sorted by id with their members
// and departments.
type Org struct {
	Departments []Department `json:"departments"`
	Users       []User       `json:"users"`
	Tags        []TagDetail  `json:"tags"`
	// Path is how the org was fetched: "detail" (department/list + user/list) or "id"
	// (simplelist/list_id + department/get + user/get).
	Path string `json:"path,omitempty"`
	// Withheld lists the sensitive fields no member carried: WeCom withholds them from this
	// app, so the sync must keep what it already has for them.
	Withheld []string `json:"withheld,omitempty"`
	// Members is how many members the fetch found (also when they were streamed to
	// FetchOptions.OnUsers and Users is empty).
	Members int `json:"-"`
}

// ValidUserID reports whether s is a userid as WeCom makes them: 1 to 64 bytes of letters,
// digits and "_-@.", starting with a letter or a digit.
func ValidUserID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-' || c == '@' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// UserIDRule says what ValidUserID accepts, for messages.
const UserIDRule = "1 to 64 letters, digits and _-@. starting with a letter or digit"

// MaxDeptID is the largest department (and tag) id WeCom gives: ids are 32-bit.
const MaxDeptID = 1<<32 - 1
