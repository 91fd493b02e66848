package rating

import "time"

// Period is a billing period: [Start, End) in UTC, both at midnight.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t falls in p.
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// PeriodAt returns the period of a subscription that started on start (and
// ends on end, if not nil) that contains t; false when t is outside the
// subscription. Calendar-month plans have periods from the 1st to the 1st
// (the first one from the start date, the last to the end date); validity
// plans have periods of their number of days from the start date.
func (p *Plan) PeriodAt(start time.Time, end *time.Time, t time.Time) (Period, bool) {
	start = day(start)
	t = t.UTC()
	if t.Before(start) || (end != nil && !t.Before(day(*end))) {
		return Period{}, false
	}
	var per Period
	if p.periodDays == 0 {
		y, m, _ := t.Date()
		per = Period{time.Date(y, m, 1, 0, 0, 0, 0, time.UTC), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)}
	} else {
		n := int(t.Sub(start) / (24 * time.Hour) / time.Duration(p.periodDays))
		s := start.AddDate(0, 0, n*p.periodDays)
		per = Period{s, s.AddDate(0, 0, p.periodDays)}
	}
	if per.Start.Before(start) {
		per.Start = start
	}
	if end != nil && per.End.After(day(*end)) {
		per.End = day(*end)
	}
	return per, true
}

// PeriodsBetween returns the subscription's periods that overlap [from, to),
// in order.
func (p *Plan) PeriodsBetween(start time.Time, end *time.Time, from, to time.Time) []Period {
	var out []Period
	if from.Before(day(start)) {
		from = day(start)
	}
	for t := from; t.Before(to); {
		per, ok := p.PeriodAt(start, end, t)
		if !ok {
			break
		}
		out = append(out, per)
		t = per.End
	}
	return out
}
