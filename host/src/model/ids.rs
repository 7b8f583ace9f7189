//! Identifiers and secrets: sortable ids (`evt_01J...`, time-ordered so event lists page by
//! id), typed per kind (`EventId`, `WebhookId`, ...: the store and the handlers take the
//! kind they mean), and unguessable webhook tokens. Every id prefix is named here, once.

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
    /// Where an admin is told of trouble (`alr_`).
    Alert,
    /// One alert message sent, its `webhook-id` (`msg_`).
    AlertMessage,
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
            IdKind::Alert => "alr",
            IdKind::AlertMessage => "msg",
        }
    }
}

/// Defines a typed id: the text of one kind's ids, so an event id cannot be passed where a
/// webhook id is expected. Made by `new` (with the kind's prefix) or taken as stored or
/// sent (`from_text`: not checked, since an id from elsewhere simply finds nothing).
/// Stored and answered as its text (SQL through `store/sql.rs`, JSON through serde).
macro_rules! typed_id {
    ($($(#[$meta:meta])* $name:ident = $kind:ident,)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id made at `now_ms` (sorts by that time).
            pub fn new(now_ms: i64) -> Self {
                $name(new_id(IdKind::$kind, now_ms))
            }

            /// An id as stored or sent.
            pub fn from_text(text: impl Into<String>) -> Self {
                $name(text.into())
            }

            /// Its text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        // Sound: the derived `Hash` and `Eq` are the text's, as `str`'s are.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("`", stringify!($kind), "` id (`<prefix>_` + 26 characters, sortable by time).")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

typed_id! {
    /// A stored delivery's id (`evt_…`).
    EventId = Event,
    /// A webhook's id (`wh_…`).
    WebhookId = Webhook,
    /// A workflow's id (`wf_…`).
    WorkflowId = Workflow,
    /// An enrollment's id (`enr_…`).
    EnrollmentId = Enrollment,
    /// A record's id (`rec_…`).
    RecordId = Record,
    /// A record import's id (`imp_…`).
    ImportId = Import,
    /// An alert's id (`alr_…`).
    AlertId = Alert,
    /// An alert message's id (`msg_…`), sent as its `webhook-id`.
    AlertMessageId = AlertMessage,
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

    #[test]
    fn typed_ids_carry_their_kinds_prefix_and_are_their_text_in_json() {
        let made = [
            EventId::new(5).to_string(),
            WebhookId::new(5).to_string(),
            WorkflowId::new(5).to_string(),
            EnrollmentId::new(5).to_string(),
            RecordId::new(5).to_string(),
            ImportId::new(5).to_string(),
        ];
        let prefixes: Vec<&str> = made.iter().map(|id| id.split('_').next().unwrap()).collect();
        assert_eq!(prefixes, ["evt", "wh", "wf", "enr", "rec", "imp"]);
        assert_eq!(id_time_ms(&made[0]), Some(5));
        let id = WebhookId::new(5);
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::Value::from(id.as_str()));
        let sent: WebhookId = serde_json::from_value(serde_json::json!("wh_sent")).unwrap();
        assert_eq!(sent, "wh_sent");
        // Keyed by id, looked up by text: `Borrow<str>` agrees with the derived `Hash`.
        let set: std::collections::HashSet<WebhookId> = [sent].into_iter().collect();
        assert!(set.contains("wh_sent"));
    }
}
