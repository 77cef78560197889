//! The I/O half of the mock endpoints: a response body fed through a channel by a generator
//! task, so pacing, holding back (`buffer-until-done`) and cutting the connection
//! (`cut-mid-stream`, `error-as-reset`) happen here and the protocol modules only build frames.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use crate::http::ResponseBody;
use crate::hub::ConnControl;

/// The comment sent during long pauses, as on `/stream`.
static HEARTBEAT: Bytes = Bytes::from_static(b": heartbeat\n");

/// Body pieces a generator may have in flight before it waits for the socket.
const IN_FLIGHT: usize = 16;

/// What the generator hands to the body.
enum Piece {
    Data(Bytes),
    /// Drop the connection now: no end of body, no error event.
    Cut,
}

/// The client went away (the body was dropped): stop generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

/// The sending half: what a generator writes to.
pub(crate) struct Wire {
    tx: mpsc::Sender<Piece>,
    /// `buffer-until-done`: everything waits here until the end.
    held: Option<BytesMut>,
    heartbeat: Option<Duration>,
}

/// The receiving half: a hyper body that ends when the wire is dropped.
struct ChannelBody {
    rx: mpsc::Receiver<Piece>,
    conn: Arc<ConnControl>,
    cut: bool,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.cut {
            return Poll::Pending;
        }
        match std::task::ready!(self.rx.poll_recv(cx)) {
            Some(Piece::Data(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            // hyper asks for the next piece only after taking the previous one, and flushes
            // before its connection task yields, so what was sent is on the wire before the cut.
            Some(Piece::Cut) => {
                self.cut = true;
                self.conn.kill.notify_one();
                Poll::Pending
            }
            None => Poll::Ready(None),
        }
    }
}

/// How a mock stream is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireOptions {
    /// Send everything in one piece at the end.
    pub hold: bool,
    /// Heartbeat comment interval during pauses.
    pub heartbeat: Option<Duration>,
}

/// A `200 text/event-stream` response and the wire that feeds its body.
pub(crate) fn open(conn: Arc<ConnControl>, options: WireOptions) -> (Wire, Response<ResponseBody>) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let body = ChannelBody {
        rx,
        conn,
        cut: false,
    };
    let mut res = Response::new(body.boxed());
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let wire = Wire {
        tx,
        held: options.hold.then(BytesMut::new),
        heartbeat: options.heartbeat,
    };
    (wire, res)
}

impl Wire {
    /// Sends (or holds back) one piece.
    pub async fn send(&mut self, bytes: Bytes) -> Result<(), Gone> {
        if let Some(held) = &mut self.held {
            held.extend_from_slice(&bytes);
            return Ok(());
        }
        self.tx.send(Piece::Data(bytes)).await.map_err(|_| Gone)
    }

    /// Waits `pause`, sending a heartbeat comment every interval when heartbeats are on.
    /// Returns early with [`Gone`] when the client leaves.
    pub async fn pause(&mut self, pause: Duration) -> Result<(), Gone> {
        self.idle(tokio::time::sleep(pause)).await
    }

    /// Waits for `event`, sending a heartbeat comment after every interval of silence when
    /// heartbeats are on. Returns early with [`Gone`] when the client leaves.
    pub async fn idle<F: Future>(&mut self, event: F) -> Result<F::Output, Gone> {
        tokio::pin!(event);
        loop {
            let beat = self.heartbeat;
            let tick = async move {
                match beat {
                    Some(every) => tokio::time::sleep(every).await,
                    None => std::future::pending().await,
                }
            };
            let woke = tokio::select! {
                out = &mut event => Some(out),
                _ = self.tx.closed() => return Err(Gone),
                _ = tick => None,
            };
            match woke {
                Some(out) => return Ok(out),
                None => self.send(HEARTBEAT.clone()).await?,
            }
        }
    }

    /// Ends the body cleanly (after whatever was held back).
    pub async fn finish(mut self) {
        let _ = self.release().await;
    }

    /// Sends `partial` (and whatever was held back), then drops the connection.
    pub async fn cut(mut self, partial: &[u8]) {
        if self.send(Bytes::copy_from_slice(partial)).await.is_ok() && self.release().await.is_ok()
        {
            let _ = self.tx.send(Piece::Cut).await;
        }
    }

    async fn release(&mut self) -> Result<(), Gone> {
        match self.held.take() {
            Some(held) if !held.is_empty() => self.send(held.freeze()).await,
            _ => Ok(()),
        }
    }
}
