use super::*;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;

const K8S: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\n\
                   nameserver 10.96.0.10\n\
                   options ndots:5 timeout:2 attempts:3\n";

#[test]
fn resolv_conf_as_musl_reads_it() {
    let c = parse_conf(K8S);
    assert_eq!(c.servers, vec![IpAddr::from([10, 96, 0, 10])]);
    assert_eq!(
        c.search,
        [
            "default.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local"
        ]
    );
    assert_eq!((c.ndots, c.timeout, c.attempts), (5, 2, 3));
    // Defaults; clamps; three servers at most; the last search line wins.
    let c = parse_conf(
        "domain a.example\nsearch b.example\n# nameserver 1.1.1.1\n\
         nameserver 10.0.0.1\nnameserver ::1\nnameserver bad\nnameserver 10.0.0.3\n\
         nameserver 10.0.0.4\noptions ndots:20 attempts:99 timeout:999\n",
    );
    assert_eq!(c.search, ["b.example"]);
    assert_eq!(
        c.servers,
        ["10.0.0.1", "::1", "10.0.0.3"].map(|s| s.parse::<IpAddr>().unwrap())
    );
    assert_eq!((c.ndots, c.timeout, c.attempts), (15, 60, 10));
    let c = parse_conf("");
    assert_eq!(c.servers, vec![IpAddr::from([127, 0, 0, 1])]);
    assert_eq!((c.ndots, c.timeout, c.attempts), (1, 5, 2));
}

#[test]
fn hosts_match_whole_names_after_the_address() {
    let hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost # x\n\
                 10.1.2.3 web web.local\n10.9.9.9 webby # web\n";
    let ips = |name| from_hosts(hosts, name);
    assert_eq!(
        ips("localhost"),
        ["127.0.0.1", "::1"].map(|s| s.parse::<IpAddr>().unwrap())
    );
    assert_eq!(ips("web"), vec![IpAddr::from([10, 1, 2, 3])]);
    assert_eq!(ips("web.local"), vec![IpAddr::from([10, 1, 2, 3])]);
    assert!(ips("we").is_empty());
    assert!(ips("x").is_empty());
}

#[test]
fn search_domains_come_first_below_ndots() {
    let c = parse_conf(K8S);
    assert_eq!(
        candidates(&c, "web"),
        [
            "web.default.svc.cluster.local",
            "web.svc.cluster.local",
            "web.cluster.local",
            "web"
        ]
    );
    assert_eq!(candidates(&c, "a.b.c.d.e.f"), ["a.b.c.d.e.f"]);
    assert_eq!(candidates(&c, "web."), ["web"]);
}

/// A DNS server on `ip`:53 (UDP and TCP) answering with `answer`, given
/// the name and type asked and how many queries came before; `None`: no
/// reply. Answers are (rcode, truncated, addresses).
fn server(
    ip: [u8; 4],
    answer: impl Fn(&str, u8, u8) -> Option<(u8, bool, Vec<IpAddr>)> + Send + Sync + 'static,
) -> Conf {
    let answer = Arc::new(answer);
    let seen = Arc::new(AtomicU8::new(0));
    let reply = {
        let (answer, seen) = (answer.clone(), seen.clone());
        move |q: &[u8], tcp: bool| -> Option<Vec<u8>> {
            let mut at = 12;
            let mut labels = Vec::new();
            while q[at] != 0 {
                let l = q[at] as usize;
                labels.push(
                    std::str::from_utf8(&q[at + 1..at + 1 + l])
                        .unwrap()
                        .to_string(),
                );
                at += l + 1;
            }
            let qtype = q[at + 2];
            let end = at + 5;
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (rcode, truncated, mut ips) = answer(&labels.join("."), qtype, n)?;
            if truncated && !tcp {
                ips.truncate(1);
            }
            let mut r = q[..end].to_vec();
            r[2] = 0x81 | if truncated && !tcp { 2 } else { 0 };
            r[3] = 0x80 | rcode;
            r[7] = ips.len() as u8;
            for ip in ips {
                r.extend_from_slice(&[0xc0, 12, 0, qtype, 0, 1, 0, 0, 0, 60]);
                let data = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                r.extend_from_slice(&[0, data.len() as u8]);
                r.extend_from_slice(&data);
            }
            Some(r)
        }
    };
    let udp = UdpSocket::bind(SocketAddr::from((ip, 53))).unwrap();
    let tcp = std::net::TcpListener::bind(SocketAddr::from((ip, 53))).unwrap();
    let reply2 = reply.clone();
    thread::spawn(move || {
        let mut buf = [0; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            if let Some(r) = reply(&buf[..n], false) {
                udp.send_to(&r, from).unwrap();
            }
        }
    });
    thread::spawn(move || {
        while let Ok((mut s, _)) = tcp.accept() {
            let mut len = [0; 2];
            s.read_exact(&mut len).unwrap();
            let mut q = vec![0; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut q).unwrap();
            if let Some(r) = reply2(&q, true) {
                s.write_all(&(r.len() as u16).to_be_bytes()).unwrap();
                s.write_all(&r).unwrap();
            }
        }
    });
    let mut conf = parse_conf(K8S);
    conf.servers = vec![IpAddr::from(ip)];
    conf.timeout = 1;
    conf.attempts = 1;
    conf
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn a_kubernetes_service_name_resolves_through_the_search_list() {
    let conf = server([127, 53, 0, 1], |name, qtype, _| match name {
        "web.svc.cluster.local" if qtype == 1 => Some((0, false, vec![ip("10.0.0.7")])),
        "web.svc.cluster.local" => Some((0, false, vec![])),
        _ => Some((3, false, vec![])),
    });
    assert_eq!(resolve("web", "", || conf), Ok(vec![ip("10.0.0.7")]));
}

#[test]
fn both_families_are_asked_and_every_address_is_kept() {
    let conf = server([127, 53, 0, 2], |name, qtype, _| match (name, qtype) {
        ("db.example", 1) => Some((0, false, vec![ip("10.0.0.1"), ip("10.0.0.2")])),
        ("db.example", 28) => Some((0, false, vec![ip("fd00::1")])),
        _ => Some((3, false, vec![])),
    });
    let mut found = resolve("db.example.", "", || conf).unwrap();
    found.sort();
    assert_eq!(found, [ip("10.0.0.1"), ip("10.0.0.2"), ip("fd00::1")]);
}

#[test]
fn hosts_and_literals_need_no_server() {
    let none = || panic!("no DNS wanted");
    assert_eq!(resolve("10.1.1.1", "", none), Ok(vec![ip("10.1.1.1")]));
    assert_eq!(resolve("::1", "", none), Ok(vec![ip("::1")]));
    assert_eq!(
        resolve("web", "10.2.2.2 web\n", none),
        Ok(vec![ip("10.2.2.2")])
    );
    assert_eq!(resolve("", "", none), Err(NO_NAME));
    assert_eq!(resolve("a..", "", none), Err(NO_NAME));
}

#[test]
fn failures_read_as_musl_words_them() {
    // NXDOMAIN everywhere.
    let conf = server([127, 53, 0, 3], |_, _, _| Some((3, false, vec![])));
    assert_eq!(resolve("nothing", "", || conf), Err(NO_NAME));
    // An empty NOERROR stops the search (musl does not go on).
    let conf = server([127, 53, 0, 4], |name, _, _| {
        Some((
            if name == "x.default.svc.cluster.local" {
                0
            } else {
                3
            },
            false,
            vec![],
        ))
    });
    assert_eq!(resolve("x", "", || conf), Err(NO_DATA));
    // SERVFAIL, again and again, until the timeout.
    let conf = server([127, 53, 0, 5], |_, _, _| Some((2, false, vec![])));
    let start = Instant::now();
    assert_eq!(resolve("x.y.z.a.b.c", "", || conf), Err(TRY_AGAIN));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // No answer at all.
    let conf = server([127, 53, 0, 6], |_, _, _| None);
    assert_eq!(resolve("x.y.z.a.b.c", "", || conf), Err(TRY_AGAIN));
}

#[test]
fn a_lost_query_is_sent_again_after_timeout_over_attempts() {
    // The first two queries (A and AAAA) are dropped.
    let mut conf = server([127, 53, 0, 7], |_, qtype, n| {
        (n >= 2).then(|| {
            (
                0,
                false,
                if qtype == 1 {
                    vec![ip("10.3.3.3")]
                } else {
                    vec![]
                },
            )
        })
    });
    conf.timeout = 2;
    conf.attempts = 4;
    let start = Instant::now();
    assert_eq!(
        resolve("a.b.c.d.e.f", "", || conf),
        Ok(vec![ip("10.3.3.3")])
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp() {
    let conf = server([127, 53, 0, 8], |_, qtype, _| {
        Some(if qtype == 1 {
            (
                0,
                true,
                (1..=40).map(|i| IpAddr::from([10, 4, 0, i])).collect(),
            )
        } else {
            (0, false, vec![])
        })
    });
    let found = resolve("many.example.", "", || conf).unwrap();
    assert_eq!(found.len(), 40);
}

#[test]
fn reachable_ipv6_comes_before_ipv4_and_unreachable_last() {
    let mut addrs = vec![ip("127.0.0.1"), ip("::1")];
    order(&mut addrs);
    let v6_loopback = UdpSocket::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).is_ok();
    let expected = if v6_loopback {
        ["::1", "127.0.0.1"]
    } else {
        ["127.0.0.1", "::1"]
    };
    assert_eq!(addrs, expected.map(ip));
    // IPv4 alone keeps the server's order.
    let mut addrs = vec![ip("10.0.0.2"), ip("10.0.0.1")];
    order(&mut addrs);
    assert_eq!(addrs, [ip("10.0.0.2"), ip("10.0.0.1")]);
}

#[test]
fn an_ipv4_server_answers_beside_an_ipv6_one() {
    let mut conf = server([127, 53, 0, 9], |_, qtype, _| {
        Some((
            0,
            false,
            if qtype == 1 {
                vec![ip("10.5.5.5")]
            } else {
                vec![]
            },
        ))
    });
    // Through an IPv6 socket (the IPv4 server mapped), or IPv4 alone
    // where the kernel has no IPv6.
    conf.servers.insert(0, ip("fd00::53"));
    assert_eq!(
        resolve("a.b.c.d.e.f", "", || conf),
        Ok(vec![ip("10.5.5.5")])
    );
}
