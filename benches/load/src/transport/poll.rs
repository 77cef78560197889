//! Polling `GET /poll?after=ID&timeout=S` over one keep-alive HTTP/1.1 connection. The answer
//! is `{"events":[{"id","event","data"}],"next":ID}` (with `"reset"` when `after` could not be
//! resumed); `next` is the next poll's `after`. Long polling asks the server to hold each poll
//! until an event comes; short polling asks for an answer at once, every `--poll-interval`.
//! The first poll (`timeout=0`, no `after` unless resuming) only learns where the hub stands.

use std::borrow::Cow;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::time::{sleep_until, Instant};

use super::{connect, with_query, Dial, Progress, Transport};
use crate::account::Account;

/// How long a long poll asks to be held: below the reference server's cap (25 s) and common
/// proxy idle timeouts. The run cancels a held poll when it stops.
const LONG_POLL_HOLD: &str = "20";
/// Bound on one answer's body (the server sends 256 events at most).
const MAX_ANSWER: usize = 16 << 20;

/// An open polling loop.
pub struct PollConn {
    sender: SendRequest<Empty<Bytes>>,
    dial: Dial,
    /// The `after` of the next poll.
    cursor: String,
    /// Short polling: when the next poll is due.
    due: Instant,
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    events: Vec<Event<'a>>,
    #[serde(borrow)]
    next: Cow<'a, str>,
    #[serde(default)]
    reset: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

impl PollConn {
    /// Connects and makes the first poll: at once, after `resume` if given.
    pub async fn open(
        dial: &Dial,
        resume: Option<&str>,
        account: &mut Account,
    ) -> Result<PollConn, String> {
        let mut poll = PollConn {
            sender: dial_http1(dial).await?,
            dial: dial.clone(),
            cursor: resume.unwrap_or_default().to_owned(),
            due: Instant::now() + dial.poll_interval,
        };
        poll.request("0", account).await?;
        Ok(poll)
    }

    /// One poll: held by the server (long polling), or at the next interval (short polling).
    pub async fn read(&mut self, account: &mut Account) -> Result<Progress, String> {
        let timeout = match self.dial.transport {
            Transport::Poll => {
                sleep_until(self.due).await;
                // A schedule, not a sleep after each answer: a slow answer is caught up with.
                self.due = (self.due + self.dial.poll_interval).max(Instant::now());
                "0"
            }
            _ => LONG_POLL_HOLD,
        };
        self.request(timeout, account).await?;
        Ok(Progress::Open)
    }

    async fn request(&mut self, timeout: &str, account: &mut Account) -> Result<(), String> {
        let mut path = with_query(&self.dial.url.path, "timeout", timeout);
        if !self.cursor.is_empty() {
            path = with_query(&path, "after", &self.cursor);
        }
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, self.dial.url.host())
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("poll request: {e}"))?;
        if self.sender.ready().await.is_err() {
            // The server closed the connection after its answer (`Connection: close`, as
            // servers with a worker per request do): the next poll takes a new one.
            self.sender = dial_http1(&self.dial).await?;
            self.sender
                .ready()
                .await
                .map_err(|e| format!("poll: {e}"))?;
        }
        let res = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("poll: {e}"))?;
        let status = res.status();
        let body = http_body_util::Limited::new(res.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("poll answer: {e}"))?
            .to_bytes();
        if status != hyper::StatusCode::OK {
            return Err(format!("poll answered status {}", status.as_u16()));
        }
        let answer: Answer<'_> =
            serde_json::from_slice(&body).map_err(|e| format!("poll answer is not JSON: {e}"))?;
        if answer.reset.is_some() {
            account.reset();
        }
        for e in &answer.events {
            account.event(
                e.id.as_deref().unwrap_or(""),
                e.data.as_deref().unwrap_or(""),
            );
        }
        self.cursor.clear();
        self.cursor.push_str(&answer.next);
        Ok(())
    }
}

/// A new HTTP/1.1 connection to the poll URL's server.
async fn dial_http1(dial: &Dial) -> Result<SendRequest<Empty<Bytes>>, String> {
    let tcp = connect(dial.url.addr, dial.source, &dial.wire)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_with_and_without_reset() {
        let a: Answer<'_> = serde_json::from_str(
            r#"{"events":[{"id":"e-1","event":"message","data":"{\"t\":1,\"n\":0,\"p\":\"\"}"}],"next":"e-1"}"#,
        )
        .unwrap();
        assert_eq!(
            (a.events.len(), &*a.next, a.reset.is_some()),
            (1, "e-1", false)
        );
        assert_eq!(a.events[0].data.as_deref(), Some(r#"{"t":1,"n":0,"p":""}"#));
        let r: Answer<'_> = serde_json::from_str(
            r#"{"events":[],"next":"e-9","reset":{"reason":"too-old","oldest":"e-3"}}"#,
        )
        .unwrap();
        assert!(r.reset.is_some());
    }

    /// A server that answers every poll with `Connection: close` and closes, as a sync worker
    /// per request does: each poll after the first takes a new connection, and every event
    /// still reaches the account.
    #[tokio::test]
    async fn polls_go_on_over_new_connections_when_the_server_closes() {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let n = count.fetch_add(1, Relaxed);
                let mut request = [0u8; 1024];
                let _ = tcp.read(&mut request).await;
                let body = format!(
                    r#"{{"events":[{{"id":"{n}","data":"{{\"t\":1,\"n\":{n}}}"}}],"next":"{n}"}}"#
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            }
        });
        let dial = Dial {
            transport: Transport::LongPoll,
            url: Arc::new(
                crate::target::LoopbackUrl::parse(&format!("http://{addr}/poll")).unwrap(),
            ),
            source: None,
            wire: Arc::default(),
            poll_interval: std::time::Duration::from_millis(10),
        };
        let shared = Arc::new(crate::subscriber::Shared::default());
        let mut account = Account::new(0, shared, true);
        let mut poll = PollConn::open(&dial, None, &mut account).await.unwrap();
        for _ in 0..3 {
            assert_eq!(poll.read(&mut account).await, Ok(Progress::Open));
        }
        assert_eq!(accepted.load(Relaxed), 4, "one connection per poll");
        assert_eq!(account.last_id(), Some("3"));
        assert_eq!((account.tally.foreign, account.resets), (0, 0));
    }
}
