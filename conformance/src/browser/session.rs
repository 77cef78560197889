//! What one browser session observed ([`Observation`]; [`super::drive`] runs it): the probe page opens an EventSource on the proxied stream (and one on
//! the proxied "gone" URL), the runner publishes, ends the stream at an event boundary, waits
//! for the reconnect, and records everything the page and the proxy saw. Then the page opens one
//! EventSource straight at the target (cross-origin), which the runner's own CORS reading
//! predicts. Every wait is bounded.

use serde::{Deserialize, Serialize};

use super::proxy::{Exchange, Route};
use super::verdicts::Prediction;

/// Chromium's reconnection delay when the stream never sent a valid `retry`.
pub const DEFAULT_RETRY_MS: u64 = 3000;
/// Longest `retry` the session waits out; longer ones are reported, not waited for.
pub const MAX_RETRY_WAIT_MS: u64 = 15_000;

/// One thing the page recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageEntry {
    /// Which EventSource (`main`, `gone` or `cross`).
    pub src: String,
    /// `open`, `error` or `event`.
    pub kind: String,
    /// `performance.now()` in ms.
    pub t: f64,
    /// `readyState` at `open`/`error`: 0 CONNECTING, 1 OPEN, 2 CLOSED.
    #[serde(default)]
    pub ready_state: Option<u8>,
    /// Event type.
    #[serde(rename = "type", default)]
    pub event_type: Option<String>,
    /// Event data.
    #[serde(default)]
    pub data: Option<String>,
    /// The event's `lastEventId`.
    #[serde(default)]
    pub last_event_id: Option<String>,
}

/// Everything one session saw.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    /// The browser's product and version.
    pub chromium: String,
    /// The probe page (served by the runner; the stream is proxied on the same origin).
    pub page_url: String,
    /// Whether the EventSources were created with `withCredentials: true`.
    pub with_credentials: bool,
    /// Event types the page listened to (besides `message`).
    pub listened_types: Vec<String>,
    /// What the page recorded, in order.
    pub page: Vec<PageEntry>,
    /// Every request the browser made through the proxy.
    pub requests: Vec<Exchange>,
    /// Data of the events the runner published, in order.
    pub published: Vec<String>,
    /// Whether the runner could publish.
    pub publisher: bool,
    /// Steps that could not be done, and why.
    pub notes: Vec<String>,
    /// The cross-origin step (after the rest, so its timing disturbs nothing).
    pub cross_origin: Option<CrossOrigin>,
}

/// The page opening the target's stream URL directly (a cross-origin request), and what the
/// runner predicted from its own request with the page's `Origin`.
#[derive(Debug, Clone, Serialize)]
pub struct CrossOrigin {
    /// The page's origin, which the browser sends as `Origin`.
    pub origin: String,
    /// The stream URL the page opened, not through the proxy.
    pub url: String,
    /// What the page recorded for this EventSource (`cross`): its first `open` or `error`.
    pub page: Vec<PageEntry>,
    /// How long the page was given to open or fail.
    pub waited_ms: u64,
    /// What the runner's own request got.
    pub runner: CorsAnswer,
    /// What the runner's CORS reading says the browser does.
    pub prediction: Prediction,
    /// Whether the user's `--header`s were left out of both requests (a page cannot send them).
    pub headers_left_out: bool,
}

/// The parts of the runner's answer that the CORS reading uses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CorsAnswer {
    /// Status.
    pub status: Option<u16>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Access-Control-Allow-Origin`.
    pub allow_origin: Option<String>,
    /// `Access-Control-Allow-Credentials`.
    pub allow_credentials: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
}

impl Observation {
    /// The page's entries for one EventSource.
    pub fn of<'a>(&'a self, src: &'a str) -> impl Iterator<Item = &'a PageEntry> + 'a {
        self.page.iter().filter(move |e| e.src == src)
    }

    /// The proxied requests for one route.
    pub fn requests_to(&self, route: Route) -> Vec<&Exchange> {
        self.requests.iter().filter(|x| x.route == route).collect()
    }
}
