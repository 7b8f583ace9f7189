//! From parsed fields to a timestamp: fill the holes from "now", apply the relative parts in
//! timelib's order (`timelib_fill_holes`, `timelib_update_ts`), then the zone.

use crate::calendar::{civil_from_days, day_of_week, days_from_civil, normalize_month};
use crate::scan::{FirstLast, Parsed, Special};
use crate::zone::ParsedZone;

/// Broken-down wall-clock fields; any of them may be out of range until normalized.
#[derive(Debug, Clone, Copy)]
struct Fields {
    y: i64,
    m: i64,
    d: i64,
    h: i64,
    i: i64,
    s: i64,
    us: i64,
}

impl Fields {
    /// `timelib_do_normalize`: carry each field into the next larger one.
    fn normalize(&mut self) -> Result<(), ResolveError> {
        // Far beyond any real date; keeps the calendar arithmetic inside i64.
        const LIMIT: i64 = 1 << 40;
        if [self.y, self.m, self.d].iter().any(|v| v.abs() > LIMIT)
            || [self.h, self.i].iter().any(|v| v.abs() > LIMIT * 1000)
        {
            return Err("date out of range");
        }
        self.s += self.us.div_euclid(1_000_000);
        self.us = self.us.rem_euclid(1_000_000);
        self.i += self.s.div_euclid(60);
        self.s = self.s.rem_euclid(60);
        self.h += self.i.div_euclid(60);
        self.i = self.i.rem_euclid(60);
        self.d += self.h.div_euclid(24);
        self.h = self.h.rem_euclid(24);
        let (y, m) = normalize_month(self.y, self.m);
        let (y, m, d) = civil_from_days(days_from_civil(y, m, 1) + self.d - 1);
        (self.y, self.m, self.d) = (y, m, d);
        Ok(())
    }

    fn from_local_seconds(local: i64) -> Fields {
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let rest = local.rem_euclid(86_400);
        Fields { y, m, d, h: rest / 3600, i: rest / 60 % 60, s: rest % 60, us: 0 }
    }
}

/// Errors from resolution (the date is out of the representable range).
pub type ResolveError = &'static str;

/// Resolve `parsed` against `now_unix` (seconds) in `default_zone`; returns `(seconds, micros)`.
pub fn resolve(parsed: &Parsed, now_unix: i64, default_zone: ParsedZone) -> Result<(i64, i64), ResolveError> {
    let now_offset = default_zone.offset_at_utc(now_unix).ok_or("now is out of range")?;
    let now = Fields::from_local_seconds(now_unix.saturating_add(now_offset));

    // timelib_fill_holes, without TIMELIB_OVERRIDE_TIME.
    let mut p = parsed.clone();
    if p.have_date && p.have_time == 0 {
        p.h = Some(0);
        p.i = Some(0);
        p.s = Some(0);
        p.us = Some(0);
    }
    let any_set = [p.y, p.m, p.d, p.h, p.i, p.s].iter().any(Option::is_some);
    let or_now = |v: Option<i64>, now: i64| v.unwrap_or(now);
    let mut t = Fields {
        y: or_now(p.y, now.y),
        m: or_now(p.m, now.m),
        d: or_now(p.d, now.d),
        h: or_now(p.h, now.h),
        i: or_now(p.i, now.i),
        s: or_now(p.s, now.s),
        us: or_now(p.us, if any_set { 0 } else { now.us }),
    };
    let zone = p.zone.unwrap_or(default_zone);
    let mut rel = p.rel.clone();

    // do_adjust_special_early
    match rel.special {
        Some(Special::DayOfWeekInMonth) => {
            t.d = 1;
            t.m = t.m.saturating_add(rel.m);
            rel.m = 0;
        }
        Some(Special::LastDayOfWeekInMonth) => {
            t.d = 1;
            t.m = t.m.saturating_add(rel.m).saturating_add(1);
            rel.m = 0;
        }
        _ => {}
    }
    // timelib applies "first/last day of" here, before the weekday is resolved, and again
    // after the relative parts are added (so "last day of next month" lands in that month).
    apply_first_last(&mut t, rel.first_last_day_of);
    t.normalize()?;

    // do_adjust_relative
    if rel.have_weekday_relative {
        adjust_for_weekday(&mut t, &mut rel);
    }
    t.normalize()?;
    if p.have_relative {
        t.us = t.us.saturating_add(rel.us);
        t.s = t.s.saturating_add(rel.s);
        t.i = t.i.saturating_add(rel.i);
        t.h = t.h.saturating_add(rel.h);
        t.d = t.d.saturating_add(rel.d);
        t.m = t.m.saturating_add(rel.m);
        t.y = t.y.saturating_add(rel.y);
    }
    apply_first_last(&mut t, rel.first_last_day_of);
    t.normalize()?;

    // do_adjust_special
    if let Some(Special::Weekday(count)) = rel.special {
        adjust_special_weekday(&mut t, count);
    }
    t.normalize()?;

    let local = i128::from(days_from_civil(t.y, t.m, t.d)) * 86_400 + i128::from(t.h * 3600 + t.i * 60 + t.s);
    let local = i64::try_from(local).map_err(|_| "date out of range")?;
    let offset = zone.offset_at_local(local).ok_or("date out of range for the time zone")?;
    let seconds = local.checked_sub(offset).ok_or("date out of range")?;
    Ok((seconds, t.us))
}

/// `first day of` sets the day to 1; `last day of` to day 0 of the next month.
fn apply_first_last(t: &mut Fields, which: FirstLast) {
    match which {
        FirstLast::First => t.d = 1,
        FirstLast::Last => {
            t.d = 0;
            t.m += 1;
        }
        FirstLast::None => {}
    }
}

/// `do_adjust_for_weekday`.
fn adjust_for_weekday(t: &mut Fields, rel: &mut crate::scan::Relative) {
    let current_dow = day_of_week(t.y, t.m, t.d);
    if rel.weekday_behavior == 2 {
        // "this week": weeks run Monday..Sunday.
        if current_dow == 0 && rel.weekday != 0 {
            rel.weekday -= 7;
        }
        if rel.weekday == 0 && current_dow != 0 {
            rel.weekday = 7;
        }
        t.d -= current_dow;
        t.d += rel.weekday;
        return;
    }
    let mut difference = rel.weekday - current_dow;
    if (rel.d < 0 && difference < 0) || (rel.d >= 0 && difference <= -rel.weekday_behavior) {
        difference += 7;
    }
    if rel.weekday >= 0 {
        t.d += difference;
    } else {
        t.d -= 7 - (rel.weekday.abs() - current_dow);
    }
    rel.have_weekday_relative = false;
}

/// `+N weekdays`: move over Monday..Friday only.
fn adjust_special_weekday(t: &mut Fields, count: i64) {
    let dow = day_of_week(t.y, t.m, t.d);
    if count == 0 {
        match dow {
            6 => t.d += 2,
            0 => t.d += 1,
            _ => {}
        }
        return;
    }
    let step = count.signum();
    let mut remaining = count.abs();
    let mut dow = dow;
    // Whole weeks first, so huge counts stay cheap.
    t.d += (remaining / 5) * 7 * step;
    remaining %= 5;
    if remaining == 0 && (dow == 0 || dow == 6) {
        // Landing on a weekend after whole weeks: step to the nearest weekday in the direction.
        while dow == 0 || dow == 6 {
            t.d += step;
            dow = (dow + step).rem_euclid(7);
        }
        if step > 0 {
            t.d -= 1;
            dow = (dow - 1).rem_euclid(7);
            if dow == 0 || dow == 6 {
                t.d -= if dow == 0 { 2 } else { 1 };
            }
        }
        return;
    }
    while remaining > 0 {
        t.d += step;
        dow = (dow + step).rem_euclid(7);
        if dow != 0 && dow != 6 {
            remaining -= 1;
        }
    }
}
