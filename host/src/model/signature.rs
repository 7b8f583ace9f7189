//! How a signature is written, the same word for the schemes wasmhook checks on the way
//! in (`ingest::signature`) and the ones it signs with on the way out (`act::signing`).

use serde::{Deserialize, Serialize};

/// How a generic signature is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase or uppercase hex.
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

impl Encoding {
    /// Its name as written in settings (`hex`, `base64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}
