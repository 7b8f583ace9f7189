//! Agreement with PHP's `strtotime` (PHP 8.2, UTC) on the committed fixture: timelib's own
//! test inputs plus wasmhook's cases across every format family, refusals included.

use strtotime::{ParsedZone, strtotime};

/// Share of fixture cases that must agree exactly (seconds, or both refusing).
const REQUIRED_AGREEMENT: f64 = 0.98;

#[test]
fn agrees_with_php_on_the_fixture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/strtotime/php-fixture.jsonl");
    let text = std::fs::read_to_string(path).expect("fixture present");
    let mut total = 0usize;
    let mut agree = 0usize;
    let mut mismatches = Vec::new();
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
        let input = case["input"].as_str().expect("input");
        let now = case["now"].as_i64().expect("now");
        let expected = case["expected"].as_i64();
        let got = strtotime(input, now, ParsedZone::Offset(0)).ok();
        total += 1;
        if got == expected {
            agree += 1;
        } else {
            mismatches.push(format!("{input:?} now={now}: php={expected:?} ours={got:?}"));
        }
    }
    let ratio = agree as f64 / total as f64;
    let report = format!("agreement {agree}/{total} = {:.2}%\n{}\n", ratio * 100.0, mismatches.join("\n"));
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(out.join("strtotime-mismatches.txt"), &report).expect("write report");
    println!("{}", report.lines().next().unwrap_or_default());
    assert!(ratio >= REQUIRED_AGREEMENT, "{report}");
}
