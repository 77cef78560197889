//! `POST /publish`: JSON `{"topic"?, "event"?, "data"}` in, `{"id"}` out; or a JSON array of
//! such objects in (published in order, all or none), `{"ids": [...]}` out.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{auth, json, App, Peer, ResponseBody};
use crate::error::PublishError;
use crate::hub::PublishItem;

/// Largest accepted request body.
const MAX_BODY: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    topic: Option<String>,
    event: Option<String>,
    data: String,
}

impl Publish {
    fn item(&self) -> PublishItem<'_> {
        PublishItem {
            topic: self.topic.as_deref(),
            event: self.event.as_deref(),
            data: &self.data,
        }
    }
}

/// One event, or a batch whose subscribers are woken once (and so written to once).
#[derive(Deserialize)]
#[serde(untagged)]
enum Body {
    One(Publish),
    Batch(Vec<Publish>),
}

pub(crate) async fn publish(
    app: &App,
    peer: &Peer,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    match refusal(app, peer, &req) {
        Some(res) => res,
        None => publish_body(app, req).await,
    }
}

/// The answer for a publisher that may not publish, if it may not.
fn refusal(app: &App, peer: &Peer, req: &Request<Incoming>) -> Option<Response<ResponseBody>> {
    match &app.config.publish_token {
        Some(token) if auth::presents(req.headers(), token, auth::Carrier::Bearer) => None,
        Some(_) => Some(auth::unauthorized()),
        None if peer.addr.ip().is_loopback() => None,
        None => Some(json(
            StatusCode::FORBIDDEN,
            &json!({"error": "publishing without --publish-token is allowed from loopback only"}),
        )),
    }
}

async fn publish_body(app: &App, req: Request<Incoming>) -> Response<ResponseBody> {
    let bad = |status, msg: String| json(status, &json!({ "error": msg }));
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over {MAX_BODY} bytes"),
            )
        }
        Err(e) => return bad(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
    };
    let body: Body = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(_) => {
            // Untagged enums only say "did not match"; name the problem in the single form.
            let detail = serde_json::from_slice::<Publish>(&bytes)
                .err()
                .map_or_else(String::new, |e| format!(": {e}"));
            return bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected JSON {{\"topic\"?, \"event\"?, \"data\"}} or an array of them{detail}"
                ),
            );
        }
    };
    let published = match &body {
        Body::One(msg) => {
            let item = msg.item();
            app.publish(item.topic, item.event, item.data)
                .await
                .map(|id| json!({ "id": id }))
        }
        Body::Batch(msgs) => {
            let items: Vec<PublishItem<'_>> = msgs.iter().map(Publish::item).collect();
            app.publish_batch(&items)
                .await
                .map(|ids| json!({ "ids": ids }))
        }
    };
    match published {
        Ok(answer) => json(StatusCode::OK, &answer),
        Err(
            e @ (PublishError::ShuttingDown
            | PublishError::Unavailable(_)
            | PublishError::PartlyPublished { .. }),
        ) => bad(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => bad(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
