//! `POST /publish`: JSON `{"topic"?, "event"?, "data"}` in, `{"id"}` out.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{auth, json, App, Peer, ResponseBody};

/// Largest accepted request body.
const MAX_BODY: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    topic: Option<String>,
    event: Option<String>,
    data: String,
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
    let msg: Publish = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("expected JSON {{\"topic\"?, \"event\"?, \"data\"}}: {e}"),
            )
        }
    };
    let published = app
        .publish(msg.topic.as_deref(), msg.event.as_deref(), &msg.data)
        .await;
    match published {
        Ok(id) => json(StatusCode::OK, &json!({ "id": id })),
        Err(
            e @ (crate::error::PublishError::ShuttingDown
            | crate::error::PublishError::Unavailable(_)),
        ) => bad(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => bad(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
