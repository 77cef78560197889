//! HTTP: routing, status codes and headers. Each endpoint has its own module; this one maps
//! method and path to them and answers everything else (404, 405 with `Allow`, `OPTIONS`).

mod auth;
mod cors;
pub(crate) mod events;
mod page;
mod poll;
mod publish;
pub(crate) mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::behaviour::{Behaviour, Conduct};
use crate::broker::Broker;
use crate::config::Config;
use crate::error::PublishError;
use crate::hub::{ConnControl, Hub};
use crate::metrics::Metrics;
use crate::mock::MockRoute;

pub(crate) use cors::Cors;

/// Every response body: a whole buffer or an event stream.
pub(crate) type ResponseBody = BoxBody<Bytes, Infallible>;

/// What every request handler shares.
pub(crate) struct App {
    pub config: Config,
    /// How the server behaves, decided once from the config at start-up.
    pub behaviour: Behaviour,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub cors: Cors,
    /// `--redis`: the shared Redis Stream (publishing goes through it).
    pub broker: Option<Arc<Broker>>,
    /// The mock MCP endpoint's sessions.
    pub mock_sessions: crate::mock::Sessions,
}

impl App {
    /// Publishes through Redis in `--redis` mode, else straight into the hub.
    pub async fn publish(
        &self,
        topic: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<String, PublishError> {
        match &self.broker {
            Some(broker) => broker.publish(topic, event, data).await,
            None => self.hub.publish(topic, event, data).await,
        }
    }
}

impl App {
    /// Publishes a batch in order, all or nothing as far as the events' validity goes. Through
    /// Redis the events are added one by one: a Redis failure part-way leaves the first ones
    /// published, and the error says so.
    pub async fn publish_batch(
        &self,
        batch: &[crate::hub::PublishItem<'_>],
    ) -> Result<Vec<String>, PublishError> {
        let Some(broker) = &self.broker else {
            return self.hub.publish_batch(batch).await;
        };
        for item in batch {
            Broker::check(item.topic, item.event, item.data)?;
        }
        let mut ids = Vec::with_capacity(batch.len());
        for item in batch {
            match broker.publish(item.topic, item.event, item.data).await {
                Ok(id) => ids.push(id),
                Err(PublishError::Unavailable(reason)) if !ids.is_empty() => {
                    return Err(PublishError::PartlyPublished {
                        published: ids,
                        total: batch.len(),
                        reason,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ids)
    }
}

/// Who is asking: the TCP peer and the handle that can cut its connection.
#[derive(Clone)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    pub conn: Arc<ConnControl>,
    /// A WebSocket session to run once hyper hands this connection over.
    pub handoff: Arc<ws::Handoff>,
}

/// The endpoints and the methods each allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Index,
    Stream,
    Publish,
    Poll,
    Ws,
    Health,
    Metrics,
    Gone,
}

impl Route {
    fn from_path(path: &str) -> Option<Route> {
        Some(match path {
            "/" => Route::Index,
            "/stream" => Route::Stream,
            "/publish" => Route::Publish,
            "/poll" => Route::Poll,
            "/ws" => Route::Ws,
            "/healthz" => Route::Health,
            "/metrics" => Route::Metrics,
            "/gone" => Route::Gone,
            _ => return None,
        })
    }

    fn allow(self) -> &'static str {
        match self {
            Route::Publish => "POST, OPTIONS",
            _ => "GET, HEAD, OPTIONS",
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Publish => method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

/// Answers one request.
pub(crate) async fn handle(
    app: Arc<App>,
    peer: Peer,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    if let Some(mock) = MockRoute::from_path(req.uri().path()) {
        return Ok(handle_mock(&app, &peer, mock, req).await);
    }
    let Some(route) = Route::from_path(req.uri().path()) else {
        return Ok(app
            .cors
            .apply(&req, text(StatusCode::NOT_FOUND, "not found\n")));
    };
    if req.method() == Method::OPTIONS {
        return Ok(app.cors.options(&req, route.allow()));
    }
    if !route.allows(req.method()) {
        let mut res = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed; see the Allow header\n",
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
        return Ok(app.cors.apply(&req, res));
    }
    let res = match route {
        Route::Index => page::index(&req, INDEX),
        Route::Stream => events::stream(&app, &peer, &req).await,
        Route::Publish => publish::publish(&app, &peer, req).await,
        Route::Poll => poll::poll(&app, &req).await,
        Route::Ws => ws::upgrade(&app, &peer, req).await,
        Route::Health => health(&app),
        Route::Metrics => metrics(&app),
        Route::Gone => gone(&app),
    };
    Ok(res)
}

/// The mock OpenAI, Anthropic and MCP endpoints (`crate::mock`).
async fn handle_mock(
    app: &Arc<App>,
    peer: &Peer,
    mock: MockRoute,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    if req.method() == Method::OPTIONS {
        let mut res = app.cors.options(&req, mock.allow());
        mock.cors_headers(res.headers_mut());
        return res;
    }
    if !mock.allows(req.method()) {
        let mut res = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed; see the Allow header\n",
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(mock.allow()));
        return app.cors.apply(&req, res);
    }
    let req_headers = req.headers().clone();
    let mut res = mock.handle(app, peer, req).await;
    app.cors.decorate(&req_headers, res.headers_mut());
    mock.cors_headers(res.headers_mut());
    res
}

const INDEX: &str = "ssekit reference SSE server\n\
GET  /stream[?topic=T&lastEventId=ID]  text/event-stream\n\
POST /publish  {\"topic\"?, \"event\"?, \"data\"} or an array of them\n\
GET  /poll?after=ID&timeout=S  long-poll JSON (timeout=0: short poll)\n\
GET  /ws[?topic=T&last_event_id=ID]  WebSocket, one JSON text frame per event\n\
GET  /healthz  /metrics  /gone\n\
POST /v1/chat/completions  /v1/messages  mock OpenAI / Anthropic streams\n\
POST|GET|DELETE /mcp  mock MCP server (Streamable HTTP)\n";

/// `200 ok`; in `--redis` mode `503` while Redis is unreachable (publishing fails then).
fn health(app: &App) -> Response<ResponseBody> {
    match &app.broker {
        Some(broker) if !broker.is_up() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "redis unreachable: reconnecting; publishing fails until it is back\n",
        ),
        Some(_) => text(StatusCode::OK, "ok\nredis: up\n"),
        None => text(StatusCode::OK, "ok\n"),
    }
}

fn metrics(app: &App) -> Response<ResponseBody> {
    let mut text = app.metrics.snapshot().to_prometheus();
    if let Some(broker) = &app.broker {
        text.push_str(&broker.prometheus());
    }
    let mut res = full(StatusCode::OK, text);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// The "stop reconnecting" URL: 204 tells an EventSource to give up (HTML §9.2.1).
fn gone(app: &App) -> Response<ResponseBody> {
    if app.behaviour.gone_is_empty_stream() {
        let mut res = empty(StatusCode::OK);
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        return res;
    }
    empty(StatusCode::NO_CONTENT)
}

pub(crate) fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut res = Response::new(Empty::new().boxed());
    *res.status_mut() = status;
    res
}

pub(crate) fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut res = Response::new(Full::new(body.into()).boxed());
    *res.status_mut() = status;
    res
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut res = full(status, body);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let mut res = full(status, value.to_string());
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The values of a query parameter (percent-decoded; invalid UTF-8 replaced).
pub(crate) fn query_values<B>(req: &Request<B>, name: &str) -> Vec<String> {
    let query = req.uri().query().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}
