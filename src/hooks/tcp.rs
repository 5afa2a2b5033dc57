//! The `tcpSocket` handler: success when a TCP connection opens.
//!
//! The kubelet never connects for a tcpSocket lifecycle hook (it is
//! deprecated there and fails as an invalid handler); hookinit connects,
//! which is what users who write one expect, and logs the deprecation.

use crate::lifecycle::host_port;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Without a deadline a connect attempt still gives up after this long.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn connect(host: &str, port: u16, budget: Option<Duration>) -> Result<(), String> {
    let target = host_port(host, port);
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {e}"))?;
    let timeout = budget
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
        .max(Duration::from_millis(1));
    let mut last = format!("{target}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("connect to {target}: {e}"),
        }
    }
    Err(last)
}

/// The kubelet's tcpSocket probe: success when a connection opens within
/// `timeout` (closed at once), else the dial error.
pub fn probe(host: &str, port: u16, timeout: Duration) -> (crate::runner::Kind, String) {
    use crate::runner::Kind;
    let target = host_port(host, port);
    let addrs = match (host, port).to_socket_addrs() {
        Ok(a) => a,
        Err(e) => return (Kind::Failure, format!("dial tcp {target}: lookup: {e}")),
    };
    let mut last = format!("dial tcp {target}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
            Ok(_) => return (Kind::Success, String::new()),
            Err(e) => last = format!("dial tcp {target}: connect: {e}"),
        }
    }
    (Kind::Failure, last)
}
