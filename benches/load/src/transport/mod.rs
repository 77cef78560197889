//! The four ways a subscriber can follow the hub, behind one interface: open (fresh, or
//! resuming after an event id), then read whatever arrives and hand each event to an
//! [`Account`]. Every socket is [`Counted`], so the bytes each transport costs per event are
//! measured the same way for all four.
//!
//! - [`sse`]: `GET` an event stream (resume: `Last-Event-ID`);
//! - [`ws`]: a WebSocket, one JSON text frame per event (resume: `?last_event_id=`);
//! - [`poll`]: `GET /poll?after=ID&timeout=S` in a loop, held by the server until an event
//!   comes (long polling) or answered at once every `--poll-interval` (short polling).

pub mod poll;
pub mod sse;
pub mod ws;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use super::account::Account;
use super::target::LoopbackUrl;
use super::wire::{Counted, WireCount};

/// How subscribers receive events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Server-Sent Events: one long `GET`, events as `text/event-stream`.
    #[default]
    Sse,
    /// WebSocket: one JSON text frame per event.
    Ws,
    /// Long polling: `GET /poll?after=ID&timeout=S`, held until an event comes.
    LongPoll,
    /// Short polling: `GET /poll?after=ID&timeout=0` every `--poll-interval`.
    Poll,
}

impl Transport {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::Ws => "ws",
            Transport::LongPoll => "long-poll",
            Transport::Poll => "poll",
        }
    }

    /// The reference server's path for this transport.
    pub fn reference_path(self) -> &'static str {
        match self {
            Transport::Sse => "/stream",
            Transport::Ws => "/ws",
            Transport::LongPoll | Transport::Poll => "/poll",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and how one subscriber connects.
#[derive(Clone)]
pub struct Dial {
    /// The transport.
    pub transport: Transport,
    /// The endpoint (event stream, WebSocket or poll URL).
    pub url: Arc<LoopbackUrl>,
    /// Source address to bind before connecting (`None`: the kernel's choice).
    pub source: Option<Ipv4Addr>,
    /// Where socket traffic is counted.
    pub wire: Arc<WireCount>,
    /// Short polling: time from one poll to the next.
    pub poll_interval: Duration,
}

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The connection is still open (events, if any, went to the account).
    Open,
    /// The server ended it.
    Closed,
}

/// One open subscription.
pub enum Conn {
    /// An event stream.
    Sse(sse::SseConn),
    /// A WebSocket.
    Ws(ws::WsConn),
    /// A polling loop (long or short).
    Poll(poll::PollConn),
}

impl Conn {
    /// Connects; with `resume`, asks for what followed that event id. Events the opening
    /// answer already carries (a poll's replay) and reset signals go to `account`.
    pub async fn open(
        dial: &Dial,
        resume: Option<&str>,
        account: &mut Account,
    ) -> Result<Conn, String> {
        Ok(match dial.transport {
            Transport::Sse => Conn::Sse(sse::SseConn::open(dial, resume, account).await?),
            Transport::Ws => Conn::Ws(ws::WsConn::open(dial, resume, account).await?),
            Transport::LongPoll | Transport::Poll => {
                Conn::Poll(poll::PollConn::open(dial, resume, account).await?)
            }
        })
    }

    /// Waits for the next data and accounts for its events. Cancel-safe enough for the run's
    /// purposes: a cancelled read is only ever followed by dropping the connection.
    pub async fn read(&mut self, account: &mut Account) -> Result<Progress, String> {
        match self {
            Conn::Sse(c) => c.read(account).await,
            Conn::Ws(c) => c.read(account).await,
            Conn::Poll(c) => c.read(account).await,
        }
    }
}

/// A TCP connection to `addr` from `source`, counted.
pub async fn connect(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    wire: &Arc<WireCount>,
) -> std::io::Result<Counted<TcpStream>> {
    let stream = match socket_for(addr, source, PortChoice::AtConnect)?
        .connect(addr)
        .await
    {
        // `connect` never takes a port that a socket reserved with `bind` holds, on any address
        // (another program's, or an older `ssekit load` still in TIME_WAIT); `bind` only avoids
        // ports held on this source address, so it can still find one.
        Err(e) if source.is_some() && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            socket_for(addr, source, PortChoice::AtBind)?
                .connect(addr)
                .await?
        }
        opened => opened?,
    };
    stream.set_nodelay(true)?;
    Ok(Counted::new(stream, Arc::clone(wire)))
}

/// When a socket bound to a source address gets its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortChoice {
    /// At `connect` (see [`defer_port_choice`]).
    AtConnect,
    /// At `bind`, the fallback.
    AtBind,
}

/// A socket for `addr`, bound to `source` if given.
fn socket_for(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    port: PortChoice,
) -> std::io::Result<TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        // Ports of earlier runs linger in TIME_WAIT (the client closes first); without this the
        // port search fails with `Address already in use` long before the range is used up.
        socket.set_reuseaddr(true)?;
        if port == PortChoice::AtConnect {
            defer_port_choice(&socket)?;
        }
        socket.bind(SocketAddr::from((ip, 0)))?;
    }
    Ok(socket)
}

/// Leaves the source port to `connect` (Linux `IP_BIND_ADDRESS_NO_PORT`), which may reuse a
/// port for another destination and a loopback port in TIME_WAIT. `bind` to port 0 otherwise
/// reserves a port no other socket holds, searching the range in the kernel under a lock: with
/// 10 000 streams open and the 10 000 just closed in TIME_WAIT, that search kept a core of the
/// load generator busy in the kernel and made a reconnect wave of SSE readers (which close with
/// FIN, so their ports wait) several times as long as a WebSocket one (whose sockets end with an
/// RST and leave no TIME_WAIT). A browser never binds: its ports are always chosen at connect.
#[cfg(target_os = "linux")]
fn defer_port_choice(socket: &TcpSocket) -> std::io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
    setsockopt(socket, IpBindAddressNoPort, &true).map_err(std::io::Error::from)
}

/// Elsewhere `bind` chooses the port, as before.
#[cfg(not(target_os = "linux"))]
fn defer_port_choice(_socket: &TcpSocket) -> std::io::Result<()> {
    Ok(())
}

/// `path` with `key=value` appended to its query; `value` is percent-encoded where it is not
/// an unreserved URL character (server ids are, but a foreign server's may not be).
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(path.len() + key.len() + value.len() + 2);
    out.push_str(path);
    out.push(if path.contains('?') { '&' } else { '?' });
    out.push_str(key);
    out.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before `IP_BIND_ADDRESS_NO_PORT`, `bind` took a port at once (a search of the whole range
    /// once most ports were taken); now the port is only chosen by `connect`.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_bound_source_reserves_no_port_until_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let source = Ipv4Addr::new(127, 0, 0, 1);
        let socket = socket_for(addr, Some(source), PortChoice::AtConnect).unwrap();
        assert_eq!(
            socket.local_addr().unwrap(),
            SocketAddr::from((source, 0)),
            "bind reserved a port"
        );
        let stream = socket.connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(local.ip(), source);
        assert_ne!(local.port(), 0);
    }

    #[test]
    fn queries_are_appended_and_escaped() {
        assert_eq!(with_query("/poll", "after", "ab-12"), "/poll?after=ab-12");
        assert_eq!(
            with_query("/ws?topic=a", "last_event_id", "x y&z"),
            "/ws?topic=a&last_event_id=x%20y%26z"
        );
    }
}
