//! Listening, serving connections, background tasks and shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::behaviour::{self, Conduct};
use crate::config::Config;
use crate::direct::{self, Taken};
use crate::error::{PublishError, ServerError};
use crate::http::{self, App, Cors, Peer};
use crate::hub::{ConnControl, Hub, HubLimits, HEARTBEAT_TICKS};
use crate::metrics::{Metrics, MetricsSnapshot};

/// How often lag limits are enforced when heartbeats are slow or off.
const REAPER_PERIOD: Duration = Duration::from_millis(250);
/// Slowloris guard: a client must finish sending request headers within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Dropping it starts a shutdown without waiting for it.
pub struct ServerHandle {
    local_addr: SocketAddr,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

/// Starts a server: binds `config.addr` (port 0 picks a free port), spawns its tasks on the
/// current tokio runtime and returns at once.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ssekit_server::start(ssekit_server::Config::default()).await?;
/// println!("curl -N http://{}/stream", server.local_addr());
/// let id = server.publish(None, Some("greeting"), "hello").await?;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub async fn start(config: Config) -> Result<ServerHandle, ServerError> {
    let behaviour = behaviour::resolve(&config)?;
    let listener = listen(config.addr).map_err(|source| ServerError::Bind {
        addr: config.addr,
        source,
    })?;
    let local_addr = listener.local_addr().map_err(ServerError::LocalAddr)?;
    #[cfg(feature = "tls")]
    let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    #[cfg(not(feature = "tls"))]
    let tls: Option<Tls> = None;
    let metrics = Arc::new(Metrics::default());
    let limits = HubLimits {
        capacity: config.replay,
        capacity_bytes: config.replay_bytes,
        max_lag_events: config.max_lag_events,
        max_lag_bytes: config.max_lag_bytes,
        max_streams: config.max_connections,
    };
    let hub = Arc::new(Hub::new(limits, behaviour, Arc::clone(&metrics)));
    #[cfg(feature = "redis")]
    let (broker, reader) = match &config.redis {
        Some(_) => {
            let (broker, reader) =
                crate::broker::Broker::connect(&config, Arc::clone(&hub)).await?;
            (Some(broker), Some(reader))
        }
        None => (None, None),
    };
    #[cfg(not(feature = "redis"))]
    let broker = None;
    let app = Arc::new(App {
        cors: Cors::new(&config.cors_origins),
        config,
        behaviour,
        hub,
        metrics,
        broker,
        mock_sessions: Default::default(),
    });
    let (stop, stopped) = watch::channel(false);
    #[cfg(feature = "redis")]
    if let Some(reader) = reader {
        tokio::spawn(reader.run(stopped.clone()));
    }
    tokio::spawn(housekeeping(Arc::clone(&app), stopped.clone()));
    if let Some(every) = app.config.tick {
        tokio::spawn(ticker(Arc::clone(&app), every, stopped.clone()));
    }
    let accept = tokio::spawn(accept_loop(listener, Arc::clone(&app), tls, stopped));
    tracing::info!(addr = %local_addr, tls = app.is_tls(), epoch = app.hub.epoch(), misbehave = %app.behaviour.describe(), "listening");
    Ok(ServerHandle {
        local_addr,
        app,
        stop,
        accept: Some(accept),
    })
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The epoch part of this run's ids (`EPOCH-SEQ`).
    pub fn epoch(&self) -> &str {
        self.app.hub.epoch()
    }

    /// Publishes an event in-process, as `POST /publish` does; returns its id.
    pub async fn publish(
        &self,
        topic: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<String, PublishError> {
        self.app.publish(topic, event, data).await
    }

    /// Every metric now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.app.metrics.snapshot()
    }

    /// Graceful shutdown: stops accepting, ends every stream at an event boundary, and cuts
    /// connections that are still open after the grace period (under a second). Under the
    /// `shutdown-hangs` misbehaviour this waits until clients leave by themselves.
    pub fn shutdown(mut self) -> impl Future<Output = ()> {
        let accept = self.accept.take();
        self.begin_shutdown();
        async move {
            if let Some(task) = accept {
                let _ = task.await;
            }
        }
    }

    fn begin_shutdown(&self) {
        if !self.app.behaviour.shutdown_hangs() {
            self.app.hub.close();
        }
        let _ = self.stop.send(true);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.begin_shutdown();
        }
    }
}

/// Connections the kernel completes ahead of `accept`. `TcpListener::bind` asks for 128 (std's
/// value): a burst of more connects than that (a load generator opens 256 at once, a restart
/// brings every client back) overflowed the queue, and each dropped SYN cost its client a
/// 1 s retransmission, the p99 of every reconnect wave. The kernel caps it at `somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// The listening socket, as `TcpListener::bind` makes it (`SO_REUSEADDR` on Unix) but with a
/// backlog for bursts.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The TLS acceptor, or a stand-in that never exists without the `tls` feature.
#[cfg(feature = "tls")]
type Tls = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Tls = std::convert::Infallible;

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<Tls>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    // ALPN chooses the protocol under TLS: both are served whatever `h2c` says.
    let builder = Arc::new(connection_builder(tls.is_some() || app.config.h2c));
    loop {
        tokio::select! {
            _ = stop_signal(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    let peer = Peer { addr, conn: Arc::new(ConnControl::new(addr)), handoff: Default::default() };
                    let (app, builder, stopped) = (Arc::clone(&app), Arc::clone(&builder), stopped.clone());
                    match &tls {
                        #[cfg(feature = "tls")]
                        Some(tls) => conns.spawn(serve_tls(tcp, peer, app, builder, stopped, tls.clone())),
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match *never {},
                        None => conns.spawn(serve(tcp, peer, app, builder, stopped)),
                    };
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    drain(conns, &app).await;
}

/// Waits for connections to finish after the stop signal, then cuts the rest.
async fn drain(mut conns: JoinSet<()>, app: &App) {
    let started = Instant::now();
    let all_done = async { while conns.join_next().await.is_some() {} };
    if app.behaviour.shutdown_hangs() {
        all_done.await;
        return;
    }
    if tokio::time::timeout(app.config.shutdown_grace, all_done)
        .await
        .is_err()
    {
        tracing::warn!(
            left = conns.len(),
            "connections still open after the grace period: cut"
        );
        conns.shutdown().await;
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shut down"
    );
}

fn connection_builder(h2: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    if h2 {
        builder
    } else {
        builder.http1_only()
    }
}

/// Sets up an accepted TCP connection; the guard counts it open until the task ends.
fn accepted(tcp: &TcpStream, peer: &Peer, app: &App) -> OpenConnection {
    let _ = tcp.set_nodelay(true);
    reap_dead_peers(tcp, app.config.heartbeat);
    Metrics::add(&app.metrics.http_connections_open, 1);
    Metrics::add(&app.metrics.http_connections_total, 1);
    tracing::debug!(peer = %peer.addr, "connection accepted");
    OpenConnection {
        metrics: Arc::clone(&app.metrics),
        peer: peer.addr,
        opened: Instant::now(),
    }
}

/// HTTPS: the TLS handshake (bounded like a request head), then hyper, HTTP/2 or HTTP/1.1 as
/// ALPN chose.
#[cfg(feature = "tls")]
async fn serve_tls(
    tcp: TcpStream,
    peer: Peer,
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stopped: watch::Receiver<bool>,
    tls: tokio_rustls::TlsAcceptor,
) {
    let _open = accepted(&tcp, &peer, &app);
    let handshake = tokio::select! {
        r = tokio::time::timeout(HEADER_READ_TIMEOUT, tls.accept(tcp)) => r,
        _ = stop_signal(&mut stopped) => return,
    };
    match handshake {
        Ok(Ok(stream)) => Box::pin(serve_hyper(stream, peer, app, builder, stopped)).await,
        Ok(Err(e)) => tracing::debug!(peer = %peer.addr, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(peer = %peer.addr, "TLS handshake timed out"),
    }
}

async fn serve(
    tcp: TcpStream,
    peer: Peer,
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stopped: watch::Receiver<bool>,
) {
    let _open = accepted(&tcp, &peer, &app);
    #[cfg(feature = "misbehave")]
    if app.config.h2c && app.behaviour.h2_connection_header() {
        let raw_h2 = Box::pin(crate::misbehave::serve_raw_h2_if_preface(tcp, &app, &peer));
        if let Some(tcp) = raw_h2.await {
            return Box::pin(serve_hyper(tcp, peer, app, builder, stopped)).await;
        }
        return;
    }
    // Misbehaviours change framing and headers in ways only the hyper path knows about.
    let tcp = if app.config.direct_streams && app.behaviour.direct_streams() {
        match direct::serve(tcp, &app, &peer, HEADER_READ_TIMEOUT, &mut stopped).await {
            Taken::Declined(tcp) => tcp,
            Taken::Done => return,
        }
    } else {
        tcp
    };
    // Boxed here and above: a task is sized for its largest state, and an idle direct stream
    // must not pay for hyper's connection state or the raw HTTP/2 responder's.
    Box::pin(serve_hyper(tcp, peer, app, builder, stopped)).await
}

async fn serve_hyper<S>(
    tcp: S,
    peer: Peer,
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stopped: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ctl = Arc::clone(&peer.conn);
    let handoff = Arc::clone(&peer.handoff);
    let service = service_fn(move |req| http::handle(Arc::clone(&app), peer.clone(), req));
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = ctl.kill.notified() => return,
        _ = stop_signal(&mut stopped) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                r = conn.as_mut() => r,
                _ = ctl.kill.notified() => return,
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    // `/ws`: hyper has handed the connection over; the session ends itself at shutdown.
    if let Some(session) = handoff.take() {
        tokio::select! {
            _ = session => {}
            _ = ctl.kill.notified() => {}
        }
    }
}

/// A peer that stops acknowledging (gone without a FIN, or a receive window that never reopens)
/// is closed by the kernel once heartbeats or events stay unacknowledged this long: twice the
/// heartbeat interval, at least 20 s (60 s without heartbeats). Linux only.
fn reap_dead_peers(tcp: &TcpStream, heartbeat: Option<Duration>) {
    #[cfg(target_os = "linux")]
    {
        let timeout = heartbeat.map_or(Duration::from_secs(60), |hb| {
            (hb * 2).max(Duration::from_secs(20))
        });
        if let Err(e) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(timeout)) {
            tracing::debug!(error = %e, "cannot set TCP_USER_TIMEOUT");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (tcp, heartbeat);
}

/// Resolves once the server is told to stop.
async fn stop_signal(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Counts an open TCP connection and logs its end, however the task ends (even cut).
struct OpenConnection {
    metrics: Arc<Metrics>,
    peer: SocketAddr,
    opened: Instant,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        Metrics::sub(&self.metrics.http_connections_open, 1);
        let duration_ms = self.opened.elapsed().as_millis() as u64;
        tracing::debug!(peer = %self.peer, duration_ms, "connection closed");
    }
}

/// Heartbeat clock, lag enforcement and the publish-rate gauge.
async fn housekeeping(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let period = app.config.heartbeat.map_or(REAPER_PERIOD, |hb| {
        (hb / HEARTBEAT_TICKS as u32).min(REAPER_PERIOD)
    });
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(5)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rate = PublishRate::new(&app.metrics);
    let mut last_heartbeat = Instant::now();
    let heartbeat_tick = app.config.heartbeat.map(|hb| hb / HEARTBEAT_TICKS as u32);
    loop {
        tokio::select! {
            _ = stop_signal(&mut stopped) => return,
            _ = ticks.tick() => {}
        }
        let advance = heartbeat_tick.is_some_and(|t| last_heartbeat.elapsed() >= t);
        if advance {
            last_heartbeat = Instant::now();
        }
        for conn in app.hub.tick(advance) {
            conn.kill.notify_one();
        }
        rate.update(&app.metrics);
    }
}

struct PublishRate {
    since: Instant,
    published: u64,
}

impl PublishRate {
    fn new(metrics: &Metrics) -> Self {
        PublishRate {
            since: Instant::now(),
            published: metrics.snapshot().events_published,
        }
    }

    fn update(&mut self, metrics: &Metrics) {
        let elapsed = self.since.elapsed();
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let now = metrics.snapshot().events_published;
        let rate = (now - self.published) as f64 / elapsed.as_secs_f64();
        metrics
            .publish_rate_bits
            .store(rate.to_bits(), std::sync::atomic::Ordering::Relaxed);
        *self = PublishRate {
            since: Instant::now(),
            published: now,
        };
    }
}

/// `--tick-ms`: publishes `event: tick`, `data: N` so a fresh server has a live stream.
async fn ticker(app: Arc<App>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    for n in 1u64.. {
        tokio::select! {
            _ = stop_signal(&mut stopped) => return,
            _ = ticks.tick() => {}
        }
        let data = n.to_string();
        let published = tokio::select! {
            _ = stop_signal(&mut stopped) => return,
            r = app.publish(None, Some("tick"), &data) => r,
        };
        match published {
            Ok(_) => {}
            // `--redis` while Redis is down: this tick is skipped (never acknowledged); later ones go out.
            Err(e @ PublishError::Unavailable(_)) => {
                tracing::debug!(error = %e, "ticker could not publish");
            }
            Err(e) => {
                tracing::warn!(error = %e, "ticker could not publish");
                return;
            }
        }
    }
}

/// `ssekit serve`: starts the server, prints its address, waits for SIGINT or SIGTERM and shuts
/// down gracefully (a second signal exits at once).
/// Logs go to whatever `tracing` subscriber the caller installed.
pub async fn run(config: Config) -> std::process::ExitCode {
    use std::process::ExitCode;
    let server = match start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ssekit serve: {e}");
            return ExitCode::from(2);
        }
    };
    let scheme = if server.app.is_tls() { "https" } else { "http" };
    println!("listening on {scheme}://{}", server.local_addr());
    if let Err(e) = signal().await {
        eprintln!("ssekit serve: cannot wait for signals: {e}");
        return ExitCode::from(2);
    }
    tracing::info!("signal received: shutting down (send it again to exit at once)");
    tokio::select! {
        _ = server.shutdown() => ExitCode::SUCCESS,
        _ = signal() => {
            tracing::warn!("second signal: exiting without waiting");
            ExitCode::from(130)
        }
    }
}

/// Like [`run`], on a new multi-threaded tokio runtime (for a synchronous `main`).
pub fn run_blocking(config: Config) -> std::process::ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(run(config)),
        Err(e) => {
            eprintln!("ssekit serve: cannot start the async runtime: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300 connects at once, none accepted yet: with the old backlog of 128 the rest waited for
    /// a SYN retransmission (1 s); now every one completes at once.
    #[tokio::test]
    async fn a_burst_of_connects_waits_for_no_retransmission() {
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if somaxconn.is_some_and(|m| m < 300) {
            eprintln!("somaxconn {somaxconn:?} < 300: the kernel caps the backlog; skipped");
            return;
        }
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..300)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_millis(800),
                    TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut late = 0;
        let mut open = Vec::new();
        for c in connects {
            match c.await.unwrap() {
                Ok(stream) => open.push(stream.unwrap()),
                Err(_) => late += 1,
            }
        }
        assert_eq!(late, 0, "connects left to a SYN retransmission");
        drop(listener);
    }
}
