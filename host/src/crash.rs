//! Crash points: the moments of the ingest log's life where a crash must lose nothing that
//! was acknowledged, made reachable on purpose so a test can crash there. A test starts the
//! server with `WASMHOOK_CRASH_AT=<point>:<n>`; the n-th time the point is reached the
//! process aborts (no destructors, no flushing: as close to a power cut as a process gets).
//! Unset, a point costs one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms a crash point.
pub const ENV: &str = "WASMHOOK_CRASH_AT";

/// A moment a crash is made to happen at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Half of a group's record is written and synced, the rest never: a torn tail.
    LogMidWrite,
    /// A group's record is synced but its senders were not answered yet.
    LogSynced,
    /// A batch is committed to the database but the applier has not forgotten it.
    Applied,
    /// The first of the applied segments is deleted, the others and the directory's sync not.
    ReclaimMidDelete,
}

impl Point {
    const ALL: [(Point, &'static str); 4] = [
        (Point::LogMidWrite, "log-mid-write"),
        (Point::LogSynced, "log-synced"),
        (Point::Applied, "applied"),
        (Point::ReclaimMidDelete, "reclaim-mid-delete"),
    ];

    fn parse(name: &str) -> Option<Point> {
        Point::ALL.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }
}

/// Why `WASMHOOK_CRASH_AT` was refused (a typo must not quietly never crash).
#[derive(Debug, thiserror::Error)]
#[error(
    "{ENV}={0:?}: expected <point>:<n> with n ≥ 1 and point one of log-mid-write, log-synced, applied, reclaim-mid-delete"
)]
pub struct BadCrashPoint(String);

struct Armed {
    point: Point,
    /// Times still to pass the point before crashing at it.
    left: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

/// Read `WASMHOOK_CRASH_AT` once, at start; returns the armed point, if any.
pub fn arm_from_env() -> Result<Option<Point>, BadCrashPoint> {
    let armed = match std::env::var(ENV) {
        Ok(value) => Some(parse(&value).ok_or(BadCrashPoint(value))?),
        Err(_) => None,
    };
    let point = armed.as_ref().map(|a| a.point);
    let _ = ARMED.set(armed);
    Ok(point)
}

fn parse(value: &str) -> Option<Armed> {
    let (name, n) = value.split_once(':')?;
    let n: u64 = n.parse().ok().filter(|n| *n >= 1)?;
    Some(Armed { point: Point::parse(name)?, left: AtomicU64::new(n) })
}

/// Whether the process is to crash here now: true once, the n-th time the armed point is
/// reached. The caller does what a crash there leaves half done, then calls [`abort`].
pub fn due(point: Point) -> bool {
    let Some(Some(armed)) = ARMED.get() else { return false };
    armed.point == point && armed.left.fetch_sub(1, Ordering::Relaxed) == 1
}

/// Crash at `point` if it is due.
pub fn at(point: Point) {
    if due(point) {
        abort(point);
    }
}

/// End the process at once, saying where (on stderr, unbuffered).
pub fn abort(point: Point) -> ! {
    eprintln!("{ENV}: crashing at {point:?}");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_and_a_count_are_read_and_anything_else_is_refused() {
        let armed = parse("reclaim-mid-delete:3").unwrap();
        assert_eq!((armed.point, armed.left.load(Ordering::Relaxed)), (Point::ReclaimMidDelete, 3));
        for bad in ["applied", "applied:0", "applied:-1", "applied:x", "nowhere:1", ":1", ""] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn unarmed_points_are_never_due() {
        // Nothing in the unit tests sets the variable: reading it arms nothing.
        assert!(std::env::var(ENV).is_err());
        assert_eq!(arm_from_env().unwrap(), None);
        assert!(!due(Point::Applied));
    }
}
