package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Window is one schedule entry: a rate in force between two times of day
// on some weekdays. End before Start wraps past midnight (the days name
// the day the window starts).
type Window struct {
	Text  string
	Start time.Duration // since midnight
	End   time.Duration // since midnight, up to 24h
	Days  [7]bool       // indexed by time.Weekday
	Rate  int64         // bytes/s; 0 = unlimited
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow parses "HH:MM-HH:MM [DAYS] RATE", e.g.
// "08:00-20:00 Mon-Fri 20MiB/s", "22:00-06:00 0", "00:00-24:00 Sat,Sun 100MiB/s".
func ParseWindow(s string) (Window, error) {
	w := Window{Text: s}
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return w, fmt.Errorf("want \"HH:MM-HH:MM [Mon-Fri] RATE\"")
	}
	from, to, ok := strings.Cut(f[0], "-")
	if !ok {
		return w, fmt.Errorf("bad time range %q (HH:MM-HH:MM)", f[0])
	}
	var err error
	if w.Start, err = parseClock(from, false); err != nil {
		return w, err
	}
	if w.End, err = parseClock(to, true); err != nil {
		return w, err
	}
	if w.Start == w.End {
		return w, fmt.Errorf("empty time range %q", f[0])
	}
	days := "mon-sun"
	if len(f) == 3 {
		days = f[1]
	}
	if w.Days, err = parseDays(days); err != nil {
		return w, err
	}
	if w.Rate, err = ParseRate(f[len(f)-1]); err != nil {
		return w, fmt.Errorf("rate %q: %v", f[len(f)-1], err)
	}
	return w, nil
}

func parseClock(s string, end bool) (time.Duration, error) {
	if len(s) != 5 || s[2] != ':' || strings.Trim(s[:2]+s[3:], "0123456789") != "" {
		return 0, fmt.Errorf("bad time %q (HH:MM)", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
		return 0, fmt.Errorf("bad time %q (HH:MM, 00:00..24:00)", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// parseDays reads "Mon-Fri", "Sat,Sun", "Mon-Wed,Fri".
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	for _, part := range strings.Split(strings.ToLower(s), ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, ok := dayNames[a]
		if !ok {
			return days, fmt.Errorf("bad day %q (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", a)
		}
		db := da
		if isRange {
			if db, ok = dayNames[b]; !ok {
				return days, fmt.Errorf("bad day %q (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", b)
			}
		}
		for d := da; ; d = (d + 1) % 7 {
			days[d] = true
			if d == db {
				break
			}
		}
	}
	return days, nil
}

// Contains reports whether t (in its own location) falls in the window.
func (w Window) Contains(t time.Time) bool {
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
	day := t.Weekday()
	if w.Start < w.End {
		return w.Days[day] && tod >= w.Start && tod < w.End
	}
	return (w.Days[day] && tod >= w.Start) || (w.Days[(day+6)%7] && tod < w.End)
}

// LimitAt returns the bandwidth limit in force at t: the first schedule
// window containing t (in the schedule's time zone), else Bandwidth.
// 0 means unlimited.
func (u *Upload) LimitAt(t time.Time) int64 {
	loc := u.Location
	if loc == nil {
		loc = time.Local
	}
	lt := t.In(loc)
	for _, w := range u.Schedule {
		if w.Contains(lt) {
			return w.Rate
		}
	}
	return u.Bandwidth
}

func cWindow(d *decoder, n *yaml.Node, field string) (Window, bool) {
	s, ok := d.scalar(n, field, "a schedule entry")
	if !ok {
		return Window{}, false
	}
	w, err := ParseWindow(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad schedule entry %q: %v", s, err)
		return Window{}, false
	}
	return w, true
}
