//! A custom code step's `allowed_hosts` entry: `https://api.example.com`,
//! `https://*.example.org`, `http://127.0.0.1:9000`. Nothing is allowed unless listed.

use std::fmt;

/// One allowed destination: scheme, host (or `*.` + a domain: exactly one label more),
/// and port (the scheme's default when not written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    https: bool,
    host: HostPattern,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.org` is stored as `example.org`.
    OneLabelUnder(String),
}

impl AllowedHost {
    /// Parse an entry, saying what is wrong with a refused one.
    pub fn parse(text: &str) -> Result<AllowedHost, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("`{text}` needs a scheme: `https://host` or `http://host`"))?;
        let https = match scheme {
            "https" => true,
            "http" => false,
            other => return Err(format!("`{other}` is not a scheme wasmhook can call (https or http)")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("`{text}` must be a scheme, a host and an optional port, nothing more"));
        }
        let (host, port) =
            split_port(authority).ok_or_else(|| format!("`{text}` has a port that is not 1 to 65535"))?;
        let host = host.to_ascii_lowercase();
        let pattern = match host.strip_prefix("*.") {
            Some(domain) if domain.contains('.') && valid_host(domain) => {
                HostPattern::OneLabelUnder(domain.to_string())
            }
            Some(_) => return Err(wildcard(text)),
            None if host.contains('*') => return Err(wildcard(text)),
            None if valid_host(&host) => HostPattern::Exact(host),
            None => return Err(format!("`{text}` does not name a host")),
        };
        Ok(AllowedHost { https, host: pattern, port: port.unwrap_or(if https { 443 } else { 80 }) })
    }

    /// The destination a whole URL names, as the entry allowing exactly it (a
    /// `send_webhook` step's URL), saying what is wrong with a URL it cannot send to.
    pub fn of_url(url: &str) -> Result<AllowedHost, String> {
        let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
        AllowedHost::of_uri(&uri)
    }

    /// [`of_url`](Self::of_url) for a URL already parsed.
    pub fn of_uri(uri: &http::Uri) -> Result<AllowedHost, String> {
        let scheme = uri.scheme_str().ok_or_else(|| format!("`{uri}` needs a scheme: `https://…` or `http://…`"))?;
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        if authority.contains('@') {
            return Err(format!(
                "`{uri}`: a user and password do not go in the URL; send them in a header from a secret"
            ));
        }
        if authority.contains('*') {
            return Err(format!("`{uri}`: a URL names one host; a wildcard is for allowed_hosts"));
        }
        AllowedHost::parse(&format!("{scheme}://{authority}"))
    }

    /// Whether a request to `scheme://host:port` may be sent (`host` as in the URL; an IPv6
    /// literal with or without brackets).
    pub fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        https == self.https
            && port == self.port
            && match &self.host {
                HostPattern::Exact(exact) => host == exact.trim_start_matches('[').trim_end_matches(']'),
                HostPattern::OneLabelUnder(domain) => host
                    .strip_suffix(domain.as_str())
                    .and_then(|label| label.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match &self.host {
            HostPattern::Exact(host) => write!(f, "{scheme}://{host}:{}", self.port),
            HostPattern::OneLabelUnder(domain) => write!(f, "{scheme}://*.{domain}:{}", self.port),
        }
    }
}

fn wildcard(entry: &str) -> String {
    format!("`{entry}`: a wildcard stands for one leading label under a domain, e.g. `*.example.org`")
}

/// `host[:port]` or `[v6][:port]`; `None` for a port that is not 1..=65535.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port_at = if authority.starts_with('[') {
        authority.find(']').and_then(|end| authority[end..].find(':').map(|at| end + at))
    } else {
        authority.rfind(':')
    };
    match port_at {
        None => Some((authority, None)),
        Some(at) => {
            let port: u16 = authority[at + 1..].parse().ok().filter(|p| *p != 0)?;
            Some((&authority[..at], Some(port)))
        }
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !label.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::AllowedHost;

    fn allowed(entry: &str, https: bool, host: &str, port: u16) -> bool {
        AllowedHost::parse(entry).unwrap().allows(https, host, port)
    }

    #[test]
    fn an_entry_allows_its_scheme_host_and_port_only() {
        assert!(allowed("https://api.example.com", true, "api.example.com", 443));
        assert!(allowed("https://API.example.com/", true, "api.EXAMPLE.com", 443));
        assert!(!allowed("https://api.example.com", false, "api.example.com", 80), "plain http only where listed");
        assert!(!allowed("https://api.example.com", true, "api.example.com", 8443));
        assert!(!allowed("https://api.example.com", true, "api.example.com.evil.net", 443));
        assert!(allowed("http://127.0.0.1:9000", false, "127.0.0.1", 9000));
        assert!(!allowed("http://127.0.0.1:9000", false, "127.0.0.1", 80));
        assert!(allowed("http://[::1]:9000", false, "[::1]", 9000));
    }

    #[test]
    fn a_wildcard_stands_for_exactly_one_label() {
        assert!(allowed("https://*.example.org", true, "eu.example.org", 443));
        assert!(!allowed("https://*.example.org", true, "example.org", 443));
        assert!(!allowed("https://*.example.org", true, "a.eu.example.org", 443));
        assert!(!allowed("https://*.example.org", true, "evilexample.org", 443));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for (entry, says) in [
            ("api.example.com", "needs a scheme"),
            ("ftp://files.example.com", "not a scheme"),
            ("https://api.example.com/v1", "nothing more"),
            ("https://user@api.example.com", "nothing more"),
            ("https://api.example.com:0", "port"),
            ("https://api.example.com:99999", "port"),
            ("https://*", "wildcard"),
            ("https://*.com", "wildcard"),
            ("https://a.*.example.com", "wildcard"),
            ("https://exa_mple.com", "does not name a host"),
            ("https://", "nothing more"),
        ] {
            let refused = AllowedHost::parse(entry).unwrap_err();
            assert!(refused.contains(says), "{entry}: {refused}");
        }
    }

    #[test]
    fn a_url_names_exactly_its_destination() {
        let of = |url: &str| AllowedHost::of_url(url).map(|a| a.to_string());
        assert_eq!(of("https://api.example.com/v1/hooks?key=1").unwrap(), "https://api.example.com:443");
        assert_eq!(of("http://127.0.0.1:9000/hooks/abc").unwrap(), "http://127.0.0.1:9000");
        assert_eq!(of("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert!(of("https://*.example.com/x").is_err(), "a wildcard is for allowed_hosts, not a URL");
        assert!(of("ftp://files.example.com").unwrap_err().contains("https or http"));
        assert!(of("https://user:pw@api.example.com").unwrap_err().contains("user and password"));
        assert!(of("/relative").unwrap_err().contains("scheme"));
        assert!(of("not a url").unwrap_err().contains("not a URL"));
    }
}
