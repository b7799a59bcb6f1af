package wecomsim

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/jitrt/jitrt/wecom"
)

// churner changes the org at a steady rate, as a busy company's HR does: members updated,
// moved, hired, renamed and leaving; departments added and renamed; tag membership.
type churner struct {
	stop chan struct{}
	done chan struct{}
}

// StartChurn makes rate random changes a second until StopChurn (a rate of 0 stops). The
// changes follow the emulator's seed: the same seed and rate give the same changes.
func (s *Server) StartChurn(rate int) {
	s.StopChurn()
	if rate <= 0 {
		return
	}
	c := &churner{stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.churn = c
	s.mu.Unlock()
	rng := mrand.New(mrand.NewPCG(uint64(s.opts.Seed), 0xc4a2))
	go func() {
		defer close(c.done)
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		start := time.Now()
		var made int64
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				due := int64(now.Sub(start).Seconds() * float64(rate))
				for ; made < due; made++ {
					if err := s.churnOnce(rng, made); err != nil {
						s.log.Debug("wecomsim: a churn change was skipped", "err", err)
					}
				}
			}
		}
	}()
}

// StopChurn stops the churn (and waits for its last change).
func (s *Server) StopChurn() {
	s.mu.Lock()
	c := s.churn
	s.churn = nil
	s.mu.Unlock()
	if c != nil {
		close(c.stop)
		<-c.done
	}
}

// churnOnce makes one random change.
func (s *Server) churnOnce(rng *mrand.Rand, n int64) error {
	s.mu.RLock()
	users := sortedKeys(s.users)
	depts := make([]int64, 0, len(s.depts))
	for id := range s.depts {
		depts = append(depts, id)
	}
	tags := sortedTagIDs(s.tags)
	s.mu.RUnlock()
	slices.Sort(depts)
	if len(users) == 0 || len(depts) == 0 {
		return s.AddUser(wecom.User{UserID: fmt.Sprintf("churn%d", n), Name: fmt.Sprintf("新人%d", n), Department: []int64{depts[0]}})
	}
	user := users[rng.IntN(len(users))]
	dept := depts[rng.IntN(len(depts))]
	switch r := rng.IntN(100); {
	case r < 40: // a change of position or name
		return s.UpdateUser(user, func(u *wecom.User) {
			if rng.IntN(2) == 0 {
				u.Position = fmt.Sprintf("岗位%d", n)
			} else {
				u.Name = fmt.Sprintf("%s·%d", string([]rune(u.Name)[:1]), n%97)
			}
		})
	case r < 60: // a move to another department
		return s.UpdateUser(user, func(u *wecom.User) {
			u.Department, u.MainDepartment, u.Order, u.IsLeaderInDept = []int64{dept}, dept, nil, nil
		})
	case r < 72: // a hire
		return s.AddUser(wecom.User{UserID: fmt.Sprintf("churn%d", n), Name: fmt.Sprintf("新人%d", n), Department: []int64{dept},
			Position: "新员工", Mobile: fmt.Sprintf("139%08d", n%100000000), Email: fmt.Sprintf("churn%d@example.com", n)})
	case r < 82: // a departure
		return s.RemoveUser(user)
	case r < 86: // a new userid
		return s.RenameUser(user, fmt.Sprintf("%s.r%d", user[:min(len(user), 50)], n))
	case r < 91: // a new department
		s.mu.RLock()
		id := depts[len(depts)-1] + 1
		s.mu.RUnlock()
		return s.AddDepartment(wecom.Department{ID: id, Name: fmt.Sprintf("新部门%d", n), ParentID: dept, Order: n})
	case r < 96: // a renamed department
		return s.UpdateDepartment(dept, func(d *wecom.Department) { d.Name = fmt.Sprintf("部门%d", n) })
	default: // tag membership
		if len(tags) == 0 {
			return nil
		}
		tag := tags[rng.IntN(len(tags))]
		if rng.IntN(2) == 0 {
			return s.UpdateTag(tag, []string{user}, nil, nil, nil)
		}
		return s.UpdateTag(tag, nil, []string{user}, nil, nil)
	}
}
