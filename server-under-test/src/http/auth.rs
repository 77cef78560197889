//! Tokens: a bearer token for publishers, and for subscribers a bearer token or the
//! `ssekit_token` cookie (a browser's EventSource cannot set headers).

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::{text, ResponseBody};

/// The cookie a browser subscriber can carry its token in.
pub(crate) const COOKIE_NAME: &str = "ssekit_token";

/// Where a token may be presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// `Authorization: Bearer` only (publishers are programs).
    Bearer,
    /// The header or the `ssekit_token` cookie (subscribers may be browsers).
    BearerOrCookie,
}

/// Whether the request carries `expected` where `carrier` allows.
pub(crate) fn presents(headers: &HeaderMap, expected: &str, carrier: Carrier) -> bool {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .any(|t| same(t.trim(), expected));
    if bearer || carrier == Carrier::Bearer {
        return bearer;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(k, v)| k == COOKIE_NAME && same(v, expected))
}

/// Compares without stopping at the first difference, so timing does not leak the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// 401: clients (EventSource included) stop instead of looping.
pub(crate) fn unauthorized() -> Response<ResponseBody> {
    let mut res = text(
        StatusCode::UNAUTHORIZED,
        "a valid token is required (Authorization: Bearer TOKEN)\n",
    );
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}
