//! Identifiers and secrets: sortable ids (`evt_01J...`, time-ordered so event lists page by
//! id) and unguessable webhook tokens.

use rand::RngCore;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new id: `<prefix>_` + 26 Crockford base32 characters (48-bit ms time + 80 random bits).
pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let mut random = [0u8; 10];
    rand::rng().fill_bytes(&mut random);
    let mut value = time_bits(now_ms);
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    encode(prefix, value)
}

/// The smallest id of this prefix made at `ms`: every id made at `ms` or later sorts above
/// it, so it bounds an id range by time (`events tail` re-reads a short window with it).
pub fn id_floor(prefix: &str, ms: i64) -> String {
    encode(prefix, time_bits(ms))
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
        let a = new_id("evt", 1_700_000_000_000);
        let b = new_id("evt", 1_700_000_000_001);
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 30);
        assert_ne!(new_id("evt", 5), new_id("evt", 5));
        let floor = id_floor("evt", 1_700_000_000_001);
        assert!(a < floor && floor < b, "{a} < {floor} < {b}");
        assert_eq!(id_time_ms(&b), Some(1_700_000_000_001));
        assert_eq!(id_time_ms("evt_short"), None);
        assert_eq!(new_token().len(), 44);
    }
}
