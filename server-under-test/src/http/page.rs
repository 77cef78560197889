//! `GET /`: a live page for people (event log, connection state, reconnect counter, last id)
//! whose EventSource reads `/stream`; programs that do not ask for HTML get the plain-text
//! list of endpoints.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::{full, text, ResponseBody};

/// The page (static: it learns everything from the stream).
const PAGE: &str = include_str!("../../assets/index.html");

/// The page for browsers (`Accept: text/html`), else `plain`.
pub(crate) fn index(req: &Request<Incoming>, plain: &'static str) -> Response<ResponseBody> {
    let wants_html = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("text/html")));
    if !wants_html {
        return text(StatusCode::OK, plain);
    }
    let mut res = full(StatusCode::OK, PAGE);
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Only its own inline script and same-origin requests.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ),
    );
    res
}
