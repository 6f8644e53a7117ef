package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	cronv1 "github.com/robfig/cron"
)

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// bruteGap is the independent computation: it walks the runs the
// controller's own Next produces from `from` for `span` and returns the
// longest gap between two of them. The libraries give up after five years
// without a match (February 29th around 2100); the walk then goes on from
// five years later, as a controller restarted later would.
func bruteGap(t *testing.T, s *Schedule, from, end time.Time, maxRuns int) time.Duration {
	t.Helper()
	prev := time.Time{}
	longest := time.Duration(0)
	cur := from
	for runs := 0; ; runs++ {
		if runs > maxRuns {
			t.Fatalf("brute force: more than %d runs", maxRuns)
		}
		r := s.Next(cur)
		if r.IsZero() {
			if cur.After(end) {
				break
			}
			cur = cur.AddDate(5, 0, 0)
			continue
		}
		if !prev.IsZero() {
			longest = max(longest, r.Sub(prev))
		}
		prev, cur = r, r
		if r.After(end) {
			break
		}
	}
	return longest
}

// Real-world ScheduledBackup schedules, each checked three ways: the value a
// person works out by hand, the brute-force walk over CNPG's own Next from
// several start days (a Monday, a Saturday, a month end), and LongestGap.
func TestCNPGLongestGap(t *testing.T) {
	starts := []time.Time{
		time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), // Monday
		time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC),   // Saturday
		time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC),
	}
	for _, c := range []struct {
		name, spec string
		want       time.Duration
		span       time.Duration // brute-force window (covers the pattern)
	}{
		{"daily 02:00", "0 0 2 * * *", day, 60 * day},
		{"CNPG docs: daily midnight", "0 0 0 * * *", day, 60 * day},
		{"hourly", "0 0 * * * *", hour, 30 * day},
		{"every 15 minutes", "0 */15 * * * *", 15 * time.Minute, 15 * day},
		{"every 30 seconds", "*/30 * * * * *", 30 * time.Second, 8 * day},
		{"twice a day", "0 0 0,12 * * *", 12 * hour, 60 * day},
		{"uneven hours", "0 0 1,7,22 * * *", 15 * hour, 30 * day},
		{"weekday-only daily", "0 30 1 * * 1-5", 3 * day, 120 * day},
		{"weekday-only by name", "0 30 1 * * MON-FRI", 3 * day, 120 * day},
		{"weekday-only hourly", "0 0 * * * 1-5", 49 * hour, 60 * day},
		{"weekday office hours", "0 0 8-18 * * 1-5", 62 * hour, 60 * day},
		{"weekends only", "0 0 3 * * 0,6", 6 * day, 120 * day},
		{"weekends only, Sat-Sun names", "0 0 3 * * SAT,SUN", 6 * day, 120 * day},
		{"Sundays", "0 0 4 * * 0", 7 * day, 200 * day},
		{"monthly on the 1st", "0 0 0 1 * *", 31 * day, 3 * 366 * day},
		{"month end (28th)", "0 0 23 28 * *", 31 * day, 3 * 366 * day},
		{"the 31st: skips short months", "0 0 0 31 * *", 61 * day, 3 * 366 * day},
		{"quarterly", "0 0 0 1 1,4,7,10 *", 92 * day, 3 * 366 * day},
		{"1st or Monday (either matches)", "0 0 0 1 * 1", 7 * day, 400 * day},
		{"odd days AND Mondays (v1 keeps */2 a star)", "0 0 0 */2 * 1", 21 * day, 400 * day},
		{"@hourly", "@hourly", hour, 30 * day},
		{"@daily", "@daily", day, 60 * day},
		{"@midnight", "@midnight", day, 60 * day},
		{"@weekly", "@weekly", 7 * day, 200 * day},
		{"@monthly", "@monthly", 31 * day, 3 * 366 * day},
		{"@yearly", "@yearly", 366 * day, 9 * 366 * day},
		{"@annually", "@annually", 366 * day, 9 * 366 * day},
		{"@every 6h", "@every 6h", 6 * hour, 30 * day},
		{"@every 90m", "@every 1h30m", 90 * time.Minute, 30 * day},
		{"@every rounds to whole seconds", "@every 1500ms", time.Second, hour},
		// Five fields: seconds, minutes, hours, day of month, month; the day
		// of week defaults to "*". "0 2 * * *" is NOT 02:00 daily here.
		{"five fields, crontab habit", "0 2 * * *", hour, 30 * day},
		{"five fields, 02:00 daily", "0 0 2 * *", day, 60 * day},
		{"five fields, monthly", "0 0 0 1 *", 31 * day, 3 * 366 * day},
		{"leap day", "0 0 0 29 2 *", 2921 * day, 0}, // 2096 to 2104: 2100 is no leap year
		{"question mark as star", "0 0 6 ? * MON", 7 * day, 200 * day},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseCNPG(c.spec)
			if err != nil {
				t.Fatalf("ParseCNPG(%q): %v", c.spec, err)
			}
			got, err := s.LongestGap()
			if err != nil || got != c.want {
				t.Fatalf("LongestGap(%q) = %v, %v; want %v", c.spec, got, err, c.want)
			}
			for _, from := range starts {
				end := from.Add(c.span)
				if c.span == 0 { // a whole cycle
					from = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
					end = from.AddDate(400, 0, 0)
				}
				if b := bruteGap(t, s, from, end, 3_000_000); b != c.want {
					t.Errorf("brute force from %s over %s: %v; LongestGap %v", from.Format(time.DateTime), c.span, b, c.want)
				}
			}
		})
	}
}

// Random sparse schedules against the brute force over a whole 400-year
// cycle: the two must agree exactly.
func TestCNPGLongestGapRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 2026))
	pick := func(lo, hi, most int) string {
		if rng.IntN(3) == 0 {
			return "*"
		}
		n := 1 + rng.IntN(most)
		var parts []string
		for range n {
			a := lo + rng.IntN(hi-lo+1)
			if rng.IntN(4) == 0 && a < hi {
				b := a + rng.IntN(hi-a+1)
				parts = append(parts, fmt.Sprintf("%d-%d", a, b))
			} else {
				parts = append(parts, fmt.Sprint(a))
			}
		}
		return strings.Join(parts, ",")
	}
	n := 10
	if testing.Short() {
		n = 3
	}
	from := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		// Months are always restricted (at most 3): the brute force then
		// walks at most ~37,000 runs over the 400 years.
		months := pick(1, 12, 3)
		if months == "*" {
			months = fmt.Sprint(1 + rng.IntN(12))
		}
		spec := fmt.Sprintf("%d %d %d %s %s %s", rng.IntN(60), rng.IntN(60), rng.IntN(24),
			pick(1, 31, 3), months, pick(0, 6, 2))
		s, err := ParseCNPG(spec)
		if err != nil {
			t.Fatalf("ParseCNPG(%q): %v", spec, err)
		}
		got, err := s.LongestGap()
		if errors.Is(err, ErrNeverRuns) {
			if r := bruteGap(t, s, from, from.AddDate(401, 0, 0), 200_000); r != 0 {
				t.Errorf("%q: LongestGap says never, brute force finds gaps of %v", spec, r)
			}
			continue
		}
		if b := bruteGap(t, s, from, from.AddDate(400, 0, 0), 200_000); b != got {
			t.Errorf("%q: LongestGap %v, brute force over 400 years %v", spec, got, b)
		}
	}
}

// What CNPG rejects is rejected here, with the same library's error; what
// never runs is told apart.
func TestCNPGInvalid(t *testing.T) {
	for _, spec := range []string{
		"", "nonsense", "0 0 2 * * * *", "0 0 2 *", "@daily ", "@fortnightly", "@every 1d",
		"0 0 25 * * *", "0 60 * * * *", "TZ=UTC 0 0 2 * * *", "CRON_TZ=Europe/Berlin 0 0 2 * *",
		"0 0 2 * * 7", // robfig/cron v1: day of week 0-6 only
	} {
		if _, err := ParseCNPG(spec); err == nil {
			t.Errorf("ParseCNPG(%q) accepted; CNPG rejects it", spec)
		}
		if _, err := cronv1.Parse(spec); err == nil {
			t.Errorf("robfig/cron v1 accepts %q: the test's premise is wrong", spec)
		}
	}
	for _, spec := range []string{"0 0 0 30 2 *", "0 0 0 31 4,6,9,11 *"} {
		s, err := ParseCNPG(spec)
		if err != nil {
			t.Fatalf("ParseCNPG(%q): %v", spec, err)
		}
		if _, err := s.LongestGap(); !errors.Is(err, ErrNeverRuns) {
			t.Errorf("LongestGap(%q) = %v, want ErrNeverRuns", spec, err)
		}
	}
}

// robfig/cron v3 reads "*/2" in the day of month as a restriction (OR with
// the day of week); v1.2.0, which CNPG uses, keeps it a star (AND). The
// exporter must follow v1.2.0.
func TestCNPGFollowsV1NotV3(t *testing.T) {
	s, err := ParseCNPG("0 0 0 */2 * 1")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) // Monday the 30th
	got := s.Next(from)
	// v1.2.0: odd days that are Mondays; Dec 7 2026 is an odd Monday.
	if want := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Next = %v, want %v (v3 would say Dec 1)", got, want)
	}
}

// The result depends on nothing but the text: no clock, no start day.
func TestCacheIndependentOfStart(t *testing.T) {
	c := NewCache()
	g1, err := c.CNPG("0 0 * * * 1-5")
	if err != nil || g1 != 49*hour {
		t.Fatalf("CNPG = %v, %v", g1, err)
	}
	g2, _ := c.CNPG("0 0 * * * 1-5")
	if g2 != g1 {
		t.Fatalf("cached %v != %v", g2, g1)
	}
	if _, err := c.CNPG("0 0 2 * * * *"); err == nil {
		t.Fatal("invalid schedule cached as valid")
	}
}

// CronJobs: five fields minute first, the CronJob's time zone, and clock
// changes, each against a brute-force walk over the controller's Next.
func TestCronJobLongestGap(t *testing.T) {
	for _, c := range []struct {
		name, spec, tz string
		want           time.Duration
		span           time.Duration
	}{
		{"daily 02:00 UTC", "0 2 * * *", "", day, 60 * day},
		{"hourly", "0 * * * *", "", hour, 10 * day},
		{"every 5 minutes", "*/5 * * * *", "", 5 * time.Minute, 8 * day},
		{"weekday-only", "30 1 * * 1-5", "", 3 * day, 120 * day},
		{"Sundays", "0 3 * * 0", "", 7 * day, 200 * day},
		{"weekly by name", "0 3 * * sun", "", 7 * day, 200 * day},
		{"monthly", "0 4 1 * *", "", 31 * day, 3 * 366 * day},
		{"@daily", "@daily", "", day, 60 * day},
		{"@every", "@every 12h", "", 12 * hour, 30 * day},
		// Berlin: on the last Sunday of March 02:00 jumps to 03:00, so a
		// 02:30 run does not happen that day: 47 hours from Saturday's run.
		{"Berlin 02:30 skips the spring change", "30 2 * * *", "Europe/Berlin", 47 * hour, 3 * 366 * day},
		// 01:30 exists every day; the autumn change makes one gap 25 hours.
		{"Berlin 01:30 across the autumn change", "30 1 * * *", "Europe/Berlin", 25 * hour, 3 * 366 * day},
		{"Berlin weekly Sunday 03:00 across the autumn change", "0 3 * * 0", "Europe/Berlin", 7*day + hour, 3 * 366 * day},
		{"New York weekdays", "0 1 * * 1-5", "America/New_York", 3*day + hour, 3 * 366 * day},
		{"fixed zone", "0 2 * * *", "Asia/Tokyo", day, 60 * day},
		{"TZ in the schedule wins", "CRON_TZ=Asia/Tokyo 0 2 * * *", "Europe/Berlin", day, 60 * day},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseCronJob(c.spec, c.tz)
			if err != nil {
				t.Fatalf("ParseCronJob(%q, %q): %v", c.spec, c.tz, err)
			}
			got, err := s.LongestGap()
			if err != nil || got != c.want {
				t.Fatalf("LongestGap(%q, %q) = %v, %v; want %v", c.spec, c.tz, got, err, c.want)
			}
			from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			if b := bruteGap(t, s, from, from.Add(c.span), 3_000_000); b != c.want {
				t.Errorf("brute force over %s: %v; LongestGap %v", c.span, b, c.want)
			}
		})
	}
	for _, spec := range []string{"0 0 2 * * *", "TZ=UTC", "61 * * * *", "", "0 3 * * 7"} {
		if _, err := ParseCronJob(spec, ""); err == nil {
			t.Errorf("ParseCronJob(%q) accepted", spec)
		}
	}
	// An unknown time zone: the controller ignores it and uses its own (UTC).
	s, err := ParseCronJob("0 2 * * *", "Mars/Olympus")
	if err != nil || s.Location() != time.UTC {
		t.Fatalf("unknown zone: %v, %v", s, err)
	}
}

// Bounded work: the most expensive schedules the grammar allows.
func BenchmarkLongestGap(b *testing.B) {
	for _, spec := range []string{"* * * * * *", "0 0 0 29 2 *", "0 0 * * * 1-5"} {
		b.Run(spec, func(b *testing.B) {
			s, err := ParseCNPG(spec)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.LongestGap(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("cronjob Berlin every minute weekdays", func(b *testing.B) {
		s, err := ParseCronJob("* * * * 1-5", "Europe/Berlin")
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.LongestGap(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
