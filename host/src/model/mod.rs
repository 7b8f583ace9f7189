//! The domain's vocabulary, as types, in one place: what an event, a webhook, a property, a
//! workflow and a step *are*, independent of how they are stored (SQL), answered (JSON) or
//! counted (metric labels). Strings exist only at those edges, each through one conversion
//! (`as_str` out, `parse` in); an unknown stored name is an error ([`UnknownName`]), never a
//! default.
//!
//! - [`alert`]: alerts: kinds of trouble, thresholds, the messages' statuses.
//! - [`ids`]: sortable ids, their prefixes, webhook tokens, the clock.
//! - [`import_columns`]: what a record import reads: NDJSON or CSV, columns to properties.
//! - [`node`]: a node of a cluster and the work it did.
//! - [`event`]: an event's status.
//! - [`property`]: property types (record properties and mapped webhook fields).
//! - [`record_query`]: what a records listing shows: filters, sort, cursor.
//! - [`retention`]: how long events and ended enrollments are kept.
//! - [`webhook`]: a webhook's wizard state, mapping, transform chain, match rule, dedup.
//! - [`workflow`]: workflows, their actions and sources, enrollments.
//! - [`signature`]: how an HMAC signature is written (hex, base64).
//! - [`step`]: one run step of an enrollment as logged (the only state a restart has).

pub mod alert;
pub mod event;
pub mod ids;
pub mod import_columns;
pub mod node;
pub mod property;
pub mod record_query;
pub mod retention;
pub mod signature;
pub mod step;
pub mod webhook;
pub mod workflow;

/// A stored or sent name that is not one of a vocabulary's (a hand-edited database, or a
/// newer version's data read by an older one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {vocabulary}")]
pub struct UnknownName {
    /// Which vocabulary (`event status`, `webhook state`, ...).
    pub vocabulary: &'static str,
    /// The name found.
    pub value: String,
}

/// Defines a closed vocabulary: a fieldless enum with its one string form per variant,
/// `as_str`, a strict `parse`, `Display`, serde as that string, and an OpenAPI schema that
/// lists every name.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// Its name as stored, answered and used as a metric label.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value named `text`; anything else is an [`UnknownName`](crate::model::UnknownName).
            pub fn parse(text: &str) -> Result<$name, crate::model::UnknownName> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::model::UnknownName { vocabulary: $what, value: text.to_string() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        // The OpenAPI document lists the names, so a client knows every value it may see.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("A ", $what, ".")))
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use vocabulary;

#[cfg(test)]
mod tests {
    use super::event::EventStatus;
    use super::property::PropertyType;
    use super::step::StepOutcome;
    use super::webhook::WebhookState;
    use super::workflow::EnrollmentStatus;

    #[test]
    fn every_name_round_trips_and_unknown_names_are_errors() {
        for s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()), Ok(*s));
        }
        for s in WebhookState::ALL {
            assert_eq!(WebhookState::parse(s.as_str()), Ok(*s));
        }
        for s in PropertyType::ALL {
            assert_eq!(PropertyType::parse(s.as_str()), Ok(*s));
        }
        for s in StepOutcome::ALL {
            assert_eq!(StepOutcome::parse(s.as_str()), Ok(*s));
        }
        for s in EnrollmentStatus::ALL {
            assert_eq!(EnrollmentStatus::parse(s.as_str()), Ok(*s));
        }
        let unknown = WebhookState::parse("paused").unwrap_err();
        assert_eq!(unknown.to_string(), "`paused` is not a known webhook state");
        assert!(EventStatus::parse("Accepted").is_err(), "names are exact");
        assert!(serde_json::from_str::<PropertyType>("\"datetime2\"").is_err());
        assert_eq!(serde_json::to_string(&EventStatus::AlreadyEnrolled).unwrap(), "\"already_enrolled\"");
    }
}
