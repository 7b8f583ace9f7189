//! Hostile text never panics the parser: seeded random strings built from date-ish pieces
//! and raw bytes, every one answered with a time or a refusal.

use strtotime::{ParsedZone, strtotime};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "2024",
    "-",
    "+",
    "@",
    ":",
    ".",
    "/",
    " ",
    "\t",
    "T",
    "Z",
    "W",
    "first",
    "last",
    "day",
    "of",
    "next",
    "monday",
    "ago",
    "weekdays",
    "9223372036854775807",
    "99999999999999",
    "0",
    "12",
    "31",
    "60",
    "pm",
    "a.m.",
    "GMT",
    "+14:00",
    "Europe/Amsterdam",
    "(",
    ")",
    "µs",
    "back of",
    "front of",
    "noon",
    "tomorrow",
    "XII",
    "sept",
    ",",
    "th",
    "\u{0}",
    "-0001",
    "+10000",
    "1e9",
    "Ω",
    "𝔘",
];

#[test]
fn random_inputs_are_answered_without_panicking() {
    let mut rng = Rng(0x5eed_2026_1128);
    for _ in 0..50_000 {
        let mut input = String::new();
        for _ in 0..(rng.next() % 8) {
            input.push_str(rng.pick(PIECES));
        }
        let now = (rng.next() % 4_000_000_000) as i64 - 1_000_000_000;
        let _ = strtotime(&input, now, ParsedZone::Offset(0));
        let _ = strtotime(&input, now, ParsedZone::from_config("America/New_York").unwrap());
    }
    for _ in 0..20_000 {
        let bytes: Vec<u8> = (0..rng.next() % 40).map(|_| (rng.next() % 256) as u8).collect();
        let _ = strtotime(&String::from_utf8_lossy(&bytes), 1_700_000_000, ParsedZone::Offset(0));
    }
}
