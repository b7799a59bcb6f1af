package wecomsim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/jitrt/jitrt/wecom"
)

// surnames and given-name characters, with pinyin for userids.
var surnames = [][2]string{
	{"王", "Wang"}, {"李", "Li"}, {"张", "Zhang"}, {"刘", "Liu"}, {"陈", "Chen"}, {"杨", "Yang"},
	{"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"}, {"徐", "Xu"}, {"孙", "Sun"},
	{"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"}, {"郭", "Guo"}, {"何", "He"}, {"高", "Gao"},
	{"林", "Lin"}, {"罗", "Luo"}, {"郑", "Zheng"}, {"梁", "Liang"}, {"谢", "Xie"}, {"宋", "Song"},
	{"唐", "Tang"}, {"许", "Xu"}, {"韩", "Han"}, {"冯", "Feng"}, {"邓", "Deng"}, {"曹", "Cao"},
	{"彭", "Peng"}, {"曾", "Zeng"}, {"肖", "Xiao"}, {"田", "Tian"}, {"董", "Dong"}, {"袁", "Yuan"},
	{"潘", "Pan"}, {"于", "Yu"}, {"蒋", "Jiang"}, {"蔡", "Cai"}, {"余", "Yu"}, {"杜", "Du"},
	{"叶", "Ye"}, {"程", "Cheng"}, {"苏", "Su"}, {"魏", "Wei"}, {"吕", "Lv"}, {"丁", "Ding"},
	{"任", "Ren"}, {"沈", "Shen"}, {"姚", "Yao"}, {"卢", "Lu"}, {"姜", "Jiang"}, {"崔", "Cui"},
	{"钟", "Zhong"}, {"谭", "Tan"}, {"陆", "Lu"}, {"汪", "Wang"}, {"范", "Fan"}, {"欧阳", "OuYang"},
}

var givenChars = [][2]string{
	{"伟", "Wei"}, {"芳", "Fang"}, {"娜", "Na"}, {"敏", "Min"}, {"静", "Jing"}, {"丽", "Li"},
	{"强", "Qiang"}, {"磊", "Lei"}, {"军", "Jun"}, {"洋", "Yang"}, {"勇", "Yong"}, {"艳", "Yan"},
	{"杰", "Jie"}, {"娟", "Juan"}, {"涛", "Tao"}, {"明", "Ming"}, {"超", "Chao"}, {"秀", "Xiu"},
	{"霞", "Xia"}, {"平", "Ping"}, {"刚", "Gang"}, {"桂", "Gui"}, {"英", "Ying"}, {"华", "Hua"},
	{"文", "Wen"}, {"慧", "Hui"}, {"建", "Jian"}, {"国", "Guo"}, {"玲", "Ling"}, {"辉", "Hui"},
	{"鹏", "Peng"}, {"宇", "Yu"}, {"浩", "Hao"}, {"婷", "Ting"}, {"雪", "Xue"}, {"琳", "Lin"},
	{"晨", "Chen"}, {"欣", "Xin"}, {"子", "Zi"}, {"涵", "Han"}, {"思", "Si"}, {"雨", "Yu"},
	{"博", "Bo"}, {"凯", "Kai"}, {"佳", "Jia"}, {"嘉", "Jia"}, {"一", "Yi"}, {"梓", "Zi"},
	{"俊", "Jun"}, {"峰", "Feng"}, {"倩", "Qian"}, {"颖", "Ying"}, {"志", "Zhi"}, {"海", "Hai"},
	{"天", "Tian"}, {"昊", "Hao"}, {"瑶", "Yao"}, {"萱", "Xuan"}, {"泽", "Ze"}, {"宁", "Ning"},
}

var corpNames = []string{"星河科技有限公司", "远航集团", "青松网络科技有限公司", "华睿信息技术有限公司", "云帆智能科技有限公司", "同舟控股集团"}

var topDepts = []string{"研发中心", "市场中心", "销售中心", "财务中心", "人力资源中心", "运营中心", "客户服务中心",
	"供应链中心", "法务部", "行政部", "战略发展部", "品牌部", "产品中心", "数据中心", "信息技术部", "质量管理部"}

var subDeptWords = []string{"平台", "前端", "后端", "测试", "华东", "华南", "华北", "西南", "大客户", "渠道", "招聘",
	"培训", "薪酬", "采购", "物流", "仓储", "结算", "审计", "算法", "基础架构", "安全", "移动端", "增长", "交付"}

var subDeptSuffixes = []string{"部", "组", "一组", "二组", "小组", "团队"}

var positions = []string{"工程师", "高级工程师", "产品经理", "设计师", "销售代表", "客户经理", "运营专员", "财务专员",
	"人事专员", "行政助理", "测试工程师", "架构师", "项目经理", "总监", "经理", "实习生", "法务顾问", "数据分析师"}

var tagNames = []string{"技术委员会", "新员工", "安全员", "党员", "工会", "内训讲师", "值班", "管理层", "骨干", "导师"}

var addresses = []string{"上海市浦东新区张江路88号", "北京市海淀区中关村大街1号", "深圳市南山区科技园南区", "杭州市西湖区文三路90号", "广州市天河区珠江新城"}

// Generate builds a deterministic org of about members members and departments
// departments from seed: a tree many levels deep, members in one or more departments with a
// main department, leaders, positions, Chinese names, and tags with members and departments.
// The same arguments always give the same org.
func Generate(members, departments int, seed int64) *wecom.Org {
	if departments < 1 {
		departments = 1
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	org := &wecom.Org{}

	// Departments: a random recursive tree (each new department hangs under a uniformly
	// chosen earlier one), which is as deep as real org charts and deeper.
	depth := make([]int, departments+1)
	siblingNames := map[int64]map[string]bool{}
	org.Departments = make([]wecom.Department, 0, departments)
	org.Departments = append(org.Departments, wecom.Department{ID: 1, Name: corpNames[int(uint64(seed)%uint64(len(corpNames)))], ParentID: 0, Order: 100000000, Leaders: []string{}})
	for id := 2; id <= departments; id++ {
		parent := int64(1 + rng.IntN(id-1))
		depth[id] = depth[parent] + 1
		var name string
		if parent == 1 {
			name = topDepts[rng.IntN(len(topDepts))]
		} else {
			name = subDeptWords[rng.IntN(len(subDeptWords))] + subDeptSuffixes[rng.IntN(len(subDeptSuffixes))]
		}
		if siblingNames[parent] == nil {
			siblingNames[parent] = map[string]bool{}
		}
		base := name
		for n := 2; siblingNames[parent][name]; n++ {
			name = fmt.Sprintf("%s%d", base, n)
		}
		siblingNames[parent][name] = true
		org.Departments = append(org.Departments, wecom.Department{
			ID: int64(id), Name: name, ParentID: parent, Order: int64(100000000 - rng.IntN(100000)), Leaders: []string{},
		})
	}

	// Members.
	used := map[string]int{}
	org.Users = make([]wecom.User, members)
	for i := 0; i < members; i++ {
		sn := surnames[rng.IntN(len(surnames))]
		g1 := givenChars[rng.IntN(len(givenChars))]
		name, py := sn[0]+g1[0], sn[1]+g1[1]
		if rng.IntN(3) > 0 {
			g2 := givenChars[rng.IntN(len(givenChars))]
			name, py = name+g2[0], py+g2[1]
		}
		used[py]++
		userid := py
		if used[py] > 1 {
			userid = fmt.Sprintf("%s%d", py, used[py])
			for used[userid] > 0 { // "Li2" could be a real pinyin+number already taken
				used[py]++
				userid = fmt.Sprintf("%s%d", py, used[py])
			}
			used[userid] = 1
		}
		main := int64(1 + rng.IntN(departments))
		depts := []int64{main}
		if extra := rng.IntN(100); extra < 10 && departments > 1 {
			for k := 0; k < 1+extra%2; k++ {
				d := int64(1 + rng.IntN(departments))
				if !containsID(depts, d) {
					depts = append(depts, d)
				}
			}
		}
		order := make([]int64, len(depts))
		leader := make([]int, len(depts))
		for k := range depts {
			order[k] = int64(rng.IntN(10000))
		}
		lower := strings.ToLower(userid)
		u := wecom.User{
			UserID: userid, Name: name, Department: depts, Order: order, IsLeaderInDept: leader,
			Position: positions[rng.IntN(len(positions))], MainDepartment: main, Status: 1,
			Mobile:  fmt.Sprintf("1%d%08d", []int{38, 39, 50, 86, 87, 88, 35, 36}[rng.IntN(8)], (int64(i)*48271+seed)%100000000),
			Gender:  []string{"1", "2"}[rng.IntN(2)],
			Email:   lower + "@example.com",
			BizMail: lower + "@example.wecom.work",
			Avatar:  fmt.Sprintf("https://wework.qpic.cn/wwpic/%08x/0", rng.Uint32()),
			QRCode:  fmt.Sprintf("https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vc%016x", rng.Uint64()),
		}
		u.ThumbAvatar = strings.TrimSuffix(u.Avatar, "/0") + "/100"
		switch r := rng.IntN(100); {
		case r < 4:
			u.Status = 2
		case r < 9:
			u.Status = 4
		}
		if rng.IntN(10) < 3 {
			u.Address = addresses[rng.IntN(len(addresses))]
		}
		if rng.IntN(10) < 2 {
			u.Telephone = fmt.Sprintf("021-%08d", rng.IntN(100000000))
		}
		if rng.IntN(10) < 2 {
			u.Alias = strings.ToLower(py)
			u.EnglishName = py
		}
		if rng.IntN(10) < 2 {
			u.ExtAttr = &wecom.ExtAttr{Attrs: []wecom.ExtAttrItem{
				{Type: 0, Name: "工号", Text: &wecom.ExtText{Value: fmt.Sprintf("E%06d", i+1)}},
				{Type: 1, Name: "主页", Web: &wecom.ExtWeb{URL: "https://example.com/" + lower, Title: name}},
			}}
		}
		if rng.IntN(20) == 0 {
			u.ExternalPosition = "高级" + u.Position
		}
		org.Users[i] = u
	}

	// Leaders: most departments with members get one, who is the direct leader of the
	// members whose main department it is.
	byDept := map[int64][]int{}
	for i := range org.Users {
		for _, d := range org.Users[i].Department {
			byDept[d] = append(byDept[d], i)
		}
	}
	leaderOf := map[int64]string{}
	for d := int64(1); d <= int64(departments); d++ {
		idx := byDept[d]
		if len(idx) == 0 || rng.IntN(10) >= 7 {
			continue
		}
		li := idx[rng.IntN(len(idx))]
		u := &org.Users[li]
		for k, ud := range u.Department {
			if ud == d {
				u.IsLeaderInDept[k] = 1
			}
		}
		org.Departments[d-1].Leaders = []string{u.UserID}
		leaderOf[d] = u.UserID
	}
	for i := range org.Users {
		u := &org.Users[i]
		if l, ok := leaderOf[u.MainDepartment]; ok && l != u.UserID {
			u.DirectLeader = []string{l}
		}
	}

	// Tags.
	nTags := min(max(3, departments/25), 200)
	org.Tags = make([]wecom.TagDetail, nTags)
	for t := 0; t < nTags; t++ {
		name := tagNames[t%len(tagNames)]
		if t >= len(tagNames) {
			name = fmt.Sprintf("%s%d", name, t/len(tagNames)+1)
		}
		td := wecom.TagDetail{TagID: int64(t + 1), TagName: name, UserList: []wecom.TagUser{}, PartyList: []int64{}}
		if members > 0 {
			n := min(members, 1+rng.IntN(min(200, members/20+2)))
			seen := map[int]bool{}
			for k := 0; k < n; k++ {
				i := rng.IntN(members)
				if !seen[i] {
					seen[i] = true
					td.UserList = append(td.UserList, wecom.TagUser{UserID: org.Users[i].UserID, Name: org.Users[i].Name})
				}
			}
		}
		for k := rng.IntN(3); k > 0; k-- {
			d := int64(1 + rng.IntN(departments))
			if !containsID(td.PartyList, d) {
				td.PartyList = append(td.PartyList, d)
			}
		}
		org.Tags[t] = td
	}
	wecom.Canonicalize(org)
	return org
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
