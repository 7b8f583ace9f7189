//! timelib's scanner rules (`parse_date.re`), transcribed as `const` patterns.
//! Names follow timelib's so the two can be read side by side.

use crate::pattern::P::{self, Class, Lit, LitCi, Opt, Rep, Star};
use crate::pattern::{ByteSet, alt, seq};

const fn cls(bytes: &[u8]) -> P {
    Class(ByteSet::of(bytes))
}
const fn rng(lo: u8, hi: u8) -> P {
    Class(ByteSet::range(lo, hi))
}
const ALPHA: P = Class(ByteSet::range(b'a', b'z').union(ByteSet::range(b'A', b'Z')));

const D: P = rng(b'0', b'9');
const D01: P = cls(b"01");
const D02: P = rng(b'0', b'2');
const D04: P = rng(b'0', b'4');
const D05: P = rng(b'0', b'5');
const D07: P = rng(b'0', b'7');
const D12: P = cls(b"12");
const D19: P = rng(b'1', b'9');
const D06: P = rng(b'0', b'6');
const D03: P = rng(b'0', b'3');
const D14: P = rng(b'1', b'4');

/// `space = [ \t]+`
pub const SPACE: P = seq(&[cls(b" \t"), Star(&cls(b" \t"))]);
const SPACE_OPT: P = Star(&cls(b" \t"));
/// `frac = "."[0-9]+`
const FRAC: P = seq(&[Lit("."), D, Star(&D)]);

const HOUR24: P = alt(&[seq(&[Opt(&D01), D]), seq(&[Lit("2"), D04])]);
const HOUR24LZ: P = alt(&[seq(&[D01, D]), seq(&[Lit("2"), D04])]);
const HOUR12: P = alt(&[seq(&[Opt(&Lit("0")), D19]), seq(&[Lit("1"), D02])]);
const MINUTE: P = seq(&[Opt(&D05), D]);
const MINUTELZ: P = seq(&[D05, D]);
const SECOND: P = alt(&[MINUTE, Lit("60")]);
const SECONDLZ: P = alt(&[MINUTELZ, Lit("60")]);
const MERIDIAN: P = seq(&[cls(b"AaPp"), Opt(&Lit(".")), cls(b"Mm"), Opt(&Lit(".")), cls(b"\0\t ")]);
/// `tz = "("? [A-Za-z]{1,6} ")"? | [A-Z][a-z]+([_/-][A-Za-z]+)+`
pub const TZ: P = alt(&[
    seq(&[Opt(&Lit("(")), Rep(1, 6, &ALPHA), Opt(&Lit(")"))]),
    seq(&[
        rng(b'A', b'Z'),
        rng(b'a', b'z'),
        Star(&rng(b'a', b'z')),
        seq(&[cls(b"_/-"), ALPHA, Star(&ALPHA)]),
        Star(&seq(&[cls(b"_/-"), ALPHA, Star(&ALPHA)])),
    ]),
]);
/// `tzcorrection = "GMT"? [+-] ((hour24 (":"? minute)?) | (hour24lz minutelz secondlz) | (hour24lz ":" minutelz ":" secondlz))`
pub const TZCORRECTION: P = seq(&[
    Opt(&Lit("GMT")),
    cls(b"+-"),
    alt(&[
        seq(&[HOUR24, Opt(&seq(&[Opt(&Lit(":")), MINUTE]))]),
        seq(&[HOUR24LZ, MINUTELZ, SECONDLZ]),
        seq(&[HOUR24LZ, Lit(":"), MINUTELZ, Lit(":"), SECONDLZ]),
    ]),
]);

const DAYSUF: P = alt(&[Lit("st"), Lit("nd"), Lit("rd"), Lit("th")]);
const MONTH: P = alt(&[seq(&[Opt(&Lit("0")), D]), seq(&[Lit("1"), D02])]);
const DAY: P = seq(&[alt(&[seq(&[Opt(&D02), D]), seq(&[Lit("3"), D01])]), Opt(&DAYSUF)]);
const YEAR: P = Rep(1, 4, &D);
const YEAR2: P = Rep(2, 2, &D);
const YEAR4: P = Rep(4, 4, &D);
const YEAR4WITHSIGN: P = seq(&[Opt(&cls(b"+-")), YEAR4]);
const YEARX: P = seq(&[cls(b"+-"), Rep(5, 19, &D)]);
const DAYOFYEAR: P = alt(&[
    seq(&[Lit("00"), D19]),
    seq(&[Lit("0"), D19, D]),
    seq(&[D12, D, D]),
    seq(&[Lit("3"), D05, D]),
    seq(&[Lit("36"), D06]),
]);
const WEEKOFYEAR: P = alt(&[seq(&[Lit("0"), D19]), seq(&[D14, D]), seq(&[Lit("5"), D03])]);
const MONTHLZ: P = alt(&[seq(&[Lit("0"), D]), seq(&[Lit("1"), D02])]);
const DAYLZ: P = alt(&[seq(&[Lit("0"), D]), seq(&[D12, D]), seq(&[Lit("3"), D01])]);

const DAYFULLS: P = alt(&[
    LitCi("sundays"),
    LitCi("mondays"),
    LitCi("tuesdays"),
    LitCi("wednesdays"),
    LitCi("thursdays"),
    LitCi("fridays"),
    LitCi("saturdays"),
]);
const DAYFULL: P = alt(&[
    LitCi("sunday"),
    LitCi("monday"),
    LitCi("tuesday"),
    LitCi("wednesday"),
    LitCi("thursday"),
    LitCi("friday"),
    LitCi("saturday"),
]);
const DAYABBR: P =
    alt(&[LitCi("sun"), LitCi("mon"), LitCi("tue"), LitCi("wed"), LitCi("thu"), LitCi("fri"), LitCi("sat")]);
const DAYSPECIAL: P = alt(&[LitCi("weekday"), LitCi("weekdays")]);
/// `daytext = dayfulls | dayfull | dayabbr | dayspecial`
pub const DAYTEXT: P = alt(&[DAYFULLS, DAYFULL, DAYABBR, DAYSPECIAL]);

const MONTHFULL: P = alt(&[
    LitCi("january"),
    LitCi("february"),
    LitCi("march"),
    LitCi("april"),
    LitCi("may"),
    LitCi("june"),
    LitCi("july"),
    LitCi("august"),
    LitCi("september"),
    LitCi("october"),
    LitCi("november"),
    LitCi("december"),
]);
const MONTHABBR: P = alt(&[
    LitCi("jan"),
    LitCi("feb"),
    LitCi("mar"),
    LitCi("apr"),
    LitCi("may"),
    LitCi("jun"),
    LitCi("jul"),
    LitCi("aug"),
    LitCi("sep"),
    LitCi("sept"),
    LitCi("oct"),
    LitCi("nov"),
    LitCi("dec"),
]);
const MONTHROMAN: P = alt(&[
    Lit("I"),
    Lit("II"),
    Lit("III"),
    Lit("IV"),
    Lit("V"),
    Lit("VI"),
    Lit("VII"),
    Lit("VIII"),
    Lit("IX"),
    Lit("X"),
    Lit("XI"),
    Lit("XII"),
]);
const MONTHTEXT: P = alt(&[MONTHFULL, MONTHABBR, MONTHROMAN]);

// Time formats.
const TIMETINY12: P = seq(&[HOUR12, SPACE_OPT, MERIDIAN]);
const TIMESHORT12: P = seq(&[HOUR12, cls(b":."), MINUTE, SPACE_OPT, MERIDIAN]);
const TIMELONG12: P = seq(&[HOUR12, cls(b":."), MINUTE, cls(b":."), SECOND, SPACE_OPT, MERIDIAN]);
const T_OPT: P = Opt(&LitCi("t"));
const COLON_DOT: P = cls(b":.");
const TIMETINY24: P = seq(&[LitCi("t"), HOUR24]);
const TIMESHORT24: P = seq(&[T_OPT, HOUR24, COLON_DOT, MINUTE]);
const TIMELONG24: P = seq(&[T_OPT, HOUR24, COLON_DOT, MINUTE, COLON_DOT, SECOND]);
const ISO8601LONG: P = seq(&[T_OPT, HOUR24, COLON_DOT, MINUTE, COLON_DOT, SECOND, FRAC]);
const ISO8601NORMTZ: P =
    seq(&[T_OPT, HOUR24, COLON_DOT, MINUTE, COLON_DOT, SECONDLZ, SPACE_OPT, alt(&[TZCORRECTION, TZ])]);
const GNUNOCOLON: P = seq(&[T_OPT, HOUR24LZ, MINUTELZ]);
const ISO8601NOCOLON: P = seq(&[T_OPT, HOUR24LZ, MINUTELZ, SECONDLZ]);

// Date formats.
const AMERICANSHORT: P = seq(&[MONTH, Lit("/"), DAY]);
const AMERICAN: P = seq(&[MONTH, Lit("/"), DAY, Lit("/"), YEAR]);
const ISO8601DATESLASH: P = seq(&[YEAR4, Lit("/"), MONTHLZ, Lit("/"), DAYLZ, Opt(&Lit("/"))]);
const DATESLASH: P = seq(&[YEAR4, Lit("/"), MONTH, Lit("/"), DAY]);
const ISO8601DATE4: P = seq(&[YEAR4WITHSIGN, Lit("-"), MONTHLZ, Lit("-"), DAYLZ]);
const ISO8601DATE2: P = seq(&[YEAR2, Lit("-"), MONTHLZ, Lit("-"), DAYLZ]);
const ISO8601DATEX: P = seq(&[YEARX, Lit("-"), MONTHLZ, Lit("-"), DAYLZ]);
const GNUDATESHORTER: P = seq(&[YEAR4, Lit("-"), MONTH]);
const GNUDATESHORT: P = seq(&[YEAR, Lit("-"), MONTH, Lit("-"), DAY]);
const POINTED_DATE4: P = seq(&[DAY, cls(b".\t-"), MONTH, cls(b".-"), YEAR4]);
const POINTED_DATE2: P = seq(&[DAY, cls(b".\t"), MONTH, Lit("."), YEAR2]);
const SEP_SPACE_DOT_DASH: P = Star(&cls(b" \t.-"));
const DATEFULL: P = seq(&[DAY, SEP_SPACE_DOT_DASH, MONTHTEXT, SEP_SPACE_DOT_DASH, YEAR]);
const DATENODAY: P = seq(&[MONTHTEXT, SEP_SPACE_DOT_DASH, YEAR4]);
const DATENODAYREV: P = seq(&[YEAR4, SEP_SPACE_DOT_DASH, MONTHTEXT]);
const TEXTUAL_SEP: P = Star(&cls(b",.stndrh\t "));
const TEXTUAL_SEP1: P = seq(&[cls(b",.stndrh\t "), TEXTUAL_SEP]);
const DATETEXTUAL: P = seq(&[MONTHTEXT, SEP_SPACE_DOT_DASH, DAY, TEXTUAL_SEP1, YEAR]);
const DATENOYEAR: P = seq(&[MONTHTEXT, SEP_SPACE_DOT_DASH, DAY, alt(&[TEXTUAL_SEP1, cls(b"\0")])]);
const DATENOYEARREV: P = seq(&[DAY, SEP_SPACE_DOT_DASH, MONTHTEXT]);
const DATENOCOLON: P = seq(&[YEAR4, MONTHLZ, DAYLZ]);

// Special formats.
const SOAP: P = seq(&[
    YEAR4,
    Lit("-"),
    MONTHLZ,
    Lit("-"),
    DAYLZ,
    Lit("T"),
    HOUR24LZ,
    Lit(":"),
    MINUTELZ,
    Lit(":"),
    SECONDLZ,
    FRAC,
    Opt(&TZCORRECTION),
]);
const XMLRPC: P = seq(&[YEAR4, MONTHLZ, DAYLZ, Lit("T"), HOUR24, MINUTELZ, SECONDLZ]);
const XMLRPCNOCOLON: P = seq(&[YEAR4, MONTHLZ, DAYLZ, LitCi("t"), HOUR24, MINUTELZ, SECONDLZ]);
const WDDX: P = seq(&[YEAR4, Lit("-"), MONTH, Lit("-"), DAY, Lit("T"), HOUR24, Lit(":"), MINUTE, Lit(":"), SECOND]);
const PGYDOTD: P = seq(&[YEAR4, Opt(&cls(b".-")), DAYOFYEAR]);
const PGTEXTSHORT: P = seq(&[MONTHABBR, Lit("-"), DAYLZ, Lit("-"), YEAR]);
const PGTEXTREVERSE: P = seq(&[YEAR, Lit("-"), MONTHABBR, Lit("-"), DAYLZ]);
const MSSQLTIME: P = seq(&[HOUR12, Lit(":"), MINUTELZ, Lit(":"), SECONDLZ, cls(b":."), D, Star(&D), MERIDIAN]);
const ISOWEEKDAY: P = seq(&[YEAR4, Opt(&Lit("-")), Lit("W"), WEEKOFYEAR, Opt(&Lit("-")), D07]);
const ISOWEEK: P = seq(&[YEAR4, Opt(&Lit("-")), Lit("W"), WEEKOFYEAR]);
const EXIF: P =
    seq(&[YEAR4, Lit(":"), MONTHLZ, Lit(":"), DAYLZ, Lit(" "), HOUR24LZ, Lit(":"), MINUTELZ, Lit(":"), SECONDLZ]);
const FIRSTDAYOF: P = LitCi("first day of");
const LASTDAYOF: P = LitCi("last day of");
const BACKOF: P = seq(&[LitCi("back of "), HOUR24, Opt(&seq(&[SPACE_OPT, MERIDIAN]))]);
const FRONTOF: P = seq(&[LitCi("front of "), HOUR24, Opt(&seq(&[SPACE_OPT, MERIDIAN]))]);
const CLF: P = seq(&[
    DAY,
    Lit("/"),
    MONTHABBR,
    Lit("/"),
    YEAR4,
    Lit(":"),
    HOUR24LZ,
    Lit(":"),
    MINUTELZ,
    Lit(":"),
    SECONDLZ,
    SPACE,
    TZCORRECTION,
]);
const TIMESTAMP: P = seq(&[Lit("@"), Opt(&Lit("-")), D, Star(&D)]);
const TIMESTAMPMS: P = seq(&[Lit("@"), Opt(&Lit("-")), D, Star(&D), Lit("."), Rep(0, 6, &D)]);

const DATESHORTWITHTIMESHORT12: P = seq(&[DATENOYEAR, TIMESHORT12]);
const DATESHORTWITHTIMELONG12: P = seq(&[DATENOYEAR, TIMELONG12]);
const DATESHORTWITHTIMESHORT: P = seq(&[DATENOYEAR, TIMESHORT24]);
const DATESHORTWITHTIMELONG: P = seq(&[DATENOYEAR, TIMELONG24]);
const DATESHORTWITHTIMELONGTZ: P = seq(&[DATENOYEAR, ISO8601NORMTZ]);

// Relative formats.
const RELTEXTNUMBER: P = alt(&[
    LitCi("first"),
    LitCi("second"),
    LitCi("third"),
    LitCi("fourth"),
    LitCi("fifth"),
    LitCi("sixth"),
    LitCi("seventh"),
    LitCi("eight"),
    LitCi("eighth"),
    LitCi("ninth"),
    LitCi("tenth"),
    LitCi("eleventh"),
    LitCi("twelfth"),
]);
const RELTEXTTEXT: P = alt(&[LitCi("next"), LitCi("last"), LitCi("previous"), LitCi("this")]);
const RELTEXTUNIT: P = alt(&[
    LitCi("ms"),
    LitCi("µs"),
    seq(&[
        alt(&[
            LitCi("msec"),
            LitCi("millisecond"),
            LitCi("µsec"),
            LitCi("microsecond"),
            LitCi("usec"),
            LitCi("sec"),
            LitCi("second"),
            LitCi("min"),
            LitCi("minute"),
            LitCi("hour"),
            LitCi("day"),
            LitCi("fortnight"),
            LitCi("forthnight"),
            LitCi("month"),
            LitCi("year"),
        ]),
        Opt(&LitCi("s")),
    ]),
    LitCi("weeks"),
    DAYTEXT,
]);
const RELNUMBER: P = seq(&[Star(&cls(b"+-")), SPACE_OPT, Rep(1, 13, &D)]);
const RELATIVE: P = seq(&[RELNUMBER, Opt(&SPACE), alt(&[RELTEXTUNIT, LitCi("week")])]);
const RELATIVETEXT: P = seq(&[alt(&[RELTEXTNUMBER, RELTEXTTEXT]), SPACE, RELTEXTUNIT]);
const RELATIVETEXTWEEK: P = seq(&[RELTEXTTEXT, SPACE, LitCi("week")]);
const WEEKDAYOF: P = seq(&[alt(&[RELTEXTNUMBER, RELTEXTTEXT]), SPACE, alt(&[DAYFULL, DAYABBR]), SPACE, LitCi("of")]);

/// What a matched rule does; one variant per action block of `parse_date.re`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `yesterday`
    Yesterday,
    /// `now`
    Now,
    /// `noon`
    Noon,
    /// `midnight`, `today`
    MidnightToday,
    /// `tomorrow`
    Tomorrow,
    /// `@<seconds>`
    Timestamp,
    /// `@<seconds>.<fraction>`
    TimestampMs,
    /// `first day of`, `last day of`
    FirstLastDayOf,
    /// `back of 7pm`, `front of 7pm`
    BackFrontOf,
    /// `first monday of`
    WeekdayOf,
    /// `3pm`, `3:30pm`, `3:30:15pm`
    Time12,
    /// `10:00:00.000AM`
    MssqlTime,
    /// `15:30`, `t15`, `15:30:15.5`
    Time24,
    /// `1530`
    GnuNoColon,
    /// `153015`
    Iso8601NoColon,
    /// `12/22`, `12/22/78`
    American,
    /// `2008-07-01`, `2008/07/01`
    Iso8601Date4,
    /// `08-07-01`
    Iso8601Date2,
    /// `+10000-07-01`
    Iso8601DateX,
    /// `2008-7`
    GnuDateShorter,
    /// `2008-7-1`
    GnuDateShort,
    /// `1 July 2008`
    DateFull,
    /// `1.7.2008`
    PointedDate4,
    /// `1.7.08`
    PointedDate2,
    /// `July 2008`
    DateNoDay,
    /// `2008 July`
    DateNoDayRev,
    /// `July 1st, 2008`, `July 1`
    DateTextual,
    /// `1 July`
    DateNoYearRev,
    /// `20080701`
    DateNoColon,
    /// `20080701T22:38:07`, SOAP, WDDX, EXIF
    XmlRpc,
    /// `2008.197`
    PgYdotd,
    /// `2008W27-3`
    IsoWeekDay,
    /// `2008W27`
    IsoWeek,
    /// `Jul-01-2008`
    PgTextShort,
    /// `2008-Jul-01`
    PgTextReverse,
    /// `10/Oct/2000:13:55:36 -0700`
    Clf,
    /// `2008`
    Year4,
    /// `ago`
    Ago,
    /// `monday`, `weekday`
    DayText,
    /// `next week`
    RelativeTextWeek,
    /// `next month`, `first day`
    RelativeText,
    /// `July`
    MonthText,
    /// `+0200`, `EST`, `Europe/Amsterdam`
    Timezone,
    /// `July 1 3pm`
    DateShortWithTime12,
    /// `July 1 15:00`
    DateShortWithTime24,
    /// `+1 week`
    Relative,
}

/// The rules in `parse_date.re` order: on equal match length the earlier one wins.
pub const RULES: &[(P, Rule)] = &[
    (LitCi("yesterday"), Rule::Yesterday),
    (LitCi("now"), Rule::Now),
    (LitCi("noon"), Rule::Noon),
    (alt(&[LitCi("midnight"), LitCi("today")]), Rule::MidnightToday),
    (LitCi("tomorrow"), Rule::Tomorrow),
    (TIMESTAMP, Rule::Timestamp),
    (TIMESTAMPMS, Rule::TimestampMs),
    (alt(&[FIRSTDAYOF, LASTDAYOF]), Rule::FirstLastDayOf),
    (alt(&[BACKOF, FRONTOF]), Rule::BackFrontOf),
    (WEEKDAYOF, Rule::WeekdayOf),
    (alt(&[TIMETINY12, TIMESHORT12, TIMELONG12]), Rule::Time12),
    (MSSQLTIME, Rule::MssqlTime),
    (alt(&[TIMETINY24, TIMESHORT24, TIMELONG24, ISO8601LONG]), Rule::Time24),
    (GNUNOCOLON, Rule::GnuNoColon),
    (ISO8601NOCOLON, Rule::Iso8601NoColon),
    (alt(&[AMERICANSHORT, AMERICAN]), Rule::American),
    (alt(&[ISO8601DATE4, ISO8601DATESLASH, DATESLASH]), Rule::Iso8601Date4),
    (ISO8601DATE2, Rule::Iso8601Date2),
    (ISO8601DATEX, Rule::Iso8601DateX),
    (GNUDATESHORTER, Rule::GnuDateShorter),
    (GNUDATESHORT, Rule::GnuDateShort),
    (DATEFULL, Rule::DateFull),
    (POINTED_DATE4, Rule::PointedDate4),
    (POINTED_DATE2, Rule::PointedDate2),
    (DATENODAY, Rule::DateNoDay),
    (DATENODAYREV, Rule::DateNoDayRev),
    (alt(&[DATETEXTUAL, DATENOYEAR]), Rule::DateTextual),
    (DATENOYEARREV, Rule::DateNoYearRev),
    (DATENOCOLON, Rule::DateNoColon),
    (alt(&[XMLRPC, XMLRPCNOCOLON, SOAP, WDDX, EXIF]), Rule::XmlRpc),
    (PGYDOTD, Rule::PgYdotd),
    (ISOWEEKDAY, Rule::IsoWeekDay),
    (ISOWEEK, Rule::IsoWeek),
    (PGTEXTSHORT, Rule::PgTextShort),
    (PGTEXTREVERSE, Rule::PgTextReverse),
    (CLF, Rule::Clf),
    (YEAR4, Rule::Year4),
    (LitCi("ago"), Rule::Ago),
    (DAYTEXT, Rule::DayText),
    (RELATIVETEXTWEEK, Rule::RelativeTextWeek),
    (RELATIVETEXT, Rule::RelativeText),
    (alt(&[MONTHFULL, MONTHABBR]), Rule::MonthText),
    (alt(&[TZCORRECTION, TZ]), Rule::Timezone),
    (alt(&[DATESHORTWITHTIMESHORT12, DATESHORTWITHTIMELONG12]), Rule::DateShortWithTime12),
    (alt(&[DATESHORTWITHTIMESHORT, DATESHORTWITHTIMELONG, DATESHORTWITHTIMELONGTZ]), Rule::DateShortWithTime24),
    (RELATIVE, Rule::Relative),
];

/// Each rule's possible first bytes, computed at compile time, so most rules are skipped
/// without running them.
const FIRST_BYTES: [ByteSet; RULES.len()] = {
    let mut sets = [ByteSet::EMPTY; RULES.len()];
    let mut i = 0;
    while i < RULES.len() {
        sets[i] = crate::pattern::first_bytes(&RULES[i].0);
        i += 1;
    }
    sets
};

/// The rule with the longest match at the start of `s`, and the match length.
pub fn next_token(s: &[u8]) -> Option<(Rule, usize)> {
    let first = *s.first()?;
    let mut best: Option<(Rule, usize)> = None;
    for ((pattern, rule), firsts) in RULES.iter().zip(FIRST_BYTES.iter()) {
        if !firsts.contains(first) {
            continue;
        }
        if let Some(len) = crate::pattern::longest(pattern, s)
            && best.is_none_or(|(_, b)| len > b)
        {
            best = Some((*rule, len));
        }
    }
    best
}
