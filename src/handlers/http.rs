//! The `httpGet` handler of hooks and probes, on our own HTTP/1.1 client
//! ([`http1`]).
//!
//! As the kubelet, which never checks a hook's status (kubernetes#56963),
//! a hook's status outside 2xx is only a warning, unless
//! `HOOKINIT_HTTP_HOOK_CHECK_STATUS` makes it a failure. Redirects are followed by hand so
//! that only same-host ones are (at most 10); a redirect elsewhere is the
//! answer. HTTPS, when built in, does not verify certificates (as the kubelet).

use crate::handlers::{http1, Caller, Outcome, Verdict};
use crate::os::text::split_once;
use crate::spec::handler::{host_port, HttpGet, Scheme};
use std::time::{Duration, Instant};

const MAX_REDIRECTS: usize = 10;
/// The kubelet's: `kube-lifecycle/` and `kube-probe/` with its version.
const HOOK_USER_AGENT: &str = "kube-lifecycle/1.34";
const PROBE_USER_AGENT: &str = "kube-probe/1.34";

/// The deadline of a whole exchange, redirects included (`None`: none).
fn deadline(budget: Option<Duration>) -> Option<Instant> {
    budget.map(|b| Instant::now() + b.max(Duration::from_millis(1)))
}

/// One GET, redirects included, within `budget` (`None`: no deadline).
///
/// - A hook: 2xx is a success, another status a warning `GET <url>: HTTP
///   <status>: <body>`; only redirects to the same scheme, host and port are
///   followed; `User-Agent: kube-lifecycle/1.34`.
/// - A probe, as the kubelet's (`pkg/probe/http`): 2xx is success with the
///   body; a final 3xx (a redirect to another host, not followed) is success
///   with a warning; anything else fails with the status code only (the body
///   is left out, kubernetes#99425); same-hostname redirects are followed;
///   `User-Agent: kube-probe/1.34` and `Accept: */*` unless the probe sets
///   them. A body that cannot be read is an error, whose result is discarded
///   (the kubelet's "probe errored").
pub fn get(spec: &HttpGet, caller: Caller, budget: Option<Duration>) -> Outcome {
    let deadline = deadline(budget);
    let outcome = exchange(spec, caller, deadline);
    #[cfg(feature = "https")]
    if caller == Caller::Hook
        && spec.scheme == Scheme::Https
        && outcome.verdict == Verdict::Failure
        && outcome.message.ends_with(http1::tls::HTTP_RESPONSE)
    {
        return fallback(spec, deadline).unwrap_or(outcome);
    }
    outcome
}

/// The kubelet's fallback for a hook (`runHTTPHandler`): an HTTPS server
/// that answered in plaintext HTTP gets the request again over HTTP, without
/// `Authorization`. `None` when that fails too (the HTTPS error stands);
/// else its outcome, its message starting with the kubelet's
/// `LifecycleHTTPFallback` note.
#[cfg(feature = "https")]
fn fallback(spec: &HttpGet, deadline: Option<Instant>) -> Option<Outcome> {
    let mut plain = spec.clone();
    plain.scheme = Scheme::Http;
    plain
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("Authorization"));
    let mut outcome = exchange(&plain, Caller::Hook, deadline);
    if outcome.verdict == Verdict::Failure {
        return None;
    }
    let note = format!(
        "request to HTTPS lifecycle hook {} got HTTP response, retry with HTTP succeeded",
        host_port(&spec.host, spec.port)
    );
    outcome.message = match outcome.message.is_empty() {
        true => note,
        false => format!("{note}; {}", outcome.message),
    };
    Some(outcome)
}

/// One exchange, redirects included (see [`get`]).
fn exchange(spec: &HttpGet, caller: Caller, deadline: Option<Instant>) -> Outcome {
    let user_agent = match caller {
        Caller::Hook => HOOK_USER_AGENT,
        Caller::Probe => PROBE_USER_AGENT,
    };
    let headers = kubelet_headers(&spec.headers);
    // HttpGet's Display is its URL.
    let mut url = spec.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let mut response = match http1::get(&url, &headers, user_agent, deadline) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::failure(match caller {
                    Caller::Hook => format!("GET {url}: {e}"),
                    Caller::Probe => format!("Get \"{url}\": {e}"),
                })
            }
        };
        let status = response.status;
        // The codes Go's client follows (`redirectBehavior`); any other 3xx
        // is the answer.
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = response.location.as_deref();
            let next = location
                .and_then(|l| resolve(&url, l))
                .and_then(|l| match caller {
                    Caller::Hook => same_host_target(spec, &l),
                    Caller::Probe => same_hostname_target(&url, &l),
                });
            if let Some(next) = next {
                url = next;
                continue;
            }
        }
        return match caller {
            Caller::Hook => hook_outcome(&url, status, &mut response),
            Caller::Probe => probe_outcome(&url, status, &mut response),
        };
    }
    Outcome::failure(match caller {
        Caller::Hook => format!("GET {url}: more than {MAX_REDIRECTS} redirects"),
        Caller::Probe => format!("Get \"{url}\": stopped after {MAX_REDIRECTS} redirects"),
    })
}

/// The headers as the kubelet's request carries them (`newProbeRequest`,
/// then Go's `Request.write`, which writes `Host` and `User-Agent` from one
/// value each): only the first `Host` and `User-Agent` count, an empty
/// `Host` is the URL's; a `User-Agent` or `Accept` whose first value is ""
/// is sent not at all (kept as one "" for [`http1::get`] to leave out).
fn kubelet_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let first = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut seen = [false; 2];
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let single = ["Host", "User-Agent"].map(|h| name.eq_ignore_ascii_case(h));
        let accept = name.eq_ignore_ascii_case("Accept");
        if let Some(i) = single.iter().position(|s| *s) {
            let first_empty_host = i == 0 && value.is_empty();
            if !std::mem::replace(&mut seen[i], true) && !first_empty_host {
                out.push((name.clone(), value.clone()));
            }
        } else if accept && first("Accept") == Some("") {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case("Accept")) {
                out.push((name.clone(), String::new()));
            }
        } else {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

/// A hook's final response: 2xx succeeds; any other status is a warning
/// (the kubelet never checks it; the hook decides, as set) with the status
/// and the start of the body, on one line.
fn hook_outcome(url: &str, status: u16, response: &mut http1::Response) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::success(String::new());
    }
    let mut msg = format!("GET {url}: HTTP {status}");
    match response.body() {
        Ok(body) => {
            let body = String::from_utf8_lossy(&body);
            let body = crate::os::text::join(&body.split_whitespace().collect::<Vec<_>>(), " ");
            if !body.is_empty() {
                msg.push_str(": ");
                msg.extend(body.chars().take(512));
            }
        }
        Err(e) => msg.push_str(&format!(", then {e}")),
    }
    Outcome::new(Verdict::Warning, msg)
}

/// A probe's final response, as the kubelet words it.
fn probe_outcome(url: &str, status: u16, response: &mut http1::Response) -> Outcome {
    if !(200..400).contains(&status) {
        return Outcome::failure(format!("HTTP probe failed with statuscode: {status}"));
    }
    let body = match response.body() {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(e) => return Outcome::new(Verdict::Error, format!("Get \"{url}\": {e}")),
    };
    if status >= 300 {
        return Outcome::new(
            Verdict::Warning,
            format!("Probe terminated redirects, Response body: {body}"),
        );
    }
    Outcome::success(body)
}

/// `location` resolved against `base`, as Go's `URL.Parse` resolves a
/// redirect (RFC 3986, 5.2): a path relative to the base's directory, a
/// query alone, `//authority`, dot segments removed; the fragment dropped.
/// `None` for another scheme than http and https. By byte positions: the
/// splitting iterators cost kilobytes.
#[inline(never)]
fn resolve(base: &str, location: &str) -> Option<String> {
    let at = |s: &str, stop: &[u8]| s.bytes().position(|b| stop.contains(&b)).unwrap_or(s.len());
    let location = &location[..at(location, b"#")];
    let (scheme, rest) = split_once(base, "://")?;
    let (authority, path_query) = rest.split_at(at(rest, b"/?"));
    let path = &path_query[..at(path_query, b"?")];
    // A scheme: whatever comes before a colon that precedes any `/` or `?`
    // (only http and https are followed, so its syntax is not checked).
    let colon = at(location, b":/?");
    if location[colon..].starts_with(':') {
        let given = &location[..colon];
        let web = given.eq_ignore_ascii_case("http") || given.eq_ignore_ascii_case("https");
        return web.then(|| location.to_string());
    }
    let mut out = String::with_capacity(base.len() + location.len());
    out.push_str(scheme);
    out.push_str("://");
    if let Some(network_path) = location.strip_prefix("//") {
        out.push_str(network_path);
        return Some(out);
    }
    out.push_str(authority);
    let query_at = at(location, b"?");
    let ref_path = &location[..query_at];
    // The merged path: the reference's, the base's (an empty reference), or
    // the reference after the base's directory.
    let mut merged = String::with_capacity(path.len() + ref_path.len() + 1);
    if !ref_path.starts_with('/') {
        let dir = match ref_path {
            "" => path.len(),
            _ => crate::os::text::rfind_byte(path, b'/').unwrap_or(0),
        };
        merged.push_str(&path[..dir]);
        if !ref_path.is_empty() {
            merged.push('/');
        }
    }
    merged.push_str(ref_path);
    // Its segments after the leading `/`, dot segments resolved in `out`.
    let root = out.len();
    let mut segments = merged.strip_prefix('/').unwrap_or(&merged);
    let mut ends_as_dir;
    loop {
        let end = at(segments, b"/");
        let segment = &segments[..end];
        ends_as_dir = segment == "." || segment == "..";
        if segment == ".." {
            let parent = crate::os::text::rfind_byte(&out[root..], b'/').unwrap_or(0);
            out.truncate(root + parent);
        } else if !ends_as_dir {
            out.push('/');
            out.push_str(segment);
        }
        if end == segments.len() {
            break;
        }
        segments = &segments[end + 1..];
    }
    if ends_as_dir || out.len() == root {
        out.push('/');
    }
    // A query of the reference's; an empty reference keeps the base's.
    let query = match (query_at < location.len(), location.is_empty()) {
        (true, _) => &location[query_at..],
        (false, true) => &path_query[path.len()..],
        (false, false) => "",
    };
    out.push_str(query);
    Some(out)
}

/// A redirect's target (resolved: [`resolve`]) if it stays on the same
/// host name (any port or scheme: the kubelet's rule for probes).
fn same_hostname_target(current: &str, location: &str) -> Option<String> {
    let host_of = |url: &str| -> Option<String> {
        let rest = split_once(url, "://")?.1;
        let authority = rest.split('/').next()?;
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?,
            None => {
                crate::os::text::rfind_byte(authority, b':').map_or(authority, |i| &authority[..i])
            }
        };
        Some(host.to_ascii_lowercase())
    };
    (host_of(location)? == host_of(current)?).then(|| location.to_string())
}

/// The URL a redirect points to, if it stays on the spec's scheme, host
/// and port (a hook's rule).
fn same_host_target(spec: &HttpGet, location: &str) -> Option<String> {
    let scheme = if spec.scheme == Scheme::Https {
        "https"
    } else {
        "http"
    };
    same_authority_target(scheme, &host_port(&spec.host, spec.port), location)
}

fn same_authority_target(scheme: &str, authority: &str, location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))?;
    let (target_authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let target_scheme = &location[..location.len() - rest.len() - 3];
    let path = if path.is_empty() { "/" } else { path };
    (target_authority == authority && target_scheme == scheme)
        .then(|| format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::same_authority_target as t;

    /// handlers_test.go `TestRunHTTPHandler` fallback cases: an HTTPS hook
    /// answered in plaintext is sent again over HTTP, without
    /// `Authorization`; a probe is not.
    #[cfg(feature = "https")]
    #[test]
    fn https_hook_answered_in_plaintext_falls_back_to_http() {
        use crate::handlers::{Caller, Verdict};
        use crate::spec::handler::{HttpGet, Scheme};
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for _ in 0..3 {
                let (mut s, _) = listener.accept().unwrap();
                let mut first = [0u8; 1];
                s.read_exact(&mut first).unwrap();
                if first[0] == 0x16 {
                    // A TLS ClientHello: answer as a plaintext server does.
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                    heads.push("TLS".to_string());
                    continue;
                }
                let mut r = BufReader::new(s);
                let mut head = String::from(first[0] as char);
                while !head.ends_with("\r\n\r\n") && r.read_line(&mut head).unwrap() > 0 {}
                let _ = r.get_mut().write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
                heads.push(head);
            }
            heads
        });
        let spec = HttpGet {
            scheme: Scheme::Https,
            host: "127.0.0.1".into(),
            port,
            path: "/hook".into(),
            headers: vec![
                ("Authorization".into(), "Bearer x".into()),
                ("X-A".into(), "1".into()),
            ],
        };
        let budget = Some(std::time::Duration::from_secs(10));
        let hook = super::get(&spec, Caller::Hook, budget);
        assert_eq!(
            (hook.verdict, hook.message.as_str()),
            (
                Verdict::Success,
                format!("request to HTTPS lifecycle hook 127.0.0.1:{port} got HTTP response, retry with HTTP succeeded").as_str()
            )
        );
        let probe = super::get(&spec, Caller::Probe, budget);
        assert_eq!(probe.verdict, Verdict::Failure);
        assert!(
            probe
                .message
                .ends_with("server gave HTTP response to HTTPS client"),
            "{probe:?}"
        );
        let heads = server.join().unwrap();
        assert_eq!(heads[0], "TLS");
        assert!(heads[1].starts_with("GET /hook HTTP/1.1\r\n"), "{heads:?}");
        assert!(!heads[1].contains("Authorization"), "{heads:?}");
        assert!(heads[1].contains("X-A: 1\r\n"), "{heads:?}");
        assert_eq!(heads[2], "TLS");
    }

    /// `request.go` `newProbeRequest` and `http_test.go`'s header cases.
    #[test]
    fn headers_follow_the_kubelets_request() {
        let h = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let k = |list: &[(&str, &str)]| super::kubelet_headers(&h(list));
        assert_eq!(
            k(&[("X-A", "1"), ("X-A", "")]),
            h(&[("X-A", "1"), ("X-A", "")])
        );
        assert_eq!(
            k(&[("User-Agent", "a"), ("user-agent", "b")]),
            h(&[("User-Agent", "a")])
        );
        assert_eq!(k(&[("User-Agent", "")]), h(&[("User-Agent", "")]));
        assert_eq!(
            k(&[("Accept", ""), ("Accept", "text/html")]),
            h(&[("Accept", "")])
        );
        assert_eq!(
            k(&[("Accept", "a"), ("Accept", "")]),
            h(&[("Accept", "a"), ("Accept", "")])
        );
        assert_eq!(k(&[("Host", ""), ("Host", "x")]), h(&[]));
        assert_eq!(k(&[("Host", "x"), ("Host", "y")]), h(&[("Host", "x")]));
    }

    #[test]
    fn only_same_host_redirects() {
        assert_eq!(
            t("http", "127.0.0.1:80", "http://127.0.0.1:80/b").as_deref(),
            Some("http://127.0.0.1:80/b")
        );
        assert_eq!(
            t("http", "127.0.0.1:80", "http://127.0.0.1:80").as_deref(),
            Some("http://127.0.0.1:80/")
        );
        assert_eq!(t("http", "127.0.0.1:80", "http://evil:80/b"), None);
        assert_eq!(t("http", "127.0.0.1:80", "http://evil/b"), None);
        assert_eq!(t("http", "127.0.0.1:80", "https://127.0.0.1:80/b"), None);
    }

    /// RFC 3986's examples (5.4.1, 5.4.2) against its base, and the forms
    /// redirects use.
    #[test]
    fn locations_resolve_against_the_request_url() {
        let r = |l: &str| super::resolve("http://a/b/c/d;p?q", l);
        for (location, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("HTTPS://x:8443/y", "HTTPS://x:8443/y"),
        ] {
            assert_eq!(r(location).as_deref(), Some(want), "{location}");
        }
        assert_eq!(r("ftp://a/b"), None);
        assert_eq!(r("mailto:x@a"), None);
        let r = |l: &str| super::resolve("http://127.0.0.1:8080/healthz", l);
        assert_eq!(
            r("healthz/real").as_deref(),
            Some("http://127.0.0.1:8080/healthz/real")
        );
        assert_eq!(
            r("status/500").as_deref(),
            Some("http://127.0.0.1:8080/status/500")
        );
    }

    #[test]
    fn probes_follow_same_hostname_redirects() {
        let t = super::same_hostname_target;
        assert_eq!(
            t("http://127.0.0.1:80/a", "http://127.0.0.1:80/b").as_deref(),
            Some("http://127.0.0.1:80/b")
        );
        assert_eq!(
            t("http://127.0.0.1:80/a", "https://127.0.0.1:8443/c").as_deref(),
            Some("https://127.0.0.1:8443/c")
        );
        assert_eq!(t("http://127.0.0.1:80/a", "http://other:80/b"), None);
        assert_eq!(
            t("http://[::1]:80/a", "http://[::1]:81/b").as_deref(),
            Some("http://[::1]:81/b")
        );
    }
}
