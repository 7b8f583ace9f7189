//! What an `action` plugin may reach over `wasi:http/outgoing-handler`: the hosts its step
//! lists (`allowed_host`), never the private network unless an admin opened a range
//! (`address`), sent by `send`, which checks both at connect time. Transforms are never
//! linked to `wasi:http`: they stay pure, so a replay computes what the first run did.
//!
//! Each try of a step makes at most [`MAX_REQUESTS_PER_CALL`] requests; each is written to
//! the call's log (method, scheme, host, path, status, duration; never the query or
//! header values), where the act stage's redaction of secret values applies, and kept as
//! an [`Exchange`], by which the act stage decides whether a failed try is retried, and
//! counted by the destination's breaker (`breaker`), by which it holds back steps that
//! could reach only a destination that keeps failing. The host's own requests (a
//! `send_webhook` step, `host_send`) go through the same sender.

pub mod address;
pub mod allowed_host;
pub mod breaker;
pub mod exchange;
mod host_send;
mod send;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use address::{AddressPolicy, Cidr};
pub use allowed_host::AllowedHost;
pub use breaker::{BreakerSettings, Breakers, Paused};
pub(crate) use exchange::Exchanges;
pub use exchange::{Answer, Exchange};
pub use host_send::{HostSent, Outgoing, Response};
pub(crate) use send::{OutboundHooks, shown};

/// Requests one call may send; the next ones are refused (`HTTP-request-denied`).
pub const MAX_REQUESTS_PER_CALL: usize = 20;

/// The server's outbound flags as given (`serve --outbound-allow`, `--outbound-ca`).
#[derive(Debug, Clone, Default)]
pub struct OutboundSettings {
    /// Private ranges plugins may reach nonetheless (tests open 127.0.0.1/32).
    pub allow: Vec<Cidr>,
    /// A PEM file of the CAs HTTPS destinations are verified against, instead of Mozilla's.
    pub ca: Option<PathBuf>,
    /// When a destination that keeps failing is paused.
    pub breaker: BreakerSettings,
}

impl OutboundSettings {
    /// The policy these settings make.
    pub fn policy(&self) -> Result<OutboundPolicy, OutboundError> {
        Ok(OutboundPolicy::new(self.allow.clone(), self.ca.as_deref())?.with_breaker(self.breaker))
    }
}

/// The server's outbound settings: the private ranges opened (`--outbound-allow`) and the
/// roots HTTPS is verified against (Mozilla's, or `--outbound-ca`).
#[derive(Clone)]
pub struct OutboundPolicy {
    pub(crate) addresses: AddressPolicy,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// The destinations' breakers, shared by every call of this node.
    pub(crate) breakers: Arc<Breakers>,
}

/// Why the outbound settings could not be used.
#[derive(Debug, thiserror::Error)]
#[error("outbound TLS: {0}")]
pub struct OutboundError(String);

impl OutboundPolicy {
    /// Public addresses plus `opened`; HTTPS verified against `ca` (a PEM file), else the
    /// Mozilla roots.
    pub fn new(opened: Vec<Cidr>, ca: Option<&Path>) -> Result<OutboundPolicy, OutboundError> {
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(path) => {
                let bad = |e: &dyn std::fmt::Display| OutboundError(format!("{}: {e}", path.display()));
                use rustls::pki_types::pem::PemObject;
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                    roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                }
                if roots.is_empty() {
                    return Err(bad(&"no certificate in the file"));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| OutboundError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let breakers = Arc::new(Breakers::default());
        Ok(OutboundPolicy { addresses: AddressPolicy::opening(opened), tls: Arc::new(config), breakers })
    }

    /// This policy with breakers that open as `settings` say.
    pub fn with_breaker(self, settings: BreakerSettings) -> OutboundPolicy {
        OutboundPolicy { breakers: Arc::new(Breakers::new(settings)), ..self }
    }

    /// This policy with its breakers counting each opening into `tally`.
    pub fn counting_openings(self, tally: Arc<crate::tally::Tally>) -> OutboundPolicy {
        OutboundPolicy { breakers: Arc::new(self.breakers.counting_into(tally)), ..self }
    }

    /// The destinations' breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }
}
