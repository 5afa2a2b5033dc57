//! Host names to addresses for the handlers that connect, as musl's
//! `getaddrinfo` did (it was 14 KB of the binary, with its `malloc` use and
//! stdio): an IP literal as is, else `/etc/hosts`, else DNS (A and AAAA) to
//! the nameservers of `/etc/resolv.conf` with its `search`, `ndots`,
//! `timeout` and `attempts`, a truncated UDP answer asked again over TCP.
//! It runs in a handler's forked process, which the loop kills at its
//! deadline; the failures read as std's did with musl's texts.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What `/etc/resolv.conf` says, with musl's defaults and limits.
#[derive(Debug, PartialEq)]
pub(crate) struct Conf {
    pub(crate) servers: Vec<IpAddr>,
    pub(crate) search: Vec<String>,
    pub(crate) ndots: usize,
    pub(crate) timeout: u64,
    pub(crate) attempts: u64,
}

/// musl's texts (`gai_strerror`) behind std's prefix.
pub(crate) const NO_NAME: &str = "failed to lookup address information: Name does not resolve";
pub(crate) const TRY_AGAIN: &str = "failed to lookup address information: Try again";
const FAIL: &str = "failed to lookup address information: Non-recoverable error";
const NO_DATA: &str = "failed to lookup address information: Name has no usable address";

/// The leading number of `s`, if it starts with a digit.
fn number(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    // Overlong numbers saturate: each is clamped below.
    (digits > 0).then(|| s[..digits].parse().unwrap_or(u64::MAX))
}

/// Parses resolv.conf as musl: at most three nameservers, the last
/// `search` or `domain` line, options clamped (ndots 15, attempts 10,
/// timeout 60); no nameserver means 127.0.0.1.
pub(crate) fn parse_conf(text: &str) -> Conf {
    let mut conf = Conf {
        servers: Vec::new(),
        search: Vec::new(),
        ndots: 1,
        timeout: 5,
        attempts: 2,
    };
    for line in text.lines() {
        let Some(gap) = line.find([' ', '\t']) else {
            continue;
        };
        let (word, rest) = (&line[..gap], line[gap..].trim_ascii());
        let option = |key: &str, max: u64| {
            let at = crate::os::text::find(line, key)? + key.len();
            number(&line[at..]).map(|v| v.min(max))
        };
        match word {
            "options" => {
                if let Some(v) = option("ndots:", 15) {
                    conf.ndots = v as usize;
                }
                if let Some(v) = option("attempts:", 10) {
                    conf.attempts = v;
                }
                if let Some(v) = option("timeout:", 60) {
                    conf.timeout = v;
                }
            }
            "nameserver" if conf.servers.len() < 3 => {
                let addr = rest.split_ascii_whitespace().next().unwrap_or("");
                if let Ok(ip) = addr.parse() {
                    conf.servers.push(ip);
                }
            }
            "search" | "domain" => {
                conf.search = rest.split_ascii_whitespace().map(String::from).collect();
            }
            _ => {}
        }
    }
    if conf.servers.is_empty() {
        conf.servers.push(IpAddr::from([127, 0, 0, 1]));
    }
    conf
}

/// The addresses `/etc/hosts` gives `name` (exact, case-sensitive, as musl).
pub(crate) fn from_hosts(text: &str, name: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_ascii_whitespace();
        let Some(ip) = fields.next() else { continue };
        if fields.any(|n| n == name) {
            if let Ok(ip) = ip.parse() {
                found.push(ip);
            }
        }
    }
    found
}

/// A query for `name` (no trailing dot), `qtype` 1 (A) or 28 (AAAA), with
/// recursion desired; `None` if a label is empty or too long.
pub(crate) fn query(id: u16, name: &str, qtype: u8) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, qtype, 0, 1]);
    (q.len() <= 12 + 255 + 4).then_some(q)
}

/// Skips the (possibly compressed) name at `at`: where what follows begins.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)? as usize;
        match len {
            0 => return Some(at + 1),
            l if l >= 0xc0 => return Some(at + 2),
            l => at += l + 1,
        }
    }
}

/// The addresses of type `qtype` in the answer section of `msg`.
pub(crate) fn answers(msg: &[u8], qtype: u8, out: &mut Vec<IpAddr>) {
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    if msg.len() < 12 {
        return;
    }
    let (questions, records) = (count(4), count(6));
    let mut at = 12;
    for _ in 0..questions {
        match skip_name(msg, at) {
            Some(next) => at = next + 4,
            None => return,
        }
    }
    for _ in 0..records {
        let Some(next) = skip_name(msg, at) else {
            return;
        };
        let Some(head) = msg.get(next..next + 10) else {
            return;
        };
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let Some(data) = msg.get(next + 10..next + 10 + len) else {
            return;
        };
        if head[0] == 0 && head[1] == qtype && out.len() < 48 {
            if let Ok(v4) = <[u8; 4]>::try_from(data) {
                out.push(IpAddr::from(v4));
            } else if let Ok(v6) = <[u8; 16]>::try_from(data) {
                out.push(IpAddr::from(v6));
            }
        }
        at = next + 10 + len;
    }
}

/// Sends both queries to every nameserver, again each `timeout/attempts`,
/// until both are answered (NOERROR or NXDOMAIN) or `timeout` passes.
/// A SERVFAIL is asked again at once (twice per query); other codes are
/// ignored, as musl does.
fn exchange(conf: &Conf, queries: &[Vec<u8>; 2]) -> Result<[Vec<u8>; 2], &'static str> {
    // One socket for every server: IPv6 (IPv4 ones mapped) if any is
    // IPv6 and the kernel has IPv6, else IPv4 for the IPv4 ones (as musl).
    let any_v6 = conf.servers.iter().any(IpAddr::is_ipv6);
    let v6_sock = any_v6
        .then(|| UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).ok())
        .flatten();
    let v6 = v6_sock.is_some();
    let sock = match v6_sock {
        Some(sock) => sock,
        None => UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).map_err(|_| TRY_AGAIN)?,
    };
    let servers: Vec<SocketAddr> = conf
        .servers
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) if v6 => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) if !v6 => None,
            ip => Some(*ip),
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        return Err(TRY_AGAIN);
    }
    let timeout = Duration::from_secs(conf.timeout);
    let retry = timeout / conf.attempts.max(1) as u32;
    let start = Instant::now();
    let mut got: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut next_send = start;
    let mut servfail_retries = 0;
    let mut buf = [0u8; 4800];
    loop {
        let now = Instant::now();
        if got.iter().all(|a| !a.is_empty()) {
            return Ok(got);
        }
        if now.duration_since(start) >= timeout {
            return Ok(got);
        }
        if now >= next_send {
            for (q, a) in queries.iter().zip(&got) {
                if a.is_empty() {
                    for s in &servers {
                        let _ = sock.send_to(q, s);
                    }
                }
            }
            next_send = now + retry;
            servfail_retries = 4;
        }
        let wait = next_send.min(start + timeout) - now;
        let _ = sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let reply = &buf[..len];
        if len < 4 || !servers.contains(&from) {
            continue;
        }
        let Some(i) = (0..2).find(|&i| got[i].is_empty() && reply[..2] == queries[i][..2]) else {
            continue;
        };
        match reply[3] & 15 {
            0 | 3 => {}
            2 => {
                if servfail_retries > 0 {
                    servfail_retries -= 1;
                    let _ = sock.send_to(&queries[i], from);
                }
                continue;
            }
            _ => continue,
        }
        got[i] = if reply[2] & 2 != 0 {
            // Truncated: the whole answer over TCP, else the part.
            tcp(from, &queries[i], start + timeout).unwrap_or_else(|| reply.to_vec())
        } else {
            reply.to_vec()
        };
    }
}

/// The answer to `query` from `server` over TCP, before `deadline`.
fn tcp(server: SocketAddr, query: &[u8], deadline: Instant) -> Option<Vec<u8>> {
    let left = deadline.checked_duration_since(Instant::now())?;
    let mut s = TcpStream::connect_timeout(&server, left).ok()?;
    s.set_read_timeout(Some(left)).ok()?;
    let mut msg = (query.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(query);
    s.write_all(&msg).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut answer = vec![0; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut answer).ok()?;
    Some(answer)
}

/// One name asked of DNS: `Ok(None)` for NXDOMAIN (the search goes on).
fn from_dns(conf: &Conf, name: &str) -> Result<Option<Vec<IpAddr>>, &'static str> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let id = (nanos ^ std::process::id()) as u16;
    let (Some(a), Some(aaaa)) = (query(id, name, 1), query(id.wrapping_add(1), name, 28)) else {
        return Ok(None);
    };
    let replies = exchange(conf, &[a, aaaa])?;
    for r in &replies {
        match r.get(3).map(|c| c & 15) {
            None | Some(2) => return Err(TRY_AGAIN),
            Some(3) => return Ok(None),
            Some(0) => {}
            Some(_) => return Err(FAIL),
        }
    }
    let mut found = Vec::new();
    answers(&replies[1], 28, &mut found);
    answers(&replies[0], 1, &mut found);
    if found.is_empty() {
        return Err(NO_DATA);
    }
    Ok(Some(found))
}

/// The names to ask, in order: with each search domain first unless `name`
/// has `ndots` dots or ends in one (then as given only), as musl.
pub(crate) fn candidates(conf: &Conf, name: &str) -> Vec<String> {
    let absolute = name.ends_with('.');
    let bare = name.strip_suffix('.').unwrap_or(name);
    let mut names = Vec::new();
    if !absolute && name.bytes().filter(|&b| b == b'.').count() < conf.ndots {
        for domain in &conf.search {
            if bare.len() + domain.len() < 255 {
                names.push(format!("{bare}.{domain}"));
            }
        }
    }
    names.push(bare.to_string());
    names
}

/// musl's order of several addresses (RFC 6724, the parts that matter
/// here): reachable ones first (a route exists), then by precedence: ::1,
/// other IPv6, IPv4, unique-local IPv6. Stable otherwise.
fn order(addrs: &mut Vec<IpAddr>) {
    if addrs.len() < 2 || !addrs.iter().any(IpAddr::is_ipv6) {
        return;
    }
    let rank = |ip: &IpAddr| {
        let any = match ip {
            IpAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let reachable = UdpSocket::bind(SocketAddr::new(any, 0))
            .and_then(|s| s.connect(SocketAddr::new(*ip, 65535)))
            .is_ok();
        let class = match ip {
            IpAddr::V6(v6) if v6.is_loopback() => 0,
            IpAddr::V6(v6) if v6.segments()[0] & 0xfe00 == 0xfc00 => 3,
            IpAddr::V6(_) => 1,
            IpAddr::V4(_) => 2,
        };
        class + if reachable { 0 } else { 4 }
    };
    // At most 48 addresses: eight passes cost less code than a sort.
    let ranks: Vec<u8> = addrs.iter().map(rank).collect();
    let mut sorted = Vec::with_capacity(addrs.len());
    for r in 0..8 {
        for (ip, _) in addrs.iter().zip(&ranks).filter(|(_, &k)| k == r) {
            sorted.push(*ip);
        }
    }
    *addrs = sorted;
}

/// The addresses of `host` (an IP literal, not bracketed, or a name).
pub fn lookup(host: &str) -> Result<Vec<IpAddr>, &'static str> {
    let read = |path: &str| {
        let bytes = crate::os::file::read_regular(path.as_ref(), 1 << 20);
        String::from_utf8_lossy(&bytes.ok().flatten().unwrap_or_default()).into_owned()
    };
    resolve(host, &read("/etc/hosts"), || {
        parse_conf(&read("/etc/resolv.conf"))
    })
}

/// [`lookup`] with the hosts file's text and resolv.conf given.
pub(crate) fn resolve(
    host: &str,
    hosts: &str,
    conf: impl FnOnce() -> Conf,
) -> Result<Vec<IpAddr>, &'static str> {
    if let Ok(ip) = host.parse() {
        return Ok(vec![ip]);
    }
    if host.is_empty() || host.len() > 254 || host.ends_with("..") || host == "." {
        return Err(NO_NAME);
    }
    let mut found = from_hosts(hosts, host);
    if found.is_empty() {
        let conf = conf();
        for name in candidates(&conf, host) {
            if let Some(addrs) = from_dns(&conf, &name)? {
                found = addrs;
                break;
            }
        }
    }
    if found.is_empty() {
        return Err(NO_NAME);
    }
    order(&mut found);
    Ok(found)
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
