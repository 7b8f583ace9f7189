//! Identifiers and secrets: sortable ids (`evt_01J...`, time-ordered so event lists page by
//! id) and unguessable webhook tokens. Every id prefix is named here, once.

use rand::RngCore;

/// What an id names; its prefix says so in the id itself (`evt_…`, `wh_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A stored delivery (`evt_`).
    Event,
    /// A webhook (`wh_`).
    Webhook,
    /// A workflow (`wf_`).
    Workflow,
    /// An enrollment of a record into a workflow (`enr_`).
    Enrollment,
    /// A record (`rec_`).
    Record,
    /// A record import (`imp_`).
    Import,
    /// An HTTP request made up for a client that sent no usable id (`req_`).
    Request,
    /// A server node's name in claims on a shared database (`node_`).
    Node,
    /// A throwaway database a benchmark creates (`db_`).
    BenchDatabase,
}

impl IdKind {
    /// The prefix before the `_`.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Event => "evt",
            IdKind::Webhook => "wh",
            IdKind::Workflow => "wf",
            IdKind::Enrollment => "enr",
            IdKind::Record => "rec",
            IdKind::Import => "imp",
            IdKind::Request => "req",
            IdKind::Node => "node",
            IdKind::BenchDatabase => "db",
        }
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new id: `<prefix>_` + 26 Crockford base32 characters (48-bit ms time + 80 random bits).
pub fn new_id(kind: IdKind, now_ms: i64) -> String {
    let mut random = [0u8; 10];
    rand::rng().fill_bytes(&mut random);
    let mut value = time_bits(now_ms);
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    encode(kind.prefix(), value)
}

/// The smallest id of this kind made at `ms`: every id made at `ms` or later sorts above
/// it, so it bounds an id range by time (`events tail` re-reads a short window with it).
pub fn id_floor(kind: IdKind, ms: i64) -> String {
    encode(kind.prefix(), time_bits(ms))
}

fn time_bits(ms: i64) -> u128 {
    u128::from(u64::try_from(ms).unwrap_or(0) & 0xFFFF_FFFF_FFFF) << 80
}

/// The unix ms an id was made at, if it is one of ours.
pub fn id_time_ms(id: &str) -> Option<i64> {
    let (_, body) = id.rsplit_once('_')?;
    if body.len() != 26 {
        return None;
    }
    let mut value: u128 = 0;
    for c in body.bytes() {
        let digit = CROCKFORD.iter().position(|&d| d == c.to_ascii_uppercase())?;
        value = (value << 5) | digit as u128;
    }
    i64::try_from(value >> 80).ok()
}

fn encode(prefix: &str, value: u128) -> String {
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        out.push(CROCKFORD[((value >> (5 * i)) & 31) as usize] as char);
    }
    out
}

/// A webhook token: 160 random bits, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    format!("whk_{}", hex::encode(bytes))
}

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_do_not_repeat() {
        let a = new_id(IdKind::Event, 1_700_000_000_000);
        let b = new_id(IdKind::Event, 1_700_000_000_001);
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 30);
        assert_ne!(new_id(IdKind::Event, 5), new_id(IdKind::Event, 5));
        let floor = id_floor(IdKind::Event, 1_700_000_000_001);
        assert!(a < floor && floor < b, "{a} < {floor} < {b}");
        assert_eq!(id_time_ms(&b), Some(1_700_000_000_001));
        assert_eq!(id_time_ms("evt_short"), None);
        assert_eq!(new_token().len(), 44);
    }
}
