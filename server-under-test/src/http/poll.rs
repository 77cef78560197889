//! `GET /poll?after=ID&timeout=S`: the long-poll fallback, with the same ids, ring and resume
//! rules as the stream.
//!
//! Answer: `{"events":[{"id","event","data"}],"next":ID}`; `next` is the `after` of the next
//! poll. When `after` cannot be resumed, the answer also holds `"reset":{"reason","oldest"}`
//! and the `SSE-Resume: reset` header, exactly like the stream's reset signal.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::events::SSE_RESUME;
use super::{auth, json, query_values, App, ResponseBody};
use crate::event_json::event_json;
use crate::hub::Topics;
use crate::metrics::{Metrics, TransportMetrics};
use crate::replay::Resume;

/// The longest a poll is held, below common proxy idle timeouts.
const MAX_HOLD: Duration = Duration::from_secs(25);
/// Most events in one answer.
const MAX_EVENTS: usize = 256;

pub(crate) async fn poll(app: &App, req: &Request<Incoming>) -> Response<ResponseBody> {
    if let Some(token) = &app.config.subscribe_token {
        if !auth::presents(req.headers(), token, auth::Carrier::BearerOrCookie) {
            return app.cors.apply(req, auth::unauthorized());
        }
    }
    let hold = match query_values(req, "timeout")
        .first()
        .map(|t| t.parse::<f64>())
    {
        None => MAX_HOLD,
        Some(Ok(s)) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s).min(MAX_HOLD),
        Some(_) => {
            let err = json!({"error": "timeout must be a number of seconds (at most 25)"});
            return app.cors.apply(req, json(StatusCode::BAD_REQUEST, &err));
        }
    };
    let after = query_values(req, "after").into_iter().next();
    let after = after.as_deref().map(str::as_bytes);
    let (resume, window) = match &app.broker {
        Some(broker) => broker.decide_poll(after).await,
        None => app.hub.decide(after),
    };
    // `--redis`: ids are Redis stream ids, mapped from ring positions by the broker.
    let id_of = |seq| match &app.broker {
        Some(broker) => broker.id_of(seq),
        None => app.hub.id_of(seq),
    };
    app.hub.count_resume(resume);
    Metrics::add(&app.metrics.polls, 1);
    app.metrics.poll.opened();
    let _waiting = Waiting(&app.metrics.poll);
    let topics = Topics::new(query_values(req, "topic"));
    let deadline = tokio::time::Instant::now() + hold;
    let (found, cursor) = if req.method() == Method::HEAD {
        (Vec::new(), resume.after())
    } else {
        app.hub
            .wait_events(resume.after(), &topics, MAX_EVENTS, deadline)
            .await
    };
    Metrics::add(&app.metrics.poll.deliveries, found.len() as u64);
    let events: Vec<Value> = found.iter().map(|(_, frame)| event_json(frame)).collect();
    let mut body = json!({ "events": events, "next": id_of(cursor) });
    if let Resume::Reset { reason, .. } = resume {
        let oldest = (window.oldest <= window.head).then(|| id_of(window.oldest));
        body["reset"] = json!({ "reason": reason.as_str(), "oldest": oldest });
    }
    let mut res = json(StatusCode::OK, &body);
    if let Some(value) = resume.header() {
        res.headers_mut()
            .insert(SSE_RESUME, HeaderValue::from_static(value));
    }
    app.cors.apply(req, res)
}

/// Counts a poll as open while it is answered or waits, however it ends (a client that leaves
/// drops it mid-wait).
struct Waiting<'a>(&'a TransportMetrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        Metrics::sub(&self.0.open, 1);
    }
}
