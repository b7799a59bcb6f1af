package tasks

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Repeat types of timerCfg.repeat.repeatType.
var repeatTypes = []string{"once", "minute", "hour", "day", "week", "month"}

// Schedule is a task's timerCfg, parsed. Next is a pure function of the time it is given.
type Schedule struct {
	Start       time.Time
	End         time.Time // zero: no end
	RepeatType  string
	Period      int
	SkipHoliday bool
	Holidays    map[string]bool // "2006-01-02" dates skipped with SkipHoliday
	Cron        cron.Schedule   // timerCfg.cron, when given: it replaces repeat
	Every       time.Duration   // timerCfg.cron "@every D": runs at startTime + k·D
	Loc         *time.Location
}

// timeLayouts are the accepted forms of startTime and endTime, in the app's time zone.
var timeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", time.RFC3339}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like \"2024-01-01 02:00:00\"", s)
}

// cronParser takes 5-field expressions and descriptors (@every 10s, @hourly, …).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// maxSkips bounds the search for a day that is not a holiday.
const maxSkips = 100_000

// Next returns the first run strictly after after, or false when no run is left.
func (s *Schedule) Next(after time.Time) (time.Time, bool) {
	after = after.In(s.Loc)
	t, ok := s.nextRaw(after)
	for i := 0; ok && s.SkipHoliday && s.holiday(t); i++ {
		if i == maxSkips {
			return time.Time{}, false
		}
		t, ok = s.nextRaw(t)
	}
	if !ok || (!s.End.IsZero() && t.After(s.End)) {
		return time.Time{}, false
	}
	if !t.After(after) || (s.Cron == nil && !after.Before(s.Start) && !s.SkipHoliday && t.Sub(after) > s.span()) {
		return time.Time{}, false // never a run in the past, nor further than a period away
	}
	return t, true
}

// span is the longest a period of the schedule can be: its period of its unit, with room
// for long months and daylight-saving changes.
func (s *Schedule) span() time.Duration {
	if s.Every > 0 {
		return s.Every
	}
	unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 25 * time.Hour,
		"week": 7*24*time.Hour + time.Hour, "month": 31*24*time.Hour + time.Hour}[s.RepeatType]
	return time.Duration(max(s.Period, 1)) * unit
}

func (s *Schedule) holiday(t time.Time) bool {
	wd := t.Weekday()
	return wd == time.Saturday || wd == time.Sunday || s.Holidays[t.Format("2006-01-02")]
}

// nextRaw is Next without holidays and end.
func (s *Schedule) nextRaw(after time.Time) (time.Time, bool) {
	if s.Cron != nil {
		from := after
		if from.Before(s.Start) {
			from = s.Start.Add(-time.Second) // a cron time at Start itself counts
		}
		t := s.Cron.Next(from)
		return t, !t.IsZero()
	}
	if after.Before(s.Start) {
		return s.Start, true
	}
	n := s.Period
	switch s.RepeatType {
	case "every":
		k := after.Sub(s.Start)/s.Every + 1
		return s.Start.Add(k * s.Every), true
	case "once":
		return time.Time{}, false
	case "minute", "hour":
		d := time.Duration(n) * time.Minute
		if s.RepeatType == "hour" {
			d = time.Duration(n) * time.Hour
		}
		k := after.Sub(s.Start)/d + 1
		return s.Start.Add(k * d), true
	case "day", "week":
		days := n
		if s.RepeatType == "week" {
			days = 7 * n
		}
		// calendar days keep the wall-clock time across daylight-saving changes
		k := int(after.Sub(s.Start).Hours()/24) / days
		for t := s.Start.AddDate(0, 0, max(k-1, 0)*days); ; t = t.AddDate(0, 0, days) {
			if t.After(after) {
				return t, true
			}
		}
	case "month":
		months := (after.Year()-s.Start.Year())*12 + int(after.Month()-s.Start.Month())
		for k := max(months/n-1, 0); ; k++ {
			if t := addMonths(s.Start, k*n); t.After(after) {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// addMonths adds months keeping the day of the month, or the month's last day when it is
// shorter (a task on the 31st runs on 30 April and 28 or 29 February).
func addMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}
