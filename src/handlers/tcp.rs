//! The `tcpSocket` handler: success when a TCP connection opens (it is
//! closed at once).
//!
//! The kubelet never connects for a tcpSocket lifecycle hook (it is
//! deprecated there and fails as an invalid handler); hookinit connects,
//! which is what users who write one expect, and logs the deprecation.

use crate::handlers::net::{dial, DialError};
use crate::handlers::{Caller, Outcome};
use crate::spec::handler::host_port;
use std::time::{Duration, Instant};

/// Without a deadline a hook's connect attempt still gives up after this long.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `host:port` within `budget`. A hook words a failure its own
/// way (`connect to ...`); a probe as the kubelet's Go dialer (`dial tcp ...`).
pub fn connect(host: &str, port: u16, caller: Caller, budget: Option<Duration>) -> Outcome {
    let budget = budget.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let deadline = Instant::now() + budget.max(Duration::from_millis(1));
    let Err(e) = dial(host, port, Some(deadline)) else {
        return Outcome::success(String::new());
    };
    let target = host_port(host, port);
    Outcome::failure(match caller {
        Caller::Hook => e.text(&target),
        Caller::Probe => match e {
            DialError::Lookup(e) => format!("dial tcp {target}: lookup: {e}"),
            DialError::NoAddress => format!("dial tcp {target}: no address"),
            DialError::Timeout => format!("dial tcp {target}: i/o timeout"),
            DialError::Connect(_, e) => format!("dial tcp {target}: connect: {e}"),
        },
    })
}
