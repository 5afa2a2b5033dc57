//! The URL of an httpGet request: where to connect and what to ask.

use crate::os::text::{rfind_byte, split_once, Quoted};
use std::fmt::Write as _;

/// What a URL says of where to connect and what to ask.
#[derive(Debug, PartialEq)]
pub(super) struct Target<'a> {
    pub(super) tls: bool,
    /// `host:port` as the URL has it, for `Host`.
    pub(super) authority: &'a str,
    /// Without brackets.
    pub(super) host: &'a str,
    pub(super) port: u16,
    /// The request target.
    pub(super) path: String,
}

impl Target<'_> {
    pub(super) fn parse(url: &str) -> Result<Target<'_>, String> {
        let bad = || format!("{} is not a valid URL", Quoted(url));
        let (scheme, rest) = split_once(url, "://").ok_or_else(bad)?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, 80),
            "https" => (true, 443),
            _ => return Err(format!("unsupported protocol scheme {}", Quoted(scheme))),
        };
        let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => v6.split_once(']').ok_or_else(bad)?,
            None => authority.split_at(rfind_byte(authority, b':').unwrap_or(authority.len())),
        };
        let bracketed = authority.starts_with('[');
        if host.is_empty()
            || host.contains(['[', ']'])
            || (!bracketed && host.as_bytes().contains(&b':'))
        {
            return Err(bad());
        }
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => default_port,
            Some("") => default_port,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        // The fragment is the client's; bytes a request line cannot hold
        // (RFC 3986: all but unreserved, sub-delims and ":@/?%") are
        // percent-encoded, as Go's client does for the path.
        let path = path.split('#').next().unwrap_or_default();
        let mut target = String::from(if path.starts_with('/') { "" } else { "/" });
        for b in path.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                target.push(b as char);
            } else {
                let _ = write!(target, "%{b:02X}");
            }
        }
        Ok(Target {
            tls,
            authority,
            host,
            port,
            path: target,
        })
    }
}
