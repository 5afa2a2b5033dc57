//! The `tcpSocket` handler: success when a TCP connection opens.
//!
//! The kubelet never connects for a tcpSocket lifecycle hook (it is
//! deprecated there and fails as an invalid handler); hookinit connects,
//! which is what users who write one expect, and logs the deprecation.

use crate::handlers::net::{dial, DialError};
use crate::spec::handler::host_port;
use std::time::{Duration, Instant};

/// Without a deadline a connect attempt still gives up after this long.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn connect(host: &str, port: u16, budget: Option<Duration>) -> Result<(), String> {
    let budget = budget.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let deadline = Instant::now() + budget.max(Duration::from_millis(1));
    dial(host, port, Some(deadline))
        .map(drop)
        .map_err(|e| e.text(&host_port(host, port)))
}

/// The kubelet's tcpSocket probe: success when a connection opens within
/// `timeout` (closed at once), else the dial error as Go words it.
pub fn probe(host: &str, port: u16, timeout: Duration) -> (crate::handlers::runner::Kind, String) {
    use crate::handlers::runner::Kind;
    let target = host_port(host, port);
    let deadline = Instant::now() + timeout.max(Duration::from_millis(1));
    match dial(host, port, Some(deadline)) {
        Ok(_) => (Kind::Success, String::new()),
        Err(e) => (
            Kind::Failure,
            match e {
                DialError::Lookup(e) => format!("dial tcp {target}: lookup: {e}"),
                DialError::NoAddress => format!("dial tcp {target}: no address"),
                DialError::Timeout => format!("dial tcp {target}: i/o timeout"),
                DialError::Connect(_, e) => format!("dial tcp {target}: connect: {e}"),
            },
        ),
    }
}
