//! The line a subscriber's connection logs when it ends, the same for every transport.

use std::net::SocketAddr;
use std::time::Instant;

use crate::hub::Subscription;
use crate::metrics::Close;

/// What a subscriber's closing log line reports.
pub(crate) struct ConnLog {
    pub peer: SocketAddr,
    pub opened: Instant,
    /// Events written to it.
    pub events: u64,
    /// Why it ended, once the server decided it.
    pub ended: Option<Close>,
}

impl ConnLog {
    pub fn new(peer: SocketAddr) -> Self {
        ConnLog {
            peer,
            opened: Instant::now(),
            events: 0,
            ended: None,
        }
    }

    /// Why the connection ended: what the server recorded; else lagging when the hub evicted
    /// it while it sat behind a full socket (the connection was cut); else the client left.
    pub fn why(&self, sub: &Subscription) -> Close {
        match self.ended {
            Some(why) => why,
            None if sub.evicted() => Close::Lagging,
            None => Close::Client,
        }
    }

    /// Logs the end of a `what` (`stream`, `websocket`). A close the server made for cause (a
    /// lagging or unresponsive client, a bad message) is INFO; a client leaving and a shutdown
    /// are DEBUG, as opening is: one reconnect wave of 10 000 subscribers would otherwise print
    /// 10 000 lines.
    pub fn close(&self, what: &'static str, why: Close) {
        let duration_ms = self.opened.elapsed().as_millis() as u64;
        let (peer, events, reason) = (self.peer, self.events, why.label());
        match why {
            Close::Client | Close::Shutdown => {
                tracing::debug!(%peer, duration_ms, events, reason, "{what} closed")
            }
            Close::Lagging | Close::Unresponsive | Close::BadMessage => {
                tracing::info!(%peer, duration_ms, events, reason, "{what} closed")
            }
        }
    }
}
