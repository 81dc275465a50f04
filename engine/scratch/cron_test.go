package scratch

import (
	"strings"
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct{ expr, from, want string }{
		{"0 * * * *", "2026-03-10 14:00", "2026-03-10 15:00"},
		{"0 * * * *", "2026-03-10 14:59", "2026-03-10 15:00"},
		{"@hourly", "2026-03-10 23:30", "2026-03-11 00:00"},
		{"*/15 9-17 * * mon-fri", "2026-03-13 17:50", "2026-03-16 09:00"}, // Friday evening -> Monday
		{"30 2 * * *", "2026-03-10 02:30", "2026-03-11 02:30"},
		{"0 0 1 jan *", "2026-03-10 00:00", "2027-01-01 00:00"},
		{"0 12 13 * 5", "2026-03-01 00:00", "2026-03-06 12:00"}, // day 13 OR Friday: Friday 6th first
		{"0 0 * * 7", "2026-03-10 00:00", "2026-03-15 00:00"},   // 7 is Sunday
		{"5,10 0 * * *", "2026-03-10 00:05", "2026-03-10 00:10"},
		{"0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"},
	}
	for _, c := range cases {
		cr, err := ParseCron(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := cr.Next(at(c.from)); !got.Equal(at(c.want)) {
			t.Errorf("%s after %s: %s, want %s", c.expr, c.from, got.Format("2006-01-02 15:04 Mon"), c.want)
		}
	}
}

func TestCronErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"* * * *":       "want 5 fields",
		"60 * * * *":    "minute: 60 is out of range 0-59",
		"* * * foo *":   `month: "foo" is not a number`,
		"*/0 * * * *":   "step",
		"5-1 * * * *":   "backwards",
		"0 0 30 feb *x": `day of week: "*x" is not a number`,
	} {
		_, err := ParseCron(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", expr, err, want)
		}
	}
	if never, _ := ParseCron("0 0 30 2 *"); !never.Next(time.Now()).IsZero() {
		t.Error("February 30th matched")
	}
}

func TestParseSchedule(t *testing.T) {
	if s, err := ParseSchedule(time.Hour, ""); err != nil || s.String() != "every 1h0m0s" {
		t.Errorf("every: %v %v", s, err)
	}
	if _, err := ParseSchedule(time.Hour, "0 * * * *"); err == nil {
		t.Error("both accepted")
	}
	if _, err := ParseSchedule(time.Second, ""); err == nil {
		t.Error("one second accepted")
	}
	if s, err := ParseSchedule(0, "bad"); err == nil || s != nil {
		t.Errorf("bad cron: %v %v", s, err)
	}
	if s, err := ParseSchedule(0, ""); err != nil || s != nil {
		t.Errorf("none: %v %v", s, err)
	}
}
