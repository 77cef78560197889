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
        let tcp = connect(dial.url.addr, dial.source, &dial.wire)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut poll = PollConn {
            sender,
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
        self.sender
            .ready()
            .await
            .map_err(|e| format!("poll: {e}"))?;
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
}
