//! A wasmhook `transform` plugin to copy: splits a full name into first and last name.
//!
//! Copy this folder, rename the package in `Cargo.toml`, and replace [`split_name`] with
//! your own logic. The logic lives here, in plain Rust that `cargo test` checks natively;
//! `component.rs` only adapts it to the WIT `transform` world (docs/plugins.md).
//!
//! Config (the step's settings, all optional):
//! - `from`: the property holding the full name (default `full_name`);
//! - `first`, `last`: the properties to write (default `first_name`, `last_name`).
//!
//! The last word is the last name, the rest the first name; a single word is a first
//! name. A missing or `null` property leaves the event unchanged.

#[cfg(target_arch = "wasm32")]
mod component;

/// Where the name is read from and written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The property holding the full name.
    pub from: String,
    /// The property that gets the first name.
    pub first: String,
    /// The property that gets the last name.
    pub last: String,
}

/// A setting the plugin does not know; returned as a `bad_config` plugin error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadConfig(pub String);

/// Read the step's settings, refusing unknown keys so a typo fails loudly.
pub fn settings(config: &[(String, String)]) -> Result<Settings, BadConfig> {
    let mut settings = Settings { from: "full_name".into(), first: "first_name".into(), last: "last_name".into() };
    for (key, value) in config {
        let slot = match key.as_str() {
            "from" => &mut settings.from,
            "first" => &mut settings.first,
            "last" => &mut settings.last,
            other => return Err(BadConfig(format!("unknown config key `{other}` (expected from, first, last)"))),
        };
        *slot = value.clone();
    }
    Ok(settings)
}

/// Split `full` into (first, last): the last word is the last name.
pub fn split_name(full: &str) -> (String, Option<String>) {
    let words: Vec<&str> = full.split_whitespace().collect();
    match words.split_last() {
        None => (String::new(), None),
        Some((only, [])) => ((*only).to_string(), None),
        Some((last, rest)) => (rest.join(" "), Some((*last).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_the_last_word() {
        assert_eq!(split_name("  Ada   King Lovelace "), ("Ada King".into(), Some("Lovelace".into())));
        assert_eq!(split_name("Cher"), ("Cher".into(), None));
        assert_eq!(split_name("   "), (String::new(), None));
    }

    #[test]
    fn settings_default_and_refuse_unknown_keys() {
        assert_eq!(settings(&[]).unwrap().from, "full_name");
        let custom = settings(&[("from".into(), "name".into()), ("last".into(), "surname".into())]).unwrap();
        assert_eq!(
            (custom.from.as_str(), custom.first.as_str(), custom.last.as_str()),
            ("name", "first_name", "surname")
        );
        assert!(settings(&[("form".into(), "x".into())]).unwrap_err().0.contains("`form`"));
    }
}
