//! The scanner: splits the input into timelib tokens and applies each rule's action to
//! the parsed state, exactly as `parse_date.re` does (quirks included).

use crate::grammar::{Rule, next_token};
use crate::zone::{ParsedZone, parse_zone};

/// A relative adjustment collected while scanning (`+1 week`, `next monday`, ...).
#[derive(Debug, Default, Clone)]
pub struct Relative {
    pub y: i64,
    pub m: i64,
    pub d: i64,
    pub h: i64,
    pub i: i64,
    pub s: i64,
    pub us: i64,
    pub weekday: i64,
    /// 0: strictly after today, 1: today counts, 2: within the current week.
    pub weekday_behavior: i64,
    pub have_weekday_relative: bool,
    pub first_last_day_of: FirstLast,
    pub special: Option<Special>,
}

/// `first day of` / `last day of`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum FirstLast {
    #[default]
    None,
    First,
    Last,
}

/// Special relative adjustments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `+3 weekdays`: business days.
    Weekday(i64),
    /// `first monday of`.
    DayOfWeekInMonth,
    /// `last monday of`.
    LastDayOfWeekInMonth,
}

/// Everything the scanner learnt; `None` fields are filled from "now" later.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub y: Option<i64>,
    pub m: Option<i64>,
    pub d: Option<i64>,
    pub h: Option<i64>,
    pub i: Option<i64>,
    pub s: Option<i64>,
    pub us: Option<i64>,
    pub zone: Option<ParsedZone>,
    pub have_time: u32,
    pub have_date: bool,
    pub have_zone: u32,
    pub have_relative: bool,
    pub rel: Relative,
}

/// Why the input was refused (timelib's error messages).
pub type ScanError = &'static str;

/// A cursor over one token, reading NUL past the end like timelib's C string helpers.
struct Tok<'a> {
    s: &'a [u8],
    p: usize,
}

impl Tok<'_> {
    fn at(&self) -> u8 {
        self.s.get(self.p).copied().unwrap_or(0)
    }
    fn peek(&self, k: usize) -> u8 {
        self.s.get(self.p + k).copied().unwrap_or(0)
    }
    fn bump(&mut self) {
        self.p += 1;
    }
    fn done(&self) -> bool {
        self.at() == 0
    }
    /// `timelib_get_nr_ex`: skip to the next digit, read at most `max` digits.
    fn nr_ex(&mut self, max: usize) -> Option<(i64, usize)> {
        while !self.at().is_ascii_digit() {
            if self.at() == 0 {
                return None;
            }
            self.bump();
        }
        let mut value: i64 = 0;
        let mut len = 0;
        while len < max && self.at().is_ascii_digit() {
            value = value.saturating_mul(10).saturating_add(i64::from(self.at() - b'0'));
            self.bump();
            len += 1;
        }
        Some((value, len))
    }
    fn nr(&mut self, max: usize) -> Option<i64> {
        self.nr_ex(max).map(|(v, _)| v)
    }
    /// `timelib_get_signed_nr`.
    fn signed_nr(&mut self, max: usize) -> Result<i64, ScanError> {
        while !self.at().is_ascii_digit() && self.at() != b'+' && self.at() != b'-' {
            if self.at() == 0 {
                return Err("Found unexpected data");
            }
            self.bump();
        }
        let mut dir: i128 = 1;
        while self.at() == b'+' || self.at() == b'-' {
            if self.at() == b'-' {
                dir = -dir;
            }
            self.bump();
        }
        while !self.at().is_ascii_digit() {
            if self.at() == 0 {
                return Err("Found unexpected data");
            }
            self.bump();
        }
        let mut value: i128 = 0;
        let mut len = 0;
        while len < max && self.at().is_ascii_digit() {
            value = value * 10 + i128::from(self.at() - b'0');
            self.bump();
            len += 1;
        }
        i64::try_from(dir * value).map_err(|_| "Number out of range")
    }
    /// `timelib_get_frac_nr`: `.5` is 500000 µs; digits beyond six are cut.
    fn frac_nr(&mut self) -> Option<i64> {
        while self.at() != b'.' && self.at() != b':' && !self.at().is_ascii_digit() {
            if self.at() == 0 {
                return None;
            }
            self.bump();
        }
        let begin = self.p;
        while self.at() == b'.' || self.at() == b':' || self.at().is_ascii_digit() {
            self.bump();
        }
        let digits = &self.s[(begin + 1).min(self.p)..self.p];
        let mut value: f64 = 0.0;
        for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
            value = value * 10.0 + f64::from(c - b'0');
        }
        let span = (self.p - begin) as i32;
        Some((value * 10f64.powi(7 - span)) as i64)
    }
    fn eat_spaces(&mut self) {
        while self.at() == b' ' || self.at() == b'\t' {
            self.bump();
        }
    }
    fn skip_day_suffix(&mut self) {
        if self.at().is_ascii_whitespace() {
            return;
        }
        let two = [self.at().to_ascii_lowercase(), self.peek(1).to_ascii_lowercase()];
        if matches!(&two, b"nd" | b"rd" | b"st" | b"th") {
            self.p += 2;
        }
    }
    fn word(&mut self, keep: impl Fn(u8) -> bool) -> &[u8] {
        let begin = self.p;
        while self.at() != 0 && keep(self.at()) {
            self.bump();
        }
        &self.s[begin..self.p]
    }
    /// `timelib_get_month`.
    fn month(&mut self) -> i64 {
        while matches!(self.at(), b' ' | b'\t' | b'-' | b'.' | b'/') {
            self.bump();
        }
        lookup_month(self.word(|c| c.is_ascii_alphabetic()))
    }
    /// `timelib_meridian`: the hour correction for am/pm.
    fn meridian(&mut self, h: i64) -> i64 {
        while !matches!(self.at(), b'A' | b'a' | b'P' | b'p') {
            if self.at() == 0 {
                return 0;
            }
            self.bump();
        }
        let correction = if matches!(self.at(), b'a' | b'A') {
            if h == 12 { -12 } else { 0 }
        } else if h != 12 {
            12
        } else {
            0
        };
        self.bump();
        if self.at() == b'.' {
            self.bump();
        }
        if matches!(self.at(), b'M' | b'm') {
            self.bump();
        }
        if self.at() == b'.' {
            self.bump();
        }
        correction
    }
    /// `timelib_get_relative_text`: `(amount, behavior)`.
    fn relative_text(&mut self) -> (i64, i64) {
        while matches!(self.at(), b' ' | b'\t' | b'-' | b'/') {
            self.bump();
        }
        let word = self.word(|c| c.is_ascii_alphabetic());
        lookup_reltext(word)
    }
    /// `timelib_lookup_relunit`.
    fn relunit(&mut self) -> Option<RelUnit> {
        let word = self.word(|c| !matches!(c, b' ' | b',' | b'\t' | b';' | b':' | b'/' | b'.' | b'-' | b'(' | b')'));
        lookup_relunit(word)
    }
}

fn lookup_month(word: &[u8]) -> i64 {
    const MONTHS: &[(&str, i64)] = &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("sept", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
        ("i", 1),
        ("ii", 2),
        ("iii", 3),
        ("iv", 4),
        ("v", 5),
        ("vi", 6),
        ("vii", 7),
        ("viii", 8),
        ("ix", 9),
        ("x", 10),
        ("xi", 11),
        ("xii", 12),
        ("january", 1),
        ("february", 2),
        ("march", 3),
        ("april", 4),
        ("june", 6),
        ("july", 7),
        ("august", 8),
        ("september", 9),
        ("october", 10),
        ("november", 11),
        ("december", 12),
    ];
    MONTHS.iter().find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(word)).map_or(0, |&(_, v)| v)
}

fn lookup_reltext(word: &[u8]) -> (i64, i64) {
    const RELTEXT: &[(&str, i64, i64)] = &[
        ("first", 0, 1),
        ("next", 0, 1),
        ("second", 0, 2),
        ("third", 0, 3),
        ("fourth", 0, 4),
        ("fifth", 0, 5),
        ("sixth", 0, 6),
        ("seventh", 0, 7),
        ("eight", 0, 8),
        ("eighth", 0, 8),
        ("ninth", 0, 9),
        ("tenth", 0, 10),
        ("eleventh", 0, 11),
        ("twelfth", 0, 12),
        ("last", 0, -1),
        ("previous", 0, -1),
        ("this", 1, 0),
    ];
    RELTEXT
        .iter()
        .find(|(name, _, _)| name.as_bytes().eq_ignore_ascii_case(word))
        .map_or((0, 1), |&(_, behavior, amount)| (amount, behavior))
}

#[derive(Debug, Clone, Copy)]
enum RelUnit {
    Micro(i64),
    Second(i64),
    Minute(i64),
    Hour(i64),
    Day(i64),
    Month(i64),
    Year(i64),
    Weekday(i64),
    SpecialWeekday,
}

fn lookup_relunit(word: &[u8]) -> Option<RelUnit> {
    use RelUnit::*;
    const UNITS: &[(&str, RelUnit)] = &[
        ("ms", Micro(1000)),
        ("msec", Micro(1000)),
        ("msecs", Micro(1000)),
        ("millisecond", Micro(1000)),
        ("milliseconds", Micro(1000)),
        ("µs", Micro(1)),
        ("usec", Micro(1)),
        ("usecs", Micro(1)),
        ("µsec", Micro(1)),
        ("µsecs", Micro(1)),
        ("microsecond", Micro(1)),
        ("microseconds", Micro(1)),
        ("sec", Second(1)),
        ("secs", Second(1)),
        ("second", Second(1)),
        ("seconds", Second(1)),
        ("min", Minute(1)),
        ("mins", Minute(1)),
        ("minute", Minute(1)),
        ("minutes", Minute(1)),
        ("hour", Hour(1)),
        ("hours", Hour(1)),
        ("day", Day(1)),
        ("days", Day(1)),
        ("week", Day(7)),
        ("weeks", Day(7)),
        ("fortnight", Day(14)),
        ("fortnights", Day(14)),
        ("forthnight", Day(14)),
        ("forthnights", Day(14)),
        ("month", Month(1)),
        ("months", Month(1)),
        ("year", Year(1)),
        ("years", Year(1)),
        ("mondays", Weekday(1)),
        ("monday", Weekday(1)),
        ("mon", Weekday(1)),
        ("tuesdays", Weekday(2)),
        ("tuesday", Weekday(2)),
        ("tue", Weekday(2)),
        ("wednesdays", Weekday(3)),
        ("wednesday", Weekday(3)),
        ("wed", Weekday(3)),
        ("thursdays", Weekday(4)),
        ("thursday", Weekday(4)),
        ("thu", Weekday(4)),
        ("fridays", Weekday(5)),
        ("friday", Weekday(5)),
        ("fri", Weekday(5)),
        ("saturdays", Weekday(6)),
        ("saturday", Weekday(6)),
        ("sat", Weekday(6)),
        ("sundays", Weekday(0)),
        ("sunday", Weekday(0)),
        ("sun", Weekday(0)),
        ("weekday", SpecialWeekday),
        ("weekdays", SpecialWeekday),
    ];
    let lower: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
    UNITS.iter().find(|(name, _)| name.as_bytes() == lower.as_slice()).map(|&(_, u)| u)
}

/// Whether relative time parts keep the clock (`+1 monday` does, `next monday` resets it).
#[derive(PartialEq, Eq)]
enum TimePart {
    Keep,
    DontKeep,
}

impl Parsed {
    fn have_time(&mut self) -> Result<(), ScanError> {
        if self.have_time > 0 {
            return Err("Double time specification");
        }
        self.have_time = 1;
        self.h = Some(0);
        self.i = Some(0);
        self.s = Some(0);
        self.us = Some(0);
        Ok(())
    }
    fn unhave_time(&mut self) {
        self.have_time = 0;
        self.h = Some(0);
        self.i = Some(0);
        self.s = Some(0);
        self.us = Some(0);
    }
    fn have_date(&mut self) -> Result<(), ScanError> {
        if self.have_date {
            return Err("Double date specification");
        }
        self.have_date = true;
        Ok(())
    }
    /// `TIMELIB_HAVE_TZ`: a second zone is ignored, a third is an error.
    fn have_tz(&mut self) -> Result<bool, ScanError> {
        if self.have_zone > 0 {
            self.have_zone += 1;
            return if self.have_zone > 2 { Err("Double timezone specification") } else { Ok(false) };
        }
        self.have_zone = 1;
        Ok(true)
    }

    /// `timelib_set_relative`.
    fn set_relative(&mut self, tok: &mut Tok<'_>, amount: i64, behavior: i64, part: TimePart) -> Result<(), ScanError> {
        let Some(unit) = tok.relunit() else {
            return Ok(());
        };
        let r = &mut self.rel;
        match unit {
            RelUnit::Micro(k) => r.us = add(r.us, amount, k)?,
            RelUnit::Second(k) => r.s = add(r.s, amount, k)?,
            RelUnit::Minute(k) => r.i = add(r.i, amount, k)?,
            RelUnit::Hour(k) => r.h = add(r.h, amount, k)?,
            RelUnit::Day(k) => r.d = add(r.d, amount, k)?,
            RelUnit::Month(k) => r.m = add(r.m, amount, k)?,
            RelUnit::Year(k) => r.y = add(r.y, amount, k)?,
            RelUnit::Weekday(wd) => {
                r.have_weekday_relative = true;
                r.d += (if amount > 0 { amount - 1 } else { amount }) * 7;
                r.weekday = wd;
                r.weekday_behavior = behavior;
                if part == TimePart::DontKeep {
                    self.unhave_time();
                }
            }
            RelUnit::SpecialWeekday => {
                r.special = Some(Special::Weekday(amount));
                if part == TimePart::DontKeep {
                    self.unhave_time();
                }
            }
        }
        Ok(())
    }

    fn zone_in_token(&mut self, tok: &mut Tok<'_>) -> Result<(), ScanError> {
        if !tok.done() {
            let (zone, rest) = parse_zone(&tok.s[tok.p..])?;
            tok.p += rest;
            self.zone = Some(zone);
        }
        Ok(())
    }

    fn apply(&mut self, rule: Rule, token: &[u8]) -> Result<(), ScanError> {
        let mut t = Tok { s: token, p: 0 };
        match rule {
            Rule::Yesterday => {
                self.have_relative = true;
                self.unhave_time();
                self.rel.d = -1;
            }
            Rule::Now => {}
            Rule::Noon => {
                self.unhave_time();
                self.have_time()?;
                self.h = Some(12);
            }
            Rule::MidnightToday => self.unhave_time(),
            Rule::Tomorrow => {
                self.have_relative = true;
                self.unhave_time();
                self.rel.d = 1;
            }
            Rule::Timestamp | Rule::TimestampMs => {
                self.have_relative = true;
                self.have_date = false;
                self.y = Some(1970);
                self.m = Some(1);
                self.d = Some(1);
                self.unhave_time();
                let fresh_zone = self.have_tz()?;
                let seconds = t.signed_nr(24)?;
                let negative = token.get(1) == Some(&b'-');
                let micros = if rule == Rule::TimestampMs {
                    let digits = token.iter().rposition(|&c| c == b'.').map_or(&token[0..0], |dot| &token[dot + 1..]);
                    let mut us: i64 = 0;
                    for (k, c) in digits.iter().enumerate().take(6) {
                        us += i64::from(c - b'0') * 10i64.pow(5 - k as u32);
                    }
                    if negative { -us } else { us }
                } else {
                    0
                };
                self.rel.s = add(self.rel.s, seconds, 1)?;
                self.rel.us += micros;
                if fresh_zone {
                    self.zone = Some(ParsedZone::Offset(0));
                }
            }
            Rule::FirstLastDayOf => {
                self.have_relative = true;
                self.rel.first_last_day_of =
                    if matches!(token[0], b'l' | b'L') { FirstLast::Last } else { FirstLast::First };
            }
            Rule::BackFrontOf => {
                self.unhave_time();
                self.have_time()?;
                let hour = t.nr(2).unwrap_or(0);
                if token[0] == b'b' {
                    self.h = Some(hour);
                    self.i = Some(15);
                } else {
                    self.h = Some(hour - 1);
                    self.i = Some(45);
                }
                if !t.done() {
                    t.eat_spaces();
                    let h = self.h.unwrap_or(0);
                    self.h = Some(h + t.meridian(h));
                }
            }
            Rule::WeekdayOf => {
                self.have_relative = true;
                let (amount, behavior) = t.relative_text();
                t.eat_spaces();
                if amount > 0 {
                    self.rel.special = Some(Special::DayOfWeekInMonth);
                    self.set_relative(&mut t, amount, 1, TimePart::DontKeep)?;
                } else {
                    self.rel.special = Some(Special::LastDayOfWeekInMonth);
                    self.set_relative(&mut t, amount, behavior, TimePart::DontKeep)?;
                }
            }
            Rule::Time12 => {
                self.have_time()?;
                self.h = t.nr(2);
                if matches!(t.at(), b':' | b'.') {
                    self.i = t.nr(2);
                    if matches!(t.at(), b':' | b'.') {
                        self.s = t.nr(2);
                    }
                }
                let h = self.h.unwrap_or(0);
                self.h = Some(h + t.meridian(h));
            }
            Rule::MssqlTime => {
                self.have_time()?;
                self.h = t.nr(2);
                self.i = t.nr(2);
                if matches!(t.at(), b':' | b'.') {
                    self.s = t.nr(2);
                    if matches!(t.at(), b':' | b'.') {
                        self.us = t.frac_nr();
                    }
                }
                t.eat_spaces();
                let h = self.h.unwrap_or(0);
                self.h = Some(h + t.meridian(h));
            }
            Rule::Time24 => {
                self.have_time()?;
                self.h = t.nr(2);
                if matches!(t.at(), b':' | b'.') {
                    self.i = t.nr(2);
                    if matches!(t.at(), b':' | b'.') {
                        self.s = t.nr(2);
                        if t.at() == b'.' {
                            self.us = t.frac_nr();
                        }
                    }
                }
                self.zone_in_token(&mut t)?;
            }
            Rule::GnuNoColon => match self.have_time {
                0 => {
                    self.h = t.nr(2);
                    self.i = t.nr(2);
                    self.s = Some(0);
                    self.have_time += 1;
                }
                1 => {
                    self.y = t.nr(4);
                    self.have_time += 1;
                }
                _ => return Err("Double time specification"),
            },
            Rule::Iso8601NoColon => {
                self.have_time()?;
                self.h = t.nr(2);
                self.i = t.nr(2);
                self.s = t.nr(2);
                self.zone_in_token(&mut t)?;
            }
            Rule::American => {
                self.have_date()?;
                self.m = t.nr(2);
                self.d = t.nr(2);
                if t.at() == b'/' {
                    self.y = process_year(t.nr_ex(4));
                }
            }
            Rule::Iso8601Date4 | Rule::Iso8601DateX => {
                self.have_date()?;
                let max = if rule == Rule::Iso8601DateX { 19 } else { 4 };
                self.y = Some(t.signed_nr(max)?);
                self.m = t.nr(2);
                self.d = t.nr(2);
            }
            Rule::Iso8601Date2 | Rule::GnuDateShort | Rule::GnuDateShorter => {
                self.have_date()?;
                let y = t.nr_ex(4);
                self.m = t.nr(2);
                self.d = if rule == Rule::GnuDateShorter { Some(1) } else { t.nr(2) };
                self.y = process_year(y);
            }
            Rule::DateFull => {
                self.have_date()?;
                self.d = t.nr(2);
                t.skip_day_suffix();
                self.m = Some(t.month());
                self.y = process_year(t.nr_ex(4));
            }
            Rule::PointedDate4 => {
                self.have_date()?;
                self.d = t.nr(2);
                self.m = t.nr(2);
                self.y = t.nr(4);
            }
            Rule::PointedDate2 => {
                self.have_date()?;
                self.d = t.nr(2);
                self.m = t.nr(2);
                self.y = process_year(t.nr_ex(2));
            }
            Rule::DateNoDay => {
                self.have_date()?;
                self.m = Some(t.month());
                self.y = process_year(t.nr_ex(4));
                self.d = Some(1);
            }
            Rule::DateNoDayRev => {
                self.have_date()?;
                let y = t.nr_ex(4);
                self.m = Some(t.month());
                self.d = Some(1);
                self.y = process_year(y);
            }
            Rule::DateTextual | Rule::PgTextShort => {
                self.have_date()?;
                self.m = Some(t.month());
                self.d = t.nr(2);
                self.y = process_year(t.nr_ex(4));
            }
            Rule::DateNoYearRev => {
                self.have_date()?;
                self.d = t.nr(2);
                t.skip_day_suffix();
                self.m = Some(t.month());
            }
            Rule::DateNoColon => {
                self.have_date()?;
                self.y = t.nr(4);
                self.m = t.nr(2);
                self.d = t.nr(2);
            }
            Rule::XmlRpc => {
                self.have_time()?;
                self.have_date()?;
                self.y = t.nr(4);
                self.m = t.nr(2);
                self.d = t.nr(2);
                self.h = t.nr(2);
                self.i = t.nr(2);
                self.s = t.nr(2);
                if t.at() == b'.' {
                    self.us = t.frac_nr();
                    self.zone_in_token(&mut t)?;
                }
            }
            Rule::PgYdotd => {
                self.have_date()?;
                let y = t.nr_ex(4);
                self.d = t.nr(3);
                self.m = Some(1);
                self.y = process_year(y);
            }
            Rule::IsoWeekDay | Rule::IsoWeek => {
                self.have_date()?;
                self.have_relative = true;
                let y = t.nr(4).unwrap_or(0);
                let w = t.nr(2).unwrap_or(0);
                let d = if rule == Rule::IsoWeekDay { t.nr(1).unwrap_or(0) } else { 1 };
                self.y = Some(y);
                self.m = Some(1);
                self.d = Some(1);
                self.rel.d = daynr_from_weeknr(y, w, d);
            }
            Rule::PgTextReverse => {
                self.have_date()?;
                let y = t.nr_ex(4);
                self.m = Some(t.month());
                self.d = t.nr(2);
                self.y = process_year(y);
            }
            Rule::Clf => {
                self.have_time()?;
                self.have_date()?;
                self.d = t.nr(2);
                self.m = Some(t.month());
                self.y = t.nr(4);
                self.h = t.nr(2);
                self.i = t.nr(2);
                self.s = t.nr(2);
                t.eat_spaces();
                let (zone, _) = parse_zone(&t.s[t.p..])?;
                self.zone = Some(zone);
            }
            Rule::Year4 => self.y = t.nr(4),
            Rule::Ago => {
                let r = &mut self.rel;
                r.y = -r.y;
                r.m = -r.m;
                r.d = -r.d;
                r.h = -r.h;
                r.i = -r.i;
                r.s = -r.s;
                r.weekday = -r.weekday;
                if r.weekday == 0 {
                    r.weekday = -7;
                }
                if let Some(Special::Weekday(n)) = r.special {
                    r.special = Some(Special::Weekday(-n));
                }
            }
            Rule::DayText => {
                self.have_relative = true;
                self.rel.have_weekday_relative = true;
                self.unhave_time();
                self.rel.weekday = match t.relunit() {
                    Some(RelUnit::Weekday(wd)) => wd,
                    // TIMELIB_SPECIAL_WEEKDAY's multiplier is 1: a bare "weekday" means Monday.
                    _ => 1,
                };
                if self.rel.weekday_behavior != 2 {
                    self.rel.weekday_behavior = 1;
                }
            }
            Rule::RelativeTextWeek => {
                self.have_relative = true;
                while !t.done() {
                    let (amount, behavior) = t.relative_text();
                    t.eat_spaces();
                    self.set_relative(&mut t, amount, behavior, TimePart::DontKeep)?;
                    self.rel.weekday_behavior = 2;
                    // "next week" alone means Monday-based week arithmetic on today's weekday.
                    if !self.rel.have_weekday_relative {
                        self.rel.have_weekday_relative = true;
                        self.rel.weekday = 1;
                    }
                }
            }
            Rule::RelativeText => {
                self.have_relative = true;
                while !t.done() {
                    let (amount, behavior) = t.relative_text();
                    t.eat_spaces();
                    self.set_relative(&mut t, amount, behavior, TimePart::DontKeep)?;
                }
            }
            Rule::MonthText => {
                self.have_date()?;
                self.m = Some(lookup_month(token));
            }
            Rule::Timezone => {
                if self.have_tz()? {
                    let (zone, _) = parse_zone(token)?;
                    self.zone = Some(zone);
                }
            }
            Rule::DateShortWithTime12 | Rule::DateShortWithTime24 => {
                self.have_date()?;
                self.m = Some(t.month());
                self.d = t.nr(2);
                self.have_time()?;
                self.h = t.nr(2);
                self.i = t.nr(2);
                if rule == Rule::DateShortWithTime12 {
                    if matches!(t.at(), b':' | b'.') {
                        self.s = t.nr(2);
                        if t.at() == b'.' {
                            self.us = t.frac_nr();
                        }
                    }
                    let h = self.h.unwrap_or(0);
                    self.h = Some(h + t.meridian(h));
                } else {
                    if t.at() == b':' {
                        self.s = t.nr(2);
                        if t.at() == b'.' {
                            self.us = t.frac_nr();
                        }
                    }
                    self.zone_in_token(&mut t)?;
                }
            }
            Rule::Relative => {
                self.have_relative = true;
                while !t.done() {
                    let amount = t.signed_nr(24)?;
                    t.eat_spaces();
                    self.set_relative(&mut t, amount, 1, TimePart::Keep)?;
                }
            }
        }
        Ok(())
    }
}

/// `acc + amount * unit`, refusing overflow like timelib's "Number out of range".
fn add(acc: i64, amount: i64, unit: i64) -> Result<i64, ScanError> {
    amount.checked_mul(unit).and_then(|v| acc.checked_add(v)).ok_or("Number out of range")
}

/// `TIMELIB_PROCESS_YEAR`: two-digit years pivot at 70.
fn process_year(year: Option<(i64, usize)>) -> Option<i64> {
    year.map(|(y, len)| {
        if len >= 4 {
            y
        } else if y < 70 {
            y + 2000
        } else {
            y + 1900
        }
    })
}

/// `timelib_daynr_from_weeknr`: days from Jan 1 to ISO week `w` day `d`.
fn daynr_from_weeknr(y: i64, w: i64, d: i64) -> i64 {
    let dow = crate::calendar::day_of_week(y, 1, 1);
    let day = -(if dow > 4 { dow - 7 } else { dow });
    day + (w - 1) * 7 + d
}

/// Scan a whole input string (already trimmed) into a [`Parsed`] state.
pub fn scan(input: &[u8]) -> Result<Parsed, ScanError> {
    let mut parsed = Parsed::default();
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        match next_token(rest) {
            Some((rule, len)) => {
                // A token may swallow timelib's terminating NUL; the action never sees it.
                let token = &rest[..len.min(rest.len())];
                parsed.apply(rule, token)?;
                pos += len;
            }
            None if matches!(rest[0], b' ' | b'.' | b',' | b'\t' | b'\n') => pos += 1,
            None => return Err("Unexpected character"),
        }
    }
    Ok(parsed)
}
