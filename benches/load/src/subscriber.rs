//! One subscriber, whatever its transport: connect, then read and account for every event
//! until told to stop; on the reconnect signal, drop the connection and open a new one that
//! resumes from the last event id received. A stalled reader stops reading once connected
//! (its socket fills, the server sees a slow consumer) and only drains what is left at the
//! end, to learn whether the server ended its subscription.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout, Instant};

use super::account::Account;
use super::latency::Latencies;
use super::sequence::Tally;
use super::transport::{Conn, Dial, Progress};
use super::wire::WireCount;

/// How long a stalled reader drains its backlog at the end, at most.
const STALLED_DRAIN: Duration = Duration::from_secs(2);
/// A stalled reader's drain ends after this long without data.
const STALLED_IDLE: Duration = Duration::from_millis(300);

/// What a connection does once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and measures every event.
    Reader,
    /// Stops reading once connected.
    Stalled,
}

/// State shared by every connection and the orchestrator.
#[derive(Default)]
pub struct Shared {
    /// Delivery latencies of the readers.
    pub latencies: Latencies,
    /// Publisher events received by readers so far.
    pub delivered: AtomicU64,
    /// Bytes of event data in those events.
    pub payload_bytes: AtomicU64,
    /// Bytes read and written on every socket.
    pub wire: Arc<WireCount>,
    /// Connections whose first answer was right (stream head, handshake, first poll).
    pub connected: AtomicUsize,
    /// Connections that could not be opened.
    pub failed: AtomicUsize,
    /// Reconnects that resumed.
    pub reconnected: AtomicUsize,
    /// Reconnects that failed.
    pub reconnect_failed: AtomicUsize,
    /// Time from dropping a connection to the new one being open, past the connect gate.
    pub resume_times: Latencies,
}

/// Where and how one subscriber connects.
pub struct Plan {
    /// Transport, endpoint and source address.
    pub dial: Dial,
    /// Reader or stalled.
    pub role: Role,
    /// Bound on connect plus first answer.
    pub connect_timeout: Duration,
}

/// How a subscription stood when the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Still open: the run stopped it.
    Open,
    /// The server ended it (e.g. evicted as a slow consumer).
    ServerClosed,
    /// The connection failed while reading, or a reconnect failed.
    Error(String),
}

/// What one subscriber saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its role.
    pub role: Role,
    /// `Err` with the reason when it never connected.
    pub result: Result<(Tally, End), String>,
    /// Reset signals received.
    pub resets: u64,
}

/// The signals a subscriber follows.
pub struct Signals {
    /// Turns true when the run stops.
    pub stop: watch::Receiver<bool>,
    /// Counts up once per reconnect wave.
    pub reconnect: watch::Receiver<u64>,
    /// Bounds connections opening at once (the first ones and reconnects).
    pub gate: Arc<Semaphore>,
}

/// Opens subscriber `index` and reads it until the stop signal.
pub async fn run(index: usize, plan: Plan, shared: Arc<Shared>, mut signals: Signals) -> Outcome {
    let mut account = Account::new(index, Arc::clone(&shared), plan.role == Role::Reader);
    let opened = {
        let _permit = signals.gate.acquire().await;
        timeout(
            plan.connect_timeout,
            Conn::open(&plan.dial, None, &mut account),
        )
        .await
    };
    let conn = match opened {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return failed(&shared, plan.role, e),
        Err(_) => {
            return failed(
                &shared,
                plan.role,
                "connect and first answer timed out".into(),
            )
        }
    };
    account.flush();
    shared.connected.fetch_add(1, Relaxed);
    let end = match plan.role {
        Role::Reader => read_until(conn, &plan, &mut account, &shared, &mut signals).await,
        Role::Stalled => {
            let _ = signals.stop.wait_for(|s| *s).await;
            account.count_only();
            drain(conn, &mut account).await
        }
    };
    Outcome {
        role: plan.role,
        resets: account.resets,
        result: Ok((account.tally, end)),
    }
}

fn failed(shared: &Shared, role: Role, why: String) -> Outcome {
    shared.failed.fetch_add(1, Relaxed);
    Outcome {
        role,
        result: Err(why),
        resets: 0,
    }
}

/// What woke a reader.
enum Wake {
    Stop,
    Reconnect,
    ReconnectSignalGone,
    Read(Result<Progress, String>),
}

async fn read_until(
    mut conn: Conn,
    plan: &Plan,
    account: &mut Account,
    shared: &Shared,
    signals: &mut Signals,
) -> End {
    let mut reconnects_live = true;
    loop {
        let wake = tokio::select! {
            biased;
            _ = signals.stop.wait_for(|s| *s) => Wake::Stop,
            changed = signals.reconnect.changed(), if reconnects_live => match changed {
                Ok(()) => Wake::Reconnect,
                Err(_) => Wake::ReconnectSignalGone,
            },
            read = conn.read(account) => Wake::Read(read),
        };
        match wake {
            Wake::Stop => return End::Open,
            Wake::ReconnectSignalGone => reconnects_live = false,
            Wake::Reconnect => {
                // Whatever the cancelled read had taken in is accounted before resuming.
                account.flush();
                drop(conn);
                match reconnect(plan, account, shared, &signals.gate).await {
                    Ok(c) => conn = c,
                    Err(e) => return End::Error(e),
                }
            }
            Wake::Read(Ok(Progress::Open)) => account.flush(),
            Wake::Read(Ok(Progress::Closed)) => {
                account.flush();
                return End::ServerClosed;
            }
            Wake::Read(Err(e)) => {
                account.flush();
                return End::Error(e);
            }
        }
    }
}

/// Opens a new connection resuming after the last event received; times it from the moment
/// the gate lets it through (the wait for the gate is the load generator's own pacing).
async fn reconnect(
    plan: &Plan,
    account: &mut Account,
    shared: &Shared,
    gate: &Semaphore,
) -> Result<Conn, String> {
    let _permit = gate.acquire().await;
    let started = Instant::now();
    let resume = account.last_id().map(str::to_owned);
    let opened = timeout(
        plan.connect_timeout,
        Conn::open(&plan.dial, resume.as_deref(), account),
    )
    .await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    account.flush();
    match opened {
        Ok(Ok(conn)) => {
            shared.resume_times.record_all(account.index(), &[micros]);
            shared.reconnected.fetch_add(1, Relaxed);
            Ok(conn)
        }
        Ok(Err(e)) => {
            shared.reconnect_failed.fetch_add(1, Relaxed);
            Err(format!("reconnect: {e}"))
        }
        Err(_) => {
            shared.reconnect_failed.fetch_add(1, Relaxed);
            Err("reconnect: connect and first answer timed out".into())
        }
    }
}

/// Reads what a stalled connection has waiting, briefly, until a read brings nothing new.
async fn drain(mut conn: Conn, account: &mut Account) -> End {
    let deadline = Instant::now() + STALLED_DRAIN;
    while Instant::now() < deadline {
        let before = account.tally.received;
        let read = timeout(STALLED_IDLE, conn.read(account)).await;
        account.flush();
        match read {
            Err(_) => return End::Open,
            Ok(Ok(Progress::Closed)) => return End::ServerClosed,
            Ok(Err(e)) => return End::Error(e),
            Ok(Ok(Progress::Open)) => {
                if account.tally.received == before && !matches!(conn, Conn::Sse(_) | Conn::Ws(_)) {
                    // A poll that brought nothing: nothing more is waiting.
                    return End::Open;
                }
            }
        }
    }
    End::Open
}
