//! CORS per the Fetch standard, for the configured origins only.
//!
//! An exact configured origin is echoed with `Access-Control-Allow-Credentials: true` (so
//! `new EventSource(url, {withCredentials: true})` works); `*` allows any origin but never
//! together with credentials, which browsers reject. `Vary: Origin` is always sent when CORS is
//! configured, so caches never serve one origin's answer to another.

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::{empty, ResponseBody};

/// The configured origins.
pub(crate) struct Cors {
    origins: Vec<String>,
}

enum Grant {
    Origin(HeaderValue),
    Any,
}

impl Cors {
    pub fn new(origins: &[String]) -> Self {
        Cors {
            origins: origins.to_vec(),
        }
    }

    fn grant(&self, req_headers: &HeaderMap) -> Option<Grant> {
        let origin = req_headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        if self.origins.iter().any(|o| o == text) {
            return Some(Grant::Origin(origin.clone()));
        }
        self.origins.iter().any(|o| o == "*").then_some(Grant::Any)
    }

    /// Adds the CORS response headers that this request earns.
    pub fn apply<B>(
        &self,
        req: &Request<B>,
        mut res: Response<ResponseBody>,
    ) -> Response<ResponseBody> {
        self.decorate(req.headers(), res.headers_mut());
        res
    }

    /// Adds CORS headers given the request's headers.
    pub fn decorate(&self, req_headers: &HeaderMap, out: &mut HeaderMap) {
        if self.origins.is_empty() {
            return;
        }
        out.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(grant) = self.grant(req_headers) else {
            return;
        };
        match grant {
            Grant::Origin(origin) => {
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            Grant::Any => {
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
        }
        out.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("SSE-Resume"),
        );
    }

    /// Answers `OPTIONS`: a CORS preflight when it is one, otherwise the allowed methods.
    pub fn options(&self, req: &Request<Incoming>, allow: &'static str) -> Response<ResponseBody> {
        let mut res = empty(StatusCode::NO_CONTENT);
        let h = res.headers_mut();
        h.insert(header::ALLOW, HeaderValue::from_static(allow));
        let preflight = req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        self.decorate(req.headers(), h);
        if preflight && h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(allow),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Last-Event-ID, Authorization, Content-Type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        res
    }
}
