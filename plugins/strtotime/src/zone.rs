//! Time zones: offsets (`+02:00`), abbreviations (`EST`, PHP's table) and IANA names.

use chrono::{NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::abbreviations::ABBREVIATIONS;
use crate::scan::ScanError;

/// A zone written in the input or chosen in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedZone {
    /// A fixed offset east of UTC, in seconds (`+0200`, `EST`).
    Offset(i64),
    /// An IANA zone (`Europe/Amsterdam`), whose offset depends on the date.
    Named(Tz),
}

/// Longest abbreviation timelib looks up (`MAX_ABBR_LEN`).
const MAX_ABBR_LEN: usize = 6;

impl ParsedZone {
    /// Parse the `timezone` config value: an IANA name, `UTC`, an abbreviation or an offset.
    pub fn from_config(text: &str) -> Option<ParsedZone> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("UTC") || text == "Z" {
            return Some(ParsedZone::Offset(0));
        }
        if let Some(tz) = named(text) {
            return Some(ParsedZone::Named(tz));
        }
        match parse_zone(text.as_bytes()) {
            Ok((zone, used)) if used == text.len() => Some(zone),
            _ => None,
        }
    }

    /// Seconds east of UTC in force at the local wall time `local` (seconds since the epoch,
    /// read as a wall clock). Gaps resolve with the offset before the change, like PHP.
    pub fn offset_at_local(self, local: i64) -> Option<i64> {
        match self {
            ParsedZone::Offset(o) => Some(o),
            ParsedZone::Named(tz) => {
                let naive = NaiveDateTime::from_timestamp_opt_compat(local)?;
                match tz.offset_from_local_datetime(&naive) {
                    chrono::LocalResult::Single(o) => Some(i64::from(o.fix().local_minus_utc())),
                    chrono::LocalResult::Ambiguous(earlier, _) => Some(i64::from(earlier.fix().local_minus_utc())),
                    chrono::LocalResult::None => {
                        let before = NaiveDateTime::from_timestamp_opt_compat(local - 86_400)?;
                        Some(i64::from(tz.offset_from_utc_datetime(&before).fix().local_minus_utc()))
                    }
                }
            }
        }
    }

    /// Seconds east of UTC at the instant `utc` (unix seconds).
    pub fn offset_at_utc(self, utc: i64) -> Option<i64> {
        match self {
            ParsedZone::Offset(o) => Some(o),
            ParsedZone::Named(tz) => {
                let naive = NaiveDateTime::from_timestamp_opt_compat(utc)?;
                Some(i64::from(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc()))
            }
        }
    }
}

trait FromTimestampCompat: Sized {
    fn from_timestamp_opt_compat(secs: i64) -> Option<Self>;
}

impl FromTimestampCompat for NaiveDateTime {
    fn from_timestamp_opt_compat(secs: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc())
    }
}

fn named(name: &str) -> Option<Tz> {
    if name.is_empty() {
        return None;
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS.iter().copied().find(|tz| tz.name().eq_ignore_ascii_case(name))
}

fn abbreviation(word: &[u8]) -> Option<i64> {
    if word.len() > MAX_ABBR_LEN || word.is_empty() {
        return None;
    }
    let lower: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
    ABBREVIATIONS.binary_search_by(|(name, _)| name.as_bytes().cmp(&lower)).ok().map(|i| ABBREVIATIONS[i].1)
}

/// `timelib_parse_zone`: returns the zone and the bytes consumed.
pub fn parse_zone(s: &[u8]) -> Result<(ParsedZone, usize), ScanError> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut p = 0;
    while matches!(at(p), b' ' | b'\t' | b'(') {
        p += 1;
    }
    if s[p.min(s.len())..].starts_with(b"GMT") && matches!(at(p + 3), b'+' | b'-') {
        p += 3;
    }
    let zone = if matches!(at(p), b'+' | b'-') {
        let negative = at(p) == b'-';
        p += 1;
        let begin = p;
        while at(p).is_ascii_digit() || at(p) == b':' {
            p += 1;
        }
        let offset = tz_correction(&s[begin..p]).ok_or("The timezone could not be found in the database")?;
        ParsedZone::Offset(if negative { -offset } else { offset })
    } else {
        let begin = p;
        while at(p).is_ascii_alphanumeric() || matches!(at(p), b'/' | b'_' | b'-' | b'+') {
            p += 1;
        }
        let word = &s[begin..p];
        let text = std::str::from_utf8(word).unwrap_or("");
        match abbreviation(word) {
            Some(_) if text == "UTC" => ParsedZone::Offset(0),
            Some(offset) => ParsedZone::Offset(offset),
            None => ParsedZone::Named(named(text).ok_or("The timezone could not be found in the database")?),
        }
    };
    while at(p) == b')' {
        p += 1;
    }
    Ok((zone, p))
}

/// `timelib_parse_tz_cor`: `H`, `HH`, `H:MM`, `HHMM`, `HH:MM`, `HHMMSS`, `HH:MM:SS`.
fn tz_correction(d: &[u8]) -> Option<i64> {
    let num = |b: &[u8]| -> i64 {
        b.iter().take_while(|c| c.is_ascii_digit()).fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'))
    };
    let hour = |h: i64| h * 3600;
    match d.len() {
        1 | 2 => Some(hour(num(d))),
        3 | 4 => {
            if d[1] == b':' {
                Some(hour(num(d)) + num(&d[2..]) * 60)
            } else if d[2] == b':' {
                Some(hour(num(d)) + num(&d[3..]) * 60)
            } else {
                let t = num(d);
                Some(hour(t / 100) + t % 100 * 60)
            }
        }
        5 if d[2] == b':' => Some(hour(num(d)) + num(&d[3..]) * 60),
        6 => {
            let t = num(d);
            Some(hour(t / 10000) + (t / 100 % 100) * 60 + t % 100)
        }
        8 if d[2] == b':' && d[5] == b':' => Some(hour(num(d)) + num(&d[3..]) * 60 + num(&d[6..])),
        _ => None,
    }
}
