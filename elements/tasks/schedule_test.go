package tasks

import (
	"testing"
	"time"
)

func mustSchedule(t *testing.T, def map[string]any, loc *time.Location) Schedule {
	t.Helper()
	var problems []string
	c := parse(elementWith(def, loc), func(key, format string, args ...any) { problems = append(problems, key) })
	if len(problems) > 0 {
		t.Fatalf("problems at %v", problems)
	}
	return c.sched
}

func TestNextTimeForEveryRepeatType(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := func(s string) time.Time { tm, _ := time.ParseInLocation("2006-01-02 15:04:05", s, sh); return tm }
	now := at("2024-03-15 10:30:00") // a Friday
	for _, c := range []struct {
		name  string
		timer map[string]any
		want  string // "" = none
	}{
		{"once, future", map[string]any{"startTime": "2024-03-20 08:00:00", "repeat": map[string]any{"repeatType": "once"}}, "2024-03-20 08:00:00"},
		{"once, past", map[string]any{"startTime": "2024-03-01 08:00:00", "repeat": map[string]any{"repeatType": "once"}}, ""},
		{"no repeat is once", map[string]any{"startTime": "2024-03-01 08:00:00"}, ""},
		{"every 7 minutes", map[string]any{"startTime": "2024-03-15 10:00:00", "repeat": map[string]any{"repeatType": "minute", "period": 7.0}}, "2024-03-15 10:35:00"},
		{"every 3 hours", map[string]any{"startTime": "2024-03-14 23:15:00", "repeat": map[string]any{"repeatType": "hour", "period": 3.0}}, "2024-03-15 11:15:00"},
		{"daily at 02:00", map[string]any{"startTime": "2024-01-01 02:00:00", "repeat": map[string]any{"repeatType": "day", "period": 1.0}}, "2024-03-16 02:00:00"},
		{"every 2 days", map[string]any{"startTime": "2024-03-10 11:00:00", "repeat": map[string]any{"repeatType": "day", "period": 2.0}}, "2024-03-16 11:00:00"},
		{"daily, exactly now is past", map[string]any{"startTime": "2024-03-14 10:30:00", "repeat": map[string]any{"repeatType": "day"}}, "2024-03-16 10:30:00"},
		{"weekly", map[string]any{"startTime": "2024-01-02 09:00:00", "repeat": map[string]any{"repeatType": "week", "period": 1.0}}, "2024-03-19 09:00:00"},
		{"every 2 weeks", map[string]any{"startTime": "2024-03-01 09:00:00", "repeat": map[string]any{"repeatType": "week", "period": 2.0}}, "2024-03-29 09:00:00"},
		{"monthly", map[string]any{"startTime": "2023-11-15 09:00:00", "repeat": map[string]any{"repeatType": "month", "period": 1.0}}, "2024-04-15 09:00:00"},
		{"monthly on the 31st clamps", map[string]any{"startTime": "2024-01-31 09:00:00", "repeat": map[string]any{"repeatType": "month"}}, "2024-03-31 09:00:00"},
		{"quarterly", map[string]any{"startTime": "2023-12-01 00:00:00", "repeat": map[string]any{"repeatType": "month", "period": 3.0}}, "2024-06-01 00:00:00"},
		{"not started yet", map[string]any{"startTime": "2025-01-01 00:00:00", "repeat": map[string]any{"repeatType": "day"}}, "2025-01-01 00:00:00"},
		{"ended", map[string]any{"startTime": "2024-01-01 02:00:00", "endTime": "2024-03-15 23:00:00", "repeat": map[string]any{"repeatType": "day"}}, ""},
		{"ends after the next", map[string]any{"startTime": "2024-01-01 02:00:00", "endTime": "2024-03-16 02:00:00", "repeat": map[string]any{"repeatType": "day"}}, "2024-03-16 02:00:00"},
		{"skip weekend", map[string]any{"startTime": "2024-01-01 02:00:00", "repeat": map[string]any{"repeatType": "day"}, "skipHoliday": 1.0}, "2024-03-18 02:00:00"},
		{"skip weekend and a holiday", map[string]any{"startTime": "2024-01-01 02:00:00", "repeat": map[string]any{"repeatType": "day"}, "skipHoliday": 1.0,
			"holidays": []any{"2024-03-18", "2024-03-19"}}, "2024-03-20 02:00:00"},
		{"holidays ignored without skipHoliday", map[string]any{"startTime": "2024-01-01 02:00:00", "repeat": map[string]any{"repeatType": "day"},
			"holidays": []any{"2024-03-16"}}, "2024-03-16 02:00:00"},
		{"cron", map[string]any{"startTime": "2024-01-01 00:00:00", "cron": "0 9 * * 1"}, "2024-03-18 09:00:00"},
		{"cron every", map[string]any{"startTime": "2024-01-01 00:00:00", "cron": "@every 10m"}, "2024-03-15 10:40:00"},
		{"cron before start", map[string]any{"startTime": "2024-04-01 00:00:00", "cron": "30 6 * * *"}, "2024-04-01 06:30:00"},
		{"cron with skipHoliday", map[string]any{"startTime": "2024-01-01 00:00:00", "cron": "0 9 * * *", "skipHoliday": 1.0}, "2024-03-18 09:00:00"},
		{"cron past its end", map[string]any{"startTime": "2024-01-01 00:00:00", "endTime": "2024-03-15 11:00:00", "cron": "0 12 * * *"}, ""},
	} {
		s := mustSchedule(t, map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": c.timer}, sh)
		next, ok := s.Next(now)
		got := ""
		if ok {
			got = next.In(sh).Format("2006-01-02 15:04:05")
		}
		if got != c.want {
			t.Errorf("%s: next = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDailyKeepsWallClockAcrossDaylightSaving(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz data")
	}
	s := mustSchedule(t, map[string]any{"funcType": "Global", "func": "a.B.c",
		"timerCfg": map[string]any{"startTime": "2024-03-01 02:30:00", "repeat": map[string]any{"repeatType": "day"}}}, ny)
	after, _ := time.ParseInLocation("2006-01-02 15:04", "2024-03-12 12:00", ny) // after the switch on 10 March
	next, _ := s.Next(after)
	if got := next.Format("2006-01-02 15:04"); got != "2024-03-13 02:30" {
		t.Fatalf("next = %s", got)
	}
}

func TestBadTimerConfigIsReportedAtItsKey(t *testing.T) {
	for _, c := range []struct {
		def  map[string]any
		key  string
		want string
	}{
		{map[string]any{"funcType": "Global", "func": "nodot", "timerCfg": map[string]any{"startTime": "2024-01-01"}}, "func", "must name an element method"},
		{map[string]any{"funcType": "Later", "timerCfg": map[string]any{"startTime": "2024-01-01"}}, "funcType", `funcType must be one of "Global", "Inner", not "Later"`},
		{map[string]any{"funcType": "Inner", "timerCfg": map[string]any{"startTime": "2024-01-01"}}, "funcType", "inner.js, which does not exist"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{}}, "timerCfg", `timerCfg needs the key "startTime" (string)`},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "tomorrow"}}, "timerCfg.startTime", "is not a time"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-02", "endTime": "2024-01-01"}}, "timerCfg.endTime", "before startTime"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01", "repeat": map[string]any{"repeatType": "year"}}}, "timerCfg.repeat.repeatType", `must be one of "once", "minute"`},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01", "repeat": map[string]any{"repeatType": "day", "period": 0.0}}}, "timerCfg.repeat.period", "must be a whole number from 1 to 2^53, not 0"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01", "cron": "61 * * * *"}}, "timerCfg.cron", "timerCfg.cron"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01", "skipHoliday": 2.0}}, "timerCfg.skipHoliday", "1 or 0"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01", "holidays": []any{"10/01"}}}, "timerCfg.holidays.0", "a date like"},
		{map[string]any{"funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01", "every": "day"}}, "timerCfg.every", `no key "every"`},
		{map[string]any{"enable": 2.0, "funcType": "Global", "func": "a.B.c", "timerCfg": map[string]any{"startTime": "2024-01-01"}}, "enable", "1 or 0"},
	} {
		var got []string
		parse(elementWith(c.def, time.UTC), func(key, format string, args ...any) {
			if key == c.key {
				got = append(got, sprintf(format, args...))
			}
		})
		if len(got) != 1 || !contains(got[0], c.want) {
			t.Errorf("%v: at %q got %q, want %q", c.def, c.key, got, c.want)
		}
	}
}
