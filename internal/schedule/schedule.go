// Package schedule reads backup schedules exactly as the controllers that
// run them read them, and computes the longest time between two runs: the
// interval that "overdue" must be measured against.
//
// Two grammars, two libraries, because the two controllers differ:
//
//   - CloudNativePG reads ScheduledBackup.spec.schedule with
//     github.com/robfig/cron v1.2.0 (cron.Parse, in its webhook and its
//     ScheduledBackup controller): six fields with seconds first, or five
//     fields meaning seconds, minutes, hours, day of month and month (the day
//     of week is optional, so "0 2 * * *" runs at minute 2 of every hour,
//     not at 02:00), or a descriptor (@yearly, @annually, @monthly, @weekly,
//     @daily, @midnight, @hourly, @every <duration>). ParseCNPG calls that
//     same function, so a schedule CNPG accepts is never read otherwise here.
//     The operator evaluates it in its own time zone, UTC in its image.
//   - The Kubernetes CronJob controller reads spec.schedule with
//     github.com/robfig/cron/v3's ParseStandard (five fields, minute first,
//     or a descriptor), prefixed with "TZ=<spec.timeZone> " when a valid
//     time zone is set and the schedule names none itself. ParseCronJob does
//     the same.
//
// The longest gap is computed over the whole 400-year Gregorian cycle, after
// which the calendar and the weekdays repeat exactly, so every weekly,
// monthly and leap-year pattern is in it whatever the start. The work is
// bounded: one pass over the 86,400 seconds of a day for the times of day,
// one pass over the 146,097 days of the cycle for the days. In a time zone
// with daylight saving time, the runs next to each clock change of 28 years
// (every weekday alignment) are enumerated with the controller's own Next,
// since a clock change can drop a run (02:30 on the day 02:00 jumps to
// 03:00) or stretch a gap.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cronv1 "github.com/robfig/cron"
	cronv3 "github.com/robfig/cron/v3"
)

// ErrNeverRuns says a schedule parses but no time ever matches it (the 30th
// of February): CNPG accepts it and then never creates a Backup.
var ErrNeverRuns = errors.New("no time ever matches the schedule")

// Schedule is a parsed schedule.
type Schedule struct {
	// next is the controller library's own Next.
	next func(time.Time) time.Time
	// every is the period of an "@every" schedule (0 for a cron spec).
	every time.Duration
	// f are the cron fields' bit sets (bit n set: value n matches; bit 63:
	// the field was "*" or "?").
	f fieldBits
	// loc is the time zone the controller evaluates the schedule in.
	loc *time.Location
}

type fieldBits struct{ second, minute, hour, dom, month, dow uint64 }

// starBit is the bit both robfig/cron versions set for a "*" or "?" field.
const starBit = 1 << 63

// ParseCNPG reads a ScheduledBackup's spec.schedule as CloudNativePG does
// (robfig/cron v1.2.0's Parse), evaluated in UTC.
func ParseCNPG(spec string) (_ *Schedule, err error) {
	defer recoverParse(spec, &err)
	s, err := cronv1.Parse(spec)
	if err != nil {
		return nil, err
	}
	switch v := s.(type) {
	case *cronv1.SpecSchedule:
		return &Schedule{next: v.Next, loc: time.UTC,
			f: fieldBits{v.Second, v.Minute, v.Hour, v.Dom, v.Month, v.Dow}}, nil
	case cronv1.ConstantDelaySchedule:
		return &Schedule{next: v.Next, every: v.Delay, loc: time.UTC}, nil
	}
	return nil, fmt.Errorf("schedule: unexpected schedule type %T", s)
}

// ParseCronJob reads a CronJob's spec.schedule and spec.timeZone (empty:
// unset) as the Kubernetes CronJob controller does. Without a time zone the
// controller uses its own, UTC in the kube-controller-manager image.
func ParseCronJob(spec, timeZone string) (_ *Schedule, err error) {
	defer recoverParse(spec, &err)
	text := spec
	if !strings.Contains(spec, "TZ") && timeZone != "" {
		if _, err := time.LoadLocation(timeZone); err == nil {
			text = "TZ=" + timeZone + " " + spec
		}
	}
	if !strings.HasPrefix(text, "TZ=") && !strings.HasPrefix(text, "CRON_TZ=") {
		// robfig/cron/v3 reads a schedule without a zone in time.Local: pin
		// the controller's UTC instead of this process's zone.
		text = "TZ=UTC " + text
	}
	s, err := cronv3.ParseStandard(text)
	if err != nil {
		return nil, err
	}
	switch v := s.(type) {
	case *cronv3.SpecSchedule:
		return &Schedule{next: v.Next, loc: v.Location,
			f: fieldBits{v.Second, v.Minute, v.Hour, v.Dom, v.Month, v.Dow}}, nil
	case cronv3.ConstantDelaySchedule:
		return &Schedule{next: v.Next, every: v.Delay, loc: time.UTC}, nil
	}
	return nil, fmt.Errorf("schedule: unexpected schedule type %T", s)
}

// recoverParse turns a panic of a cron library on odd input ("TZ=UTC"
// without a space panics robfig/cron/v3) into an error: an object's
// schedule must never take the exporter down.
func recoverParse(spec string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("schedule %q: %v", spec, r)
	}
}

// Next returns the first run after t, as the controller computes it (zero
// when there is none within the library's five-year search).
func (s *Schedule) Next(t time.Time) time.Time { return s.next(t) }

// Location is the time zone the schedule is evaluated in.
func (s *Schedule) Location() *time.Location { return s.loc }

// LongestGap returns the longest time between two consecutive runs, over
// every run the schedule will ever have (ErrNeverRuns when it has none).
func (s *Schedule) LongestGap() (time.Duration, error) {
	if s.every > 0 {
		return s.every, nil
	}
	wall, ok := s.wallGap()
	if !ok {
		return 0, ErrNeverRuns
	}
	return max(wall, s.dstGap(wall)), nil
}

// wallGap is the longest gap in wall-clock time (every day 86,400 s long),
// over the 400-year cycle.
func (s *Schedule) wallGap() (time.Duration, bool) {
	// Times of day, in seconds: the first, the last and the longest gap
	// between two runs of the same day.
	first, last, inner := -1, -1, 0
	for h := 0; h < 24; h++ {
		if s.f.hour&(1<<h) == 0 {
			continue
		}
		for m := 0; m < 60; m++ {
			if s.f.minute&(1<<m) == 0 {
				continue
			}
			for sec := 0; sec < 60; sec++ {
				if s.f.second&(1<<sec) == 0 {
					continue
				}
				t := h*3600 + m*60 + sec
				if first < 0 {
					first = t
				} else {
					inner = max(inner, t-last)
				}
				last = t
			}
		}
	}
	if first < 0 {
		return 0, false
	}
	// Days: the longest distance between two matching days, wrapping
	// around the cycle (day n and day n+cycleDays are the same date of the
	// same weekday).
	firstDay, prevDay, longestDays := -1, -1, 0
	y, mo, d, wd := 2001, 1, 1, time.Monday
	for day := 0; day < cycleDays; day++ {
		if s.dayMatches(mo, d, wd) {
			if firstDay < 0 {
				firstDay = day
			} else {
				longestDays = max(longestDays, day-prevDay)
			}
			prevDay = day
		}
		wd = (wd + 1) % 7
		if d++; d > daysIn(y, mo) {
			d = 1
			if mo++; mo > 12 {
				mo, y = 1, y+1
			}
		}
	}
	if firstDay < 0 {
		return 0, false
	}
	longestDays = max(longestDays, firstDay+cycleDays-prevDay)
	gap := max(inner, longestDays*86400-last+first)
	return time.Duration(gap) * time.Second, true
}

// cycleDays is the length of the Gregorian calendar's 400-year cycle, a
// whole number of weeks (20,871).
const cycleDays = 146097

// dayMatches is robfig/cron's rule (the same in v1.2.0 and v3): the month
// must match; when day of month or day of week is "*", both must match,
// otherwise either.
func (s *Schedule) dayMatches(month, day int, wd time.Weekday) bool {
	if s.f.month&(1<<month) == 0 {
		return false
	}
	domMatch := s.f.dom&(1<<day) > 0
	dowMatch := s.f.dow&(1<<int(wd)) > 0
	if s.f.dom&starBit > 0 || s.f.dow&starBit > 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// dstYears covers every alignment of weekdays and dates (28 years) for the
// clock changes of a zone's current rules.
const dstYears = 28

// maxDSTRuns bounds the runs enumerated around clock changes (about half a
// second of work: dense schedules such as every minute on weekdays); past it the
// result is the conservative 2 x wall + 1h (two gaps merged by a dropped run).
const maxDSTRuns = 50_000

// dstGap is the longest gap between runs next to a clock change of the
// schedule's zone, in the 28 years from 2030 (zero in a zone without clock
// changes). A gap with both runs on one side of a change equals its
// wall-clock length, so only the gap that spans each change is measured: the
// last run before a change is at most one wall gap (and the shift) earlier,
// because the run the wall clock puts after it would otherwise come before
// the change; runs dropped by the change come after it.
func (s *Schedule) dstGap(wall time.Duration) time.Duration {
	if s.loc == time.UTC || s.loc == nil {
		return 0
	}
	longest, runs := time.Duration(0), 0
	for _, change := range clockChanges(s.loc) {
		prev := time.Time{}
		for r := s.next(change.Add(-wall - 3*time.Hour)); !r.IsZero(); r = s.next(r) {
			if !prev.IsZero() {
				longest = max(longest, r.Sub(prev))
			}
			prev = r
			if runs++; runs > maxDSTRuns {
				return 2*wall + time.Hour
			}
			if r.After(change.Add(3 * time.Hour)) {
				break
			}
		}
	}
	return longest
}

// clockChanges returns the instants at which loc's UTC offset changes in the
// 28 years from 2030: a fixed reference span keeps the result independent of
// when it is computed, and future years follow the zone's current rules. It
// probes the offset every 6 hours and bisects to the second (time.ZoneBounds
// loops at some year ends of rule-based zones).
func clockChanges(loc *time.Location) []time.Time {
	var out []time.Time
	t := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	end := t.AddDate(dstYears, 0, 0)
	offset := func(t time.Time) int { _, o := t.In(loc).Zone(); return o }
	o := offset(t)
	for t.Before(end) {
		u := t.Add(6 * time.Hour)
		if ou := offset(u); ou != o {
			lo, hi := t, u // offset(lo) == o, offset(hi) != o
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
				if offset(mid) == o {
					lo = mid
				} else {
					hi = mid
				}
			}
			out = append(out, hi)
			o = ou
		}
		t = u
	}
	return out
}

// Cache memoises LongestGap per schedule text. It is bounded: past
// maxCached entries it starts over.
type Cache struct {
	mu sync.Mutex
	m  map[cacheKey]cacheVal
}

type cacheKey struct{ kind, spec, tz string }

type cacheVal struct {
	gap time.Duration
	err error
}

const maxCached = 4096

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{m: map[cacheKey]cacheVal{}} }

// CNPG returns the longest gap of a ScheduledBackup schedule (ParseCNPG);
// the error says why it cannot run.
func (c *Cache) CNPG(spec string) (time.Duration, error) {
	return c.get(cacheKey{"cnpg", spec, ""}, func() (*Schedule, error) { return ParseCNPG(spec) })
}

// CronJob returns the longest gap of a CronJob schedule (ParseCronJob).
func (c *Cache) CronJob(spec, timeZone string) (time.Duration, error) {
	return c.get(cacheKey{"cronjob", spec, timeZone}, func() (*Schedule, error) { return ParseCronJob(spec, timeZone) })
}

func (c *Cache) get(k cacheKey, parse func() (*Schedule, error)) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v.gap, v.err
	}
	var v cacheVal
	s, err := parse()
	if err != nil {
		v.err = err
	} else {
		v.gap, v.err = s.LongestGap()
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[k] = v
	return v.gap, v.err
}
