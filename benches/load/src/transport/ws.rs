//! WebSocket: an HTTP/1.1 Upgrade, then one JSON text frame per event,
//! `{"id":ID,"event":TYPE,"data":DATA}`; `{"event":"reset",…}` when the resume id was too
//! old. A reconnect passes `?last_event_id=ID`. Pings are answered by tungstenite on the next
//! read; a Close frame (the server ending a lagging subscriber or shutting down) ends it.

use std::borrow::Cow;

use futures_util::{FutureExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{connect, with_query, Dial, Progress};
use crate::account::Account;
use crate::wire::Counted;

/// tungstenite allocates its read buffer up front, 128 KiB by default: at ten thousand
/// connections that is more memory than the server under test uses. Events are a few hundred
/// bytes; larger frames still arrive, over several reads.
const READ_BUFFER: usize = 16 * 1024;
/// Frames taken from one wake-up, at most: those already buffered are accounted together,
/// like the events of one SSE chunk.
const FRAMES_PER_READ: usize = 256;

/// An open WebSocket subscription.
pub struct WsConn {
    ws: WebSocketStream<Counted<TcpStream>>,
}

/// One event frame. Fields are borrowed where the JSON holds no escapes.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

/// Any frame with an `event` field, whatever else it holds (a reset's `data` may not be text).
#[derive(Deserialize)]
struct EventOnly<'a> {
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
}

impl WsConn {
    /// Connects and completes the WebSocket handshake.
    pub async fn open(
        dial: &Dial,
        resume: Option<&str>,
        _account: &mut Account,
    ) -> Result<WsConn, String> {
        let tcp = connect(dial.url.addr, dial.source, &dial.wire)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let path = match resume {
            Some(id) => with_query(&dial.url.path, "last_event_id", id),
            None => dial.url.path.clone(),
        };
        let uri = format!("ws://{}{}", dial.url.host(), path);
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            // Only pongs are written: send them at once rather than gathering 128 KiB.
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(uri, tcp, Some(config))
            .await
            .map_err(handshake_error)?;
        Ok(WsConn { ws })
    }

    /// Waits for a frame, then takes those already buffered too, and accounts for them.
    pub async fn read(&mut self, account: &mut Account) -> Result<Progress, String> {
        let first = self.ws.next().await;
        if take(first, account)? == Progress::Closed {
            return Ok(Progress::Closed);
        }
        for _ in 1..FRAMES_PER_READ {
            match self.ws.next().now_or_never() {
                Some(frame) => {
                    if take(frame, account)? == Progress::Closed {
                        return Ok(Progress::Closed);
                    }
                }
                None => break,
            }
        }
        Ok(Progress::Open)
    }
}

/// Why a handshake failed, in words that name the cause. An answer other than `101` means the
/// upgrade was refused (typically by a proxy that does not pass `Upgrade` through, so the
/// server saw a plain `GET`): the message gives the status and the first line of the body,
/// which is the same for every refused connection, so the report groups them in one line.
fn handshake_error(e: tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(res) => refused(res.status(), res.body().as_deref()),
        e => format!("websocket handshake: {e}"),
    }
}

/// Bound on the part of a refusal's body quoted in the report.
const QUOTED_BODY: usize = 160;

fn refused(
    status: tokio_tungstenite::tungstenite::http::StatusCode,
    body: Option<&[u8]>,
) -> String {
    let mut why = format!(
        "WebSocket upgrade refused: answered {} {} instead of 101 Switching Protocols",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let first_line = body.map(String::from_utf8_lossy).and_then(|b| {
        b.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    });
    if let Some(line) = first_line {
        let quoted: String = line.chars().take(QUOTED_BODY).collect();
        why.push_str(&format!(" (body: {quoted:?})"));
    }
    if status == tokio_tungstenite::tungstenite::http::StatusCode::UPGRADE_REQUIRED {
        why.push_str("; a proxy in front must pass Upgrade and Connection through over HTTP/1.1");
    }
    why
}

fn take(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    account: &mut Account,
) -> Result<Progress, String> {
    match frame {
        None => Ok(Progress::Closed),
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(Message::Close(_))) => Ok(Progress::Closed),
        Some(Ok(Message::Text(text))) => {
            event_frame(text.as_str(), account);
            Ok(Progress::Open)
        }
        Some(Ok(_)) => Ok(Progress::Open),
    }
}

/// Accounts for one text frame.
fn event_frame(text: &str, account: &mut Account) {
    match serde_json::from_str::<Envelope<'_>>(text) {
        Ok(e) if e.event.as_deref() == Some("reset") => account.reset(),
        Ok(e) => account.event(
            e.id.as_deref().unwrap_or(""),
            e.data.as_deref().unwrap_or(""),
        ),
        Err(_) => match serde_json::from_str::<EventOnly<'_>>(text) {
            Ok(e) if e.event.as_deref() == Some("reset") => account.reset(),
            // Not an event frame: counted as foreign.
            _ => account.event("", text),
        },
    }
}
