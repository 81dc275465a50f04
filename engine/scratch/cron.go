package scratch

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule says when the next run is due.
type Schedule interface {
	// Next returns the first due time strictly after t.
	Next(t time.Time) time.Time
	String() string
}

// Every is a fixed interval.
type Every time.Duration

// Next returns t plus the interval.
func (e Every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

func (e Every) String() string { return "every " + time.Duration(e).String() }

// Cron is a classic 5-field cron expression: minute hour day-of-month
// month day-of-week, with *, lists (1,5), ranges (1-5), steps (*/15,
// 0-30/10), month and weekday names (jan, mon), 7 for Sunday, and the
// @hourly @daily @weekly @monthly @yearly shorthands. As in cron, when
// both day fields are restricted a day matches either of them.
//
// (A parser of our own rather than a library: the grammar is small, the
// schedule must run on an injected clock, and it keeps go.mod as it is.)
type Cron struct {
	expr                          string
	minute, hour, dom, month, dow uint64 // bit sets
	domAny, dowAny                bool
}

var cronMacros = map[string]string{
	"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
	"@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseCron parses a cron expression.
func ParseCron(expr string) (*Cron, error) {
	spec := strings.TrimSpace(expr)
	if m, ok := cronMacros[strings.ToLower(spec)]; ok {
		spec = m
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 * * * *\" for hourly", expr)
	}
	c := &Cron{expr: expr}
	var err error
	parts := []struct {
		name     string
		min, max int
		names    []string
		nameBase int
		into     *uint64
	}{
		{"minute", 0, 59, nil, 0, &c.minute},
		{"hour", 0, 23, nil, 0, &c.hour},
		{"day of month", 1, 31, nil, 0, &c.dom},
		{"month", 1, 12, monthNames, 1, &c.month},
		{"day of week", 0, 7, dayNames, 0, &c.dow},
	}
	for i, p := range parts {
		*p.into, err = parseField(fields[i], p.min, p.max, p.names, p.nameBase)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %s: %v", expr, p.name, err)
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	c.domAny = fields[2] == "*" || strings.HasPrefix(fields[2], "*/")
	c.dowAny = fields[4] == "*" || strings.HasPrefix(fields[4], "*/")
	return c, nil
}

func parseField(f string, min, max int, names []string, nameBase int) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(f, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		lo, hi := min, max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a, min, max, names, nameBase); err != nil {
				return 0, err
			}
			if hi, err = value(b, min, max, names, nameBase); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			v, err := value(rng, min, max, names, nameBase)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep {
				hi = max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func value(s string, min, max int, names []string, nameBase int) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i + nameBase, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < min || v > max {
		return 0, fmt.Errorf("%d is out of range %d-%d", v, min, max)
	}
	return v, nil
}

func (c *Cron) String() string { return "cron " + c.expr }

func (c *Cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domAny && c.dowAny:
		return true
	case c.domAny:
		return dow
	case c.dowAny:
		return dom
	}
	return dom || dow
}

// Next returns the first matching minute after t, in t's location. An
// expression that never matches (February 30th) gives the zero time.
func (c *Cron) Next(t time.Time) time.Time {
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case c.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
		case c.hour&(1<<uint(t.Hour())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, t.Location())
		case c.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

// ParseSchedule picks the schedule from an interval or a cron expression
// (not both); nil when neither is given.
func ParseSchedule(every time.Duration, cron string) (Schedule, error) {
	switch {
	case every > 0 && cron != "":
		return nil, fmt.Errorf("give either an interval (every) or a cron expression, not both")
	case every < 0:
		return nil, fmt.Errorf("interval %s is negative", every)
	case every > 0 && every < time.Minute:
		return nil, fmt.Errorf("interval %s is shorter than a minute: a scratch rebuild takes longer than that", every)
	case every > 0:
		return Every(every), nil
	case cron != "":
		c, err := ParseCron(cron)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, nil
}
