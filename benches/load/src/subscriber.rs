//! One SSE connection: bind a source address, connect, `GET` the stream, then read and account
//! for every event until told to stop. A stalled reader stops reading after the response head
//! (its socket fills, the server sees a slow consumer) and only drains what is left at the end,
//! to learn whether the server ended its stream.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use ssekit_parser::{Frame, Parser};
use tokio::net::TcpSocket;
use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout, Instant};

use super::latency::Latencies;
use super::sequence::{unix_nanos, Stamp, Tally};
use super::target::LoopbackUrl;

/// How long a stalled reader drains its backlog at the end, at most.
const STALLED_DRAIN: Duration = Duration::from_secs(2);
/// Cap on each connection's read buffer. hyper's adaptive buffer otherwise grows to ~400 KB
/// under coalesced writes; buffers that large are mapped and unmapped by the allocator on
/// every regrowth, and zeroing the fresh pages took a third of the load generator's CPU.
const READ_BUFFER_MAX: usize = 64 * 1024;
/// A stalled reader's drain ends after this long without data.
const STALLED_IDLE: Duration = Duration::from_millis(300);

/// What a connection does once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and measures every event.
    Reader,
    /// Stops reading after the response head.
    Stalled,
}

/// State shared by every connection and the orchestrator.
#[derive(Default)]
pub struct Shared {
    /// Delivery latencies of the readers.
    pub latencies: Latencies,
    /// Publisher events received by readers so far.
    pub delivered: AtomicU64,
    /// Connections whose response head was a `200` event stream.
    pub connected: AtomicUsize,
    /// Connections that could not be opened.
    pub failed: AtomicUsize,
}

/// Where and how one connection connects.
pub struct Plan {
    /// The event stream.
    pub url: Arc<LoopbackUrl>,
    /// Source address to bind before connecting (`None`: the kernel's choice).
    pub source: Option<Ipv4Addr>,
    /// Reader or stalled.
    pub role: Role,
    /// Bound on connect plus response head.
    pub connect_timeout: Duration,
}

/// How a stream stood when the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Still open: the run stopped it.
    Open,
    /// The server ended the response (e.g. evicted as a slow consumer).
    ServerClosed,
    /// The connection failed while reading.
    Error(String),
}

/// What one connection saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its role.
    pub role: Role,
    /// `Err` with the reason when it never connected.
    pub result: Result<(Tally, End), String>,
}

/// Opens connection `index` and reads it until `stop` turns true.
pub async fn run(
    index: usize,
    plan: Plan,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let opened = {
        let _permit = gate.acquire().await;
        timeout(plan.connect_timeout, open(&plan)).await
    };
    let body = match opened {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return failed(&shared, plan.role, e),
        Err(_) => {
            return failed(
                &shared,
                plan.role,
                "connect and response head timed out".into(),
            )
        }
    };
    shared.connected.fetch_add(1, Relaxed);
    let mut reader = Reader {
        index,
        body,
        parser: Parser::new(),
        tally: Tally::default(),
        latencies: Vec::new(),
        shared,
    };
    let end = match plan.role {
        Role::Reader => reader.read_until(&mut stop).await,
        Role::Stalled => {
            let _ = stop.wait_for(|s| *s).await;
            reader.drain().await
        }
    };
    Outcome {
        role: plan.role,
        result: Ok((reader.tally, end)),
    }
}

fn failed(shared: &Shared, role: Role, why: String) -> Outcome {
    shared.failed.fetch_add(1, Relaxed);
    Outcome {
        role,
        result: Err(why),
    }
}

/// Connects and sends the request; returns the body of a `200 text/event-stream` answer.
async fn open(plan: &Plan) -> Result<Incoming, String> {
    let tcp = connect(plan.url.addr, plan.source)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(READ_BUFFER_MAX)
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(plan.url.path.as_str())
        .header(hyper::header::HOST, plan.url.host())
        .header(hyper::header::ACCEPT, "text/event-stream")
        .header(hyper::header::CACHE_CONTROL, "no-cache")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    if res.status() != hyper::StatusCode::OK {
        return Err(format!("status {}", res.status().as_u16()));
    }
    let content_type = res
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("text/event-stream") {
        return Err(format!(
            "content-type `{content_type}`, not text/event-stream"
        ));
    }
    Ok(res.into_body())
}

async fn connect(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        // Ports of earlier runs linger in TIME_WAIT (the client closes first); without this the
        // port search fails with `Address already in use` long before the range is used up.
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((ip, 0)))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

struct Reader {
    index: usize,
    body: Incoming,
    parser: Parser,
    tally: Tally,
    /// Latencies of the read being accounted for (reused).
    latencies: Vec<u64>,
    shared: Arc<Shared>,
}

/// Whether an event's latency is recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Measure {
    Latency,
    CountOnly,
}

impl Reader {
    async fn read_until(&mut self, stop: &mut watch::Receiver<bool>) -> End {
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return End::Open,
                frame = self.body.frame() => match frame {
                    None => return End::ServerClosed,
                    Some(Err(e)) => return End::Error(e.to_string()),
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            self.account(data, Measure::Latency);
                        }
                    }
                },
            }
        }
    }

    /// Reads what a stalled connection has waiting, briefly.
    async fn drain(&mut self) -> End {
        let deadline = Instant::now() + STALLED_DRAIN;
        while Instant::now() < deadline {
            match timeout(STALLED_IDLE, self.body.frame()).await {
                Err(_) => return End::Open,
                Ok(None) => return End::ServerClosed,
                Ok(Some(Err(e))) => return End::Error(e.to_string()),
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        self.account(data, Measure::CountOnly);
                    }
                }
            }
        }
        End::Open
    }

    /// Parses one read and accounts for its events. The shared histogram and counter are
    /// touched once per read, not per event: with coalesced writes a read holds a hundred
    /// events, and taking a shared lock for each made the load generator its own bottleneck.
    fn account(&mut self, chunk: &[u8], measure: Measure) {
        let now = unix_nanos();
        self.latencies.clear();
        let mut feed = self.parser.feed(chunk);
        while let Some(frame) = feed.next_frame() {
            let Ok(Frame::Event(event)) = frame else {
                continue;
            };
            let Some(stamp) = Stamp::from_data(event.data) else {
                self.tally.foreign += 1;
                continue;
            };
            self.tally.see(stamp.n);
            if measure == Measure::Latency {
                self.latencies.push(now.saturating_sub(stamp.t) / 1_000);
            }
        }
        if !self.latencies.is_empty() {
            self.shared
                .latencies
                .record_all(self.index, &self.latencies);
            self.shared
                .delivered
                .fetch_add(self.latencies.len() as u64, Relaxed);
        }
    }
}
