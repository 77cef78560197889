//! Server-Sent Events over HTTP/1.1: one `GET` answered `200 text/event-stream`, read and
//! parsed chunk by chunk with the project's parser; a reconnect sends `Last-Event-ID`.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use ssekit_parser::{Frame, Parser};

use super::{connect, Dial, Progress};
use crate::account::Account;

/// Cap on each connection's read buffer. hyper's adaptive buffer otherwise grows to ~400 KB
/// under coalesced writes; buffers that large are mapped and unmapped by the allocator on
/// every regrowth, and zeroing the fresh pages took a third of the load generator's CPU.
const READ_BUFFER_MAX: usize = 64 * 1024;

/// An open event stream.
pub struct SseConn {
    body: Incoming,
    parser: Parser,
}

impl SseConn {
    /// Connects and sends the request; keeps the body of a `200 text/event-stream` answer.
    pub async fn open(
        dial: &Dial,
        resume: Option<&str>,
        account: &mut Account,
    ) -> Result<SseConn, String> {
        let tcp = connect(dial.url.addr, dial.source, &dial.wire)
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
        let mut req = hyper::Request::get(dial.url.path.as_str())
            .header(hyper::header::HOST, dial.url.host())
            .header(hyper::header::ACCEPT, "text/event-stream")
            .header(hyper::header::CACHE_CONTROL, "no-cache");
        if let Some(id) = resume {
            req = req.header("last-event-id", id);
        }
        let req = req
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
        if res
            .headers()
            .get("sse-resume")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"reset"))
        {
            account.reset();
        }
        let mut parser = Parser::new();
        if let Some(id) = resume {
            // The parser starts from the id the stream resumes after, as a browser's would.
            parser = parser.with_last_event_id(id);
        }
        Ok(SseConn {
            body: res.into_body(),
            parser,
        })
    }

    /// Reads one chunk of the body and accounts for its events.
    pub async fn read(&mut self, account: &mut Account) -> Result<Progress, String> {
        match self.body.frame().await {
            None => Ok(Progress::Closed),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let mut feed = self.parser.feed(data);
                    while let Some(frame) = feed.next_frame() {
                        if let Ok(Frame::Event(event)) = frame {
                            account.event(event.id, event.data);
                        }
                    }
                }
                Ok(Progress::Open)
            }
        }
    }
}
