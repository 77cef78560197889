//! HPACK for the raw client: the codec and its caps live in the sans-I/O `ssekit-wire` crate
//! (re-exported here so `h2raw::hpack::*` paths keep working); this module adds the request's
//! fields, which need the runner's [`Request`].

use http::Uri;
pub use ssekit_wire::h2::hpack::*;

use crate::probe::{self, Request};

/// The request's fields: pseudo-headers first (RFC 9113 §8.3.1), then the request's headers.
pub fn request_fields(req: &Request) -> Vec<Field> {
    let uri: &Uri = &req.uri;
    let authority = uri.authority().map_or("", |a| a.as_str());
    let mut fields = vec![
        Field::new(":method", req.method.as_str()),
        Field::new(":scheme", uri.scheme_str().unwrap_or("http")),
        Field::new(":authority", authority),
        Field::new(":path", probe::path_and_query(uri)),
    ];
    fields.extend(req.headers.iter().map(|(name, value)| Field {
        name: name.as_str().as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_round_trips() {
        let uri = "https://example.org:8443/stream?topic=a".parse().unwrap();
        let req = Request::sse(uri, &http::HeaderMap::new());
        let fields = request_fields(&req);
        assert_eq!(fields[1], Field::new(":scheme", "https"));
        assert_eq!(fields[2], Field::new(":authority", "example.org:8443"));
        assert_eq!(fields[3], Field::new(":path", "/stream?topic=a"));
        assert!(fields.contains(&Field::new("accept", "text/event-stream")));
        assert_eq!(decode(&mut decoder(), &encode(&fields)).unwrap(), fields);
    }
}
