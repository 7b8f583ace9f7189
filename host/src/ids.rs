//! Identifiers and secrets: sortable ids (`evt_01J...`, time-ordered so event lists page by
//! id) and unguessable webhook tokens.

use rand::RngCore;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new id: `<prefix>_` + 26 Crockford base32 characters (48-bit ms time + 80 random bits).
pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let mut random = [0u8; 10];
    rand::rng().fill_bytes(&mut random);
    let mut value: u128 = u128::from(u64::try_from(now_ms).unwrap_or(0) & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
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
        assert_eq!(new_token().len(), 44);
    }
}
